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

"""Calibration: ECE and reliability measured; temperature and emission weight fitted and run."""

import json

import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from ser_ros.core.bundle import BundleError, Calibration, calibration_text, load_bundle, \
    save_bundle, UNCALIBRATED
from ser_ros.core.hmm import observations, OnlineHMMFilter
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.tools.scoring import calibration_of, plot_timeline, score_stream
from ser_ros.tools.streams import Segment
from ser_ros.training.calibration import calibration_summary, expected_calibration_error, \
    fit_temperature, plot_reliability, reliability
from synthetic import speech_like, tiny_bundle


def test_ece_on_a_hand_made_case():
    # Bin 0.9-1.0: 4 estimates at 0.95, half right (gap 0.45); bin 0.5-0.6: 2 at 0.55, both
    # right (gap 0.45); bin 0.2-0.3: 2 at 0.25, one right (gap 0.25).
    confidences = np.array([0.95] * 4 + [0.55] * 2 + [0.25] * 2)
    correct = np.array([1, 1, 0, 0, 1, 1, 1, 0], bool)
    rows = reliability(confidences, correct)
    assert [(row['count'], row['accuracy']) for row in rows] == [(2, 0.5), (2, 1.0), (4, 0.5)]
    assert expected_calibration_error(confidences, correct) == pytest.approx(
        (4 * 0.45 + 2 * 0.45 + 2 * 0.25) / 8)


def test_a_calibrated_source_has_a_small_ece_and_an_overconfident_one_a_large_one():
    generator = np.random.default_rng(0)
    confidences = generator.uniform(0.2, 1.0, 20000)
    calibrated = generator.random(20000) < confidences
    assert expected_calibration_error(confidences, calibrated) < 0.02
    overconfident = generator.random(20000) < confidences - 0.2
    assert expected_calibration_error(confidences, overconfident) == pytest.approx(0.2, abs=0.02)
    assert np.isnan(expected_calibration_error(np.zeros(0), np.zeros(0, bool)))


def test_streams_are_calibrated_on_the_estimates_inside_utterances(tmp_path):
    segments = [Segment(0.0, 2.0, 'angry'), Segment(3.0, 5.0, 'sad')]
    published = [(0.5, 'angry', 0.9), (1.0, 'sad', 0.9), (2.5, 'sad', 0.99),
                 (4.0, 'sad', 0.6), (4.5, 'sad', 0.7)]
    summary = calibration_of(published, segments)
    assert summary['count'] == 4 and summary['accuracy'] == 0.75
    score = score_stream(published, segments)
    assert score['ece'] == pytest.approx(summary['ece'])
    assert score['mean_confidence'] == pytest.approx((0.9 + 0.9 + 0.6 + 0.7) / 4)
    plot_timeline(segments, [('smoothed', published), ('raw', published[:3])],
                  str(tmp_path / 'timeline.png'), 'test')
    plot_reliability([('smoothed', summary),
                      ('raw', calibration_summary(np.array([0.9]), np.array([True])))],
                     str(tmp_path / 'reliability.png'), 'test')
    assert (tmp_path / 'timeline.png').stat().st_size > 5000
    assert (tmp_path / 'reliability.png').stat().st_size > 5000


def test_the_fitted_temperature_recovers_the_one_that_made_the_labels():
    generator = np.random.default_rng(1)
    logits = generator.normal(0.0, 3.0, (20000, 5))
    true_temperature = 2.5
    probabilities = softmax(logits / true_temperature, axis=1)
    labels = np.array([generator.choice(5, p=row) for row in probabilities])
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)
    # The same with log-posteriors instead of logits (a shift per row changes nothing).
    assert fit_temperature(log_softmax(logits, axis=1), labels) == pytest.approx(
        true_temperature, rel=0.05)


def test_a_bundle_without_calibration_loads_uncalibrated_and_says_so(tmp_path):
    bundle = tiny_bundle()
    assert not bundle.calibrated and bundle.calibration_in_use == UNCALIBRATED
    assert 'uncalibrated' in calibration_text(bundle)
    loaded = load_bundle(save_bundle(bundle, tmp_path / 'old'))
    assert 'calibration' not in json.loads((tmp_path / 'old' / 'manifest.json').read_text())
    assert not loaded.calibrated and loaded.calibration_in_use == Calibration(1.0, 1.0, 1.0)
    # A bundle calibrated before the smoothed temperature existed publishes the belief as is.
    manifest = json.loads((tmp_path / 'old' / 'manifest.json').read_text())
    manifest['calibration'] = {'temperature': 2.0, 'emission_weight': 0.5}
    (tmp_path / 'old' / 'manifest.json').write_text(json.dumps(manifest))
    assert load_bundle(tmp_path / 'old').calibration == Calibration(2.0, 0.5, 1.0)


def test_calibration_round_trips_and_is_validated(tmp_path):
    bundle = tiny_bundle()
    bundle.calibration = Calibration(temperature=2.0, emission_weight=0.25,
                                     smoothed_temperature=3.0)
    loaded = load_bundle(save_bundle(bundle, tmp_path / 'new'))
    assert loaded.calibration == Calibration(2.0, 0.25, 3.0)
    assert 'temperature 2.00' in calibration_text(loaded)
    assert 'smoothed temperature 3.00' in calibration_text(loaded)
    manifest_path = tmp_path / 'new' / 'manifest.json'
    for bad in ({'temperature': float('nan'), 'emission_weight': 1.0},
                {'temperature': 1e9, 'emission_weight': 1.0},
                {'temperature': 1.0, 'emission_weight': 0.0},
                {'temperature': 1.0, 'emission_weight': 1.5},
                {'temperature': 1.0, 'emission_weight': 1.0, 'smoothed_temperature': 0.0},
                {'temperature': 1.0, 'emission_weight': 1.0, 'smoothed_temperature': 'inf'},
                {'temperature': 1.0, 'emission_weight': 0.5, 'bias': 0.1}):
        manifest = json.loads(manifest_path.read_text())
        manifest['calibration'] = bad
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match='calibration'):
            load_bundle(tmp_path / 'new')


def test_the_recogniser_applies_temperatures_and_emission_weight():
    audio = speech_like(4.0)
    plain = tiny_bundle()
    calibrated = tiny_bundle()
    calibrated.calibration = Calibration(temperature=3.0, emission_weight=0.5,
                                         smoothed_temperature=2.0)
    before = StreamingRecognizer(plain, adapt_normalisation=False).push(audio, 0.0)
    after = StreamingRecognizer(calibrated, adapt_normalisation=False).push(audio, 0.0)
    speech = [(b, a) for b, a in zip(before, after) if b.is_speech]
    assert speech
    for old, new in speech:
        # softmax(z / 3) is softmax(log softmax(z) / 3).
        np.testing.assert_allclose(new.raw_probabilities,
                                   softmax(np.log(old.raw_probabilities) / 3.0), rtol=1e-6)
    reference = OnlineHMMFilter(plain.hmm.with_dwell(plain.streaming.dwell_s,
                                                     plain.streaming.hop_s), 0.5)
    for old, new in zip(before, after):
        if not old.is_speech:
            reference.predict()
            continue
        belief = reference.update(observations(np.log(old.raw_probabilities)))
        # The belief is published at the smoothed temperature; its arg-max is the label.
        published = softmax(np.log(belief) / 2.0)
        np.testing.assert_allclose(new.probabilities, published, rtol=1e-6)
        assert new.label == calibrated.labels[int(np.argmax(belief))]
        assert new.confidence == pytest.approx(published.max())
