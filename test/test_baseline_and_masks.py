# Copyright 2026 The ser_ros authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The generalisation levers and the benchmark's parts: masks, restricted predictions, SVM."""

from dataclasses import replace

import numpy as np
import pytest
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.training.baseline import coefficient_statistics, group_standardised, SvmBaseline
from ser_ros.training.config import OptimiserSettings
from ser_ros.training.dataset import LabelledAudio
from ser_ros.training.evaluation import predictions_among, window_unweighted_accuracy
from ser_ros.training.train import corpus_label_mask, learning_rate_schedule
from synthetic import RATE_HZ, speech_like
import torch

LABELS = ['neutral', 'happy', 'sad', 'angry']
PITCH_HZ = {0: 120.0, 1: 220.0, 2: 90.0, 3: 300.0}


def dataset(labels_per_corpus, per_label=3):
    signals, indices, speakers, corpora = [], [], [], []
    for corpus, labels in labels_per_corpus.items():
        for label in labels:
            for take in range(per_label):
                signals.append(speech_like(1.0, pitch_hz=PITCH_HZ[label] + 3 * take,
                                           seed=take))
                indices.append(label)
                speakers.append(f'{corpus}:{take}')
                corpora.append(corpus)
    return LabelledAudio(signals, np.array(indices), speakers, corpora,
                         [f'{i}.wav' for i in range(len(signals))], list(speakers), LABELS)


def test_the_label_mask_holds_each_corpus_own_labels():
    mask = corpus_label_mask(dataset({'a': [0, 1, 2, 3], 'b': [0, 2]}, per_label=1))
    assert mask.shape == (6, 4)
    assert mask[:4].all() and (mask[4:] == [True, False, True, False]).all()


def test_predictions_are_restricted_to_the_allowed_labels_and_silence_is_a_miss():
    probabilities = np.array([[0.1, 0.6, 0.3, 0.0], [0.2, 0.1, 0.3, 0.4], [0, 0, 0, 0]])
    assert predictions_among(probabilities).tolist() == [1, 3, -1]
    assert predictions_among(probabilities, [0, 2]).tolist() == [2, 2, -1]


def test_windows_are_scored_alone_against_their_recording_label():
    truth = np.array([0, 1, 2])
    windows = np.array([[0.9, 0.1, 0.0, 0.0], [0.2, 0.7, 0.1, 0.0], [0.0, 0.6, 0.4, 0.0],
                        [0.1, 0.0, 0.8, 0.1], [0.0, 0.0, 0.4, 0.6]])
    window_utterances = np.array([0, 0, 1, 2, 2])
    # Recall per label: neutral 1/2, happy 1/1, sad 1/2 (the last window is a miss).
    assert window_unweighted_accuracy(truth, windows, window_utterances, LABELS) == \
        pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # Among labels 0 and 2 only: neutral 2/2, happy 0/1 (its window says sad), sad 2/2.
    assert window_unweighted_accuracy(truth, windows, window_utterances, LABELS, [0, 2]) == \
        pytest.approx((1.0 + 0.0 + 1.0) / 3)


def test_coefficient_statistics_are_means_stds_and_the_spread_of_deltas():
    ramp = np.arange(20, dtype=float)
    coefficients = np.stack([np.full(20, 3.0), ramp, ramp ** 2])   # (3 coefficients, 20 frames)
    statistics = coefficient_statistics(coefficients)
    assert statistics.shape == (9,)
    np.testing.assert_allclose(statistics[:3], [3.0, ramp.mean(), (ramp ** 2).mean()])
    np.testing.assert_allclose(statistics[3:6], [0.0, ramp.std(), (ramp ** 2).std()],
                               atol=1e-12)
    # A constant and a ramp change at a steady rate (their deltas do not spread); a parabola's
    # rate grows with time.
    np.testing.assert_allclose(statistics[6:8], 0.0, atol=1e-9)
    assert statistics[8] > 1.0


def test_group_standardisation_centres_each_group():
    features = np.array([[1.0, 5.0], [3.0, 7.0], [10.0, 0.0], [20.0, 2.0]])
    standardised = group_standardised(features, ['a', 'a', 'b', 'b'])
    np.testing.assert_allclose(standardised, [[-1, -1], [1, 1], [-1, -1], [1, 1]], atol=1e-6)


def test_the_svm_baseline_learns_pitch_and_never_predicts_an_unseen_label():
    train = dataset({'a': [0, 1, 3]}, per_label=4)
    baseline = SvmBaseline(RATE_HZ)
    features = baseline.features(train)
    assert features.shape == (12, 120)
    baseline.fit(features, train.label_indices)
    scores = baseline.scores(features, len(LABELS))
    assert scores.shape == (12, 4) and np.all(np.isneginf(scores[:, 2]))
    assert np.mean(predictions_among(scores) == train.label_indices) > 0.8
    # Scored as the benchmarks score: among the labels of the utterances given.
    assert baseline.unweighted_accuracy(features, train.label_indices, LABELS) == \
        pytest.approx(np.mean([np.mean(predictions_among(scores, [0, 1, 3])[
            train.label_indices == label] == label) for label in (0, 1, 3)]))


def test_without_frame_norm_the_level_of_a_frame_reaches_the_network():
    config = ModelConfig(n_features=6, n_labels=3, hidden_size=8, num_layers=1, dropout=0.0)
    frames = torch.randn(1, 30, 6)
    louder = frames + 1.0  # every feature one standard deviation up, as a louder frame is
    normed = BiLSTMClassifier(config).eval()
    assert torch.allclose(normed(frames), normed(louder), atol=1e-4)
    plain = BiLSTMClassifier(replace(config, frame_norm=False)).eval()
    assert not torch.allclose(plain(frames), plain(louder), atol=1e-4)
    assert not any(name.startswith('input_norm') for name in plain.state_dict())
    # Bundles written before the option existed rebuild with the layer norm.
    assert ModelConfig.from_dict({key: value for key, value in config.to_dict().items()
                                  if key != 'frame_norm'}).frame_norm


@pytest.mark.parametrize('schedule', ['constant', 'one_cycle'])
def test_both_schedules_train_and_one_cycle_ends_near_zero(schedule):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    settings = OptimiserSettings(epochs=4, learning_rate=0.01, schedule=schedule)
    scheduler = learning_rate_schedule(optimizer, settings, steps_per_epoch=5)
    rates = []
    for _ in range(20):  # the rate each batch of the 4 x 5 trains with
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if schedule == 'constant':
        assert scheduler is None and rates[-1] == 0.01
    else:
        assert max(rates) == pytest.approx(0.01, rel=0.01) and rates[-1] < 1e-3 * 0.01
