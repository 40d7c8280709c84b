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

"""Choosing emission weight, dwell and smoothed temperature on validation streams."""

import numpy as np
import pytest
from ser_ros.core.hmm import observations
from ser_ros.tools.streams import Segment
from ser_ros.training.hmm_fit import scaled_likelihood_params
from ser_ros.training.smoothing import ACCURACY_TOLERANCE, choose_smoothing, \
    DELAY_ALLOWANCE_S, filtered_beliefs, fit_calibration, ValidationStream, window_labels
from synthetic import tiny_bundle

HOP_S = 0.5
WINDOW_S = 2.0


def test_a_window_takes_the_label_covering_most_of_it():
    segments = [Segment(0.0, 1.5, 'sad'), Segment(1.7, 4.0, 'angry')]
    labels = ['neutral', 'sad', 'angry']
    times = np.array([1.0, 2.0, 3.0, 7.0])
    # 1.0: only sad; 2.0: sad 1.5 s against angry 0.3 s; 3.0: angry; 7.0: nothing.
    assert window_labels(times, WINDOW_S, segments, labels).tolist() == [1, 1, 2, -1]


def overlapping_stream(generator, labels, offset_s, n_turns=12, strength=1.2):
    """
    Return a stream of turns of one emotion whose window logits repeat over 4 hops.

    Speech throughout from ``offset_s`` on (windows overlapping by 75 %); a new utterance
    starts every 8 windows, its label held 1-3 utterances.
    """
    n_labels = len(labels)
    turn_labels = np.repeat(generator.integers(0, n_labels, n_turns),
                            generator.integers(1, 4, n_turns))
    segments = [Segment(offset_s + index * 4.0, offset_s + index * 4.0 + 4.0, labels[label])
                for index, label in enumerate(turn_labels)]
    n_windows = len(segments) * 8
    times = offset_s + WINDOW_S + HOP_S * np.arange(n_windows)
    truth = window_labels(times, WINDOW_S, segments, labels)
    logits = np.repeat(generator.normal(0.0, 1.0, (n_windows // 4 + 1, n_labels)), 4,
                       axis=0)[:n_windows]
    logits[np.arange(n_windows), truth] += strength
    return ValidationStream(times, np.ones(n_windows, bool), observations(logits * 2.0),
                            truth, segments)


@pytest.fixture(scope='module')
def streams():
    labels = tiny_bundle().labels
    generator = np.random.default_rng(3)
    made, offset_s = [], 0.0
    for _ in range(6):
        made.append(overlapping_stream(generator, labels, offset_s))
        offset_s = made[-1].segments[-1].end_s + 3.0
    return made


def test_the_chosen_smoothing_follows_the_rule(streams):
    labels = tiny_bundle().labels
    params = scaled_likelihood_params(len(labels), 1.0, dwell_s=4.0, hop_s=HOP_S)
    weight, dwell_s, report = choose_smoothing([params] * len(streams), streams, labels, HOP_S,
                                               1.0)
    raw, candidates = report['raw'], report['candidates']
    chosen = next(row for row in candidates
                  if (row['emission_weight'], row['dwell_s']) == (weight, dwell_s))
    best = max(row['accuracy'] for row in candidates)
    eligible = [row for row in candidates
                if row['accuracy'] >= max(raw['accuracy'], best - ACCURACY_TOLERANCE)
                and row['median_delay_s'] <= raw['median_delay_s'] + DELAY_ALLOWANCE_S]
    assert chosen in eligible
    assert chosen['changes_per_minute'] == min(row['changes_per_minute'] for row in eligible)
    # The smoothing does its job here: fewer changes than the raw output, no accuracy lost.
    assert chosen['changes_per_minute'] < 0.8 * raw['changes_per_minute']
    # The rule bound: some candidate changes even less, but is less accurate or slower.
    assert any(row['changes_per_minute'] < chosen['changes_per_minute'] for row in candidates)


def test_the_calibration_fit_makes_the_smoothed_output_honest(streams):
    bundle = tiny_bundle(window_s=WINDOW_S, hop_s=HOP_S)
    bundle.hmm = scaled_likelihood_params(len(bundle.labels), 1.0, dwell_s=4.0, hop_s=HOP_S)
    calibration, dwell_s, report = fit_calibration(bundle, streams)
    assert calibration.emission_weight == report['emission_weight']
    assert dwell_s == report['dwell_s']
    # The logits were made twice as sharp as the labels: the raw temperature finds about 2.
    assert calibration.temperature == pytest.approx(2.0, rel=0.25)
    # Overlapping windows counted as independent evidence make the filter over-confident;
    # the smoothed temperature softens what is published, and the ECE falls.
    assert calibration.smoothed_temperature > 1.0
    assert report['smoothed_ece']['after'] < 0.5 * report['smoothed_ece']['before']
    assert report['smoothed_ece']['after'] < 0.08
    assert report['raw_ece']['after'] < report['raw_ece']['before']


def test_the_filter_moves_on_without_speech():
    labels = tiny_bundle().labels
    params = scaled_likelihood_params(len(labels), 1.0, dwell_s=2.0, hop_s=HOP_S)
    observation = observations(np.array([4.0] + [0.0] * (len(labels) - 1)))
    stream = ValidationStream(np.arange(6.0), np.array([1, 0, 0, 0, 0, 1], bool),
                              np.array([observation] * 6), np.zeros(6, int), [])
    beliefs = filtered_beliefs(params, stream, 1.0)
    assert beliefs.shape == (2, len(labels))
    # Four hops without speech pulled the belief back toward the prior before the 2nd update.
    back_to_back = filtered_beliefs(params, ValidationStream(
        np.arange(2.0), np.ones(2, bool), np.array([observation] * 2), np.zeros(2, int), []),
        1.0)
    assert beliefs[1, 0] < back_to_back[1, 0]
