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

"""Calibration is measured: ECE and reliability on hand-made cases, in streams and plots."""

import numpy as np
import pytest
from ser_ros.tools.scoring import calibration_of, plot_timeline, score_stream
from ser_ros.tools.streams import Segment
from ser_ros.training.calibration import calibration_summary, expected_calibration_error, \
    plot_reliability, reliability


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
