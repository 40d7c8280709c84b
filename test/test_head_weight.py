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

"""The encoder head's weight chosen on the validation speakers."""

import numpy as np
from ser_ros.core.bundle import load_bundle
from ser_ros.core.recognizer import predict_utterance, StreamingRecognizer
from ser_ros.training import head_weight, train
from ser_ros.training.dataset import load_labelled_audio
from ser_ros.training.evaluation import CONDITIONS, predictions_among, scores, \
    utterance_probabilities
from test_encoder_head import tiny_encoder_file  # noqa: F401 (a fixture)
from test_teacher import speech_like
from test_training import tiny_training

ENCODER = ['model.encoder_head=0.5', 'features.encoder_layers=1', 'features.encoder_hop_s=1.0']


def test_every_weight_scores_as_the_model_streamed_at_that_weight(
        tmp_path, repo_root, tiny_encoder_file):  # noqa: F811
    _, bundle = tiny_training(tmp_path, repo_root, *ENCODER, f'output={tmp_path / "model"}')
    data = load_labelled_audio(bundle.metadata['corpora'], bundle.labels, {}, 16000,
                               progress=False)
    model = bundle.build_model()
    totals = head_weight.weight_scores(bundle, model, data)
    assert sorted(totals) == list(head_weight.WEIGHTS)
    for weight in (0.0, 0.3, 0.7):
        direct = np.mean([scores(data.label_indices, predictions_among(utterance_probabilities(
            bundle, data, condition, head_weight.with_head_weight(model, weight),
            progress=False)), bundle.labels)['unweighted_accuracy']
            for condition in CONDITIONS])
        assert np.isclose(totals[weight], direct)
    assert head_weight.chosen_weight({0.0: 0.5, 0.1: 0.7, 0.2: 0.7, 0.3: 0.6}) == 0.1


def test_training_lets_the_validation_speakers_choose_and_may_drop_the_encoder(
        tmp_path, repo_root, tiny_encoder_file, monkeypatch):  # noqa: F811
    _, chosen = tiny_training(tmp_path, repo_root, *ENCODER, 'training.choose_encoder_head=true',
                              f'output={tmp_path / "chosen"}')
    recorded = chosen.metadata['encoder_head_scores']
    assert [float(key) for key in recorded] == list(head_weight.WEIGHTS)
    best = head_weight.chosen_weight({float(key): value for key, value in recorded.items()})
    assert chosen.model_config.encoder_head == best
    assert 'scored on the validation speakers' in \
        (tmp_path / 'chosen' / 'report' / 'report.md').read_text()

    # Validation speakers better without the head: the bundle loses it and its encoder.
    monkeypatch.setattr(train, 'weight_scores', lambda bundle, model, data: {
        weight: 1.0 - weight for weight in head_weight.WEIGHTS})
    tiny_training(tmp_path, repo_root, *ENCODER, 'training.choose_encoder_head=true',
                  f'output={tmp_path / "dropped"}')
    dropped = load_bundle(tmp_path / 'dropped')
    assert dropped.model_config.encoder_head == 0 and dropped.feature_config.encoder_layers == 0
    assert dropped.encoder_norm is None
    recognizer = StreamingRecognizer(dropped)
    assert recognizer.encoder is None
    assert predict_utterance(recognizer, speech_like(2.0)).speech_windows >= 2
