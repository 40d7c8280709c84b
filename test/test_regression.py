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

"""
The estimates do not change when the code is reorganised: a recorded bag through the core.

``test/fixtures/regression`` holds a small bag (11.5 s of speech-like audio in five turns,
mp3 as audio_capture sends it, stamped and unstamped, mcap), a tiny model bundle, and the
estimates that the core gave on it before the layout change (commit 09b8010). Any change that
moves an estimate is a change of behaviour and must update the fixture on purpose.
"""

import json
import os

import pytest
from ser_ros.core.bundle import load_bundle
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.tools.bags import run_offline

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'regression')
#: Largest difference allowed in a probability. The path computes in float32 (epsilon 1.2e-7),
#: so the machine's BLAS kernels and library releases move the last bits: up to 1.5e-8 between
#: the machine that recorded the fixture and a fresh venv on another CPU (2026-12-03). A change
#: to the code that moves an estimate moves it by far more.
TOLERANCE = 1e-6


@pytest.mark.parametrize('input_kind', ['stamped', 'unstamped'])
def test_the_recorded_bag_gives_the_recorded_estimates(input_kind):
    with open(os.path.join(FIXTURE, 'expected_estimates.json')) as stream:
        expected = json.load(stream)[input_kind]
    recognizer = StreamingRecognizer(load_bundle(os.path.join(FIXTURE, 'tiny_model')))
    estimates = run_offline(os.path.join(FIXTURE, 'stream.bag'), recognizer,
                            stamped=input_kind == 'stamped')
    assert len(estimates) == len(expected) == 39
    assert sum(estimate.is_speech for estimate in estimates) >= 20
    for estimate, recorded in zip(estimates, expected):
        assert estimate.end_time_s == recorded['end_time_s']
        assert estimate.is_speech == recorded['is_speech']
        assert estimate.speech_ratio == recorded['speech_ratio']
        assert estimate.label == recorded['label']
        assert estimate.confidence == pytest.approx(recorded['confidence'], abs=TOLERANCE)
        assert list(estimate.probabilities) == pytest.approx(recorded['probabilities'],
                                                             abs=TOLERANCE)
        if recorded['raw_probabilities'] is None:
            assert estimate.raw_probabilities is None
        else:
            assert list(estimate.raw_probabilities) == pytest.approx(
                recorded['raw_probabilities'], abs=TOLERANCE)
