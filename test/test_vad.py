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

"""The voice-activity gates: the Silero network knows noise from speech; energy is the fallback."""

import glob
import json
import os

import numpy as np
import pytest
from ser_ros.core.audio import load_audio
from ser_ros.core.bundle import BundleError, load_bundle, save_bundle
from ser_ros.core.features import FeatureConfig, FrameFeaturizer
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.core.vad import EnergyVad, make_vad, SileroVad, speech_frames_of, VadConfig
from ser_ros.resources import shared_data_folder
from synthetic import RATE_HZ, speech_like, tiny_bundle

FEATURES = FeatureConfig()
SILERO = VadConfig(kind='silero')


def speech_share(config, signal):
    """Return the share of ``signal``'s frames the gate calls speech (one call)."""
    _, energy_db = FrameFeaturizer(FEATURES).frames(signal)
    return float(np.mean(speech_frames_of(config, FEATURES, signal, energy_db)))


def loud_non_speech():
    """Three seconds each of full-scale white noise, a 440 Hz tone and a DC offset."""
    generator = np.random.default_rng(0)
    time_s = np.arange(3 * RATE_HZ) / RATE_HZ
    return {'white noise': generator.uniform(-1, 1, len(time_s)).astype(np.float32),
            '440 Hz tone': (0.5 * np.sin(2 * np.pi * 440 * time_s)).astype(np.float32),
            'DC offset': np.full(len(time_s), 0.5, np.float32)}


@pytest.mark.parametrize('name', ['white noise', '440 Hz tone', 'DC offset'])
def test_loud_noise_tones_and_offsets_are_not_speech_to_the_network(name):
    signal = loud_non_speech()[name]
    assert speech_share(SILERO, signal) < 0.05
    # The energy gate, the fallback, is fooled: it only knows loud from quiet.
    assert speech_share(VadConfig(kind='energy'), signal) > 0.9


def test_voiced_speech_like_sound_is_speech_to_the_network():
    signal = np.concatenate([np.zeros(RATE_HZ, np.float32), speech_like(3.0)])
    _, energy_db = FrameFeaturizer(FEATURES).frames(signal)
    decisions = speech_frames_of(SILERO, FEATURES, signal, energy_db)
    assert decisions[:90].mean() < 0.05 and decisions[120:].mean() > 0.8


def test_decisions_do_not_depend_on_how_the_stream_is_cut_or_when_they_are_asked():
    signal = np.concatenate([speech_like(2.0), loud_non_speech()['white noise'][:RATE_HZ],
                             speech_like(1.5, seed=3)])
    _, energy_db = FrameFeaturizer(FEATURES).frames(signal)
    whole = speech_frames_of(SILERO, FEATURES, signal, energy_db)
    assert 0.2 < whole.mean() < 0.9
    for sizes, ask_every in (([160], 1), ([511, 513, 1], 3), ([4000, 37], 2)):
        vad = make_vad(SILERO, FEATURES)
        decisions, start, index = [], 0, 0
        while start < len(signal):
            end = min(len(signal), start + sizes[index % len(sizes)])
            vad.add_samples(signal[start:end])
            start, index = end, index + 1
            if index % ask_every == 0 or end == len(signal):
                done = sum(len(part) for part in decisions)
                decisions.append(vad.speech_frames(energy_db[done:FEATURES.frames_in(end)]))
        np.testing.assert_array_equal(np.concatenate(decisions), whole)


def test_the_recogniser_runs_the_gate_of_its_bundle_and_old_bundles_keep_energy(tmp_path):
    bundle = tiny_bundle()
    assert isinstance(StreamingRecognizer(bundle).vad, EnergyVad)
    path = save_bundle(bundle, str(tmp_path / 'old'))
    manifest = json.loads(open(os.path.join(path, 'manifest.json')).read())
    del manifest['vad']['kind'], manifest['vad']['speech_threshold']  # as before the gate
    with open(os.path.join(path, 'manifest.json'), 'w') as stream:
        json.dump(manifest, stream)
    assert load_bundle(path).vad.kind == 'energy'
    bundle.vad = SILERO
    recognizer = StreamingRecognizer(bundle)
    assert isinstance(recognizer.vad, SileroVad)
    estimates = recognizer.push(loud_non_speech()['white noise'], 0.0)
    assert estimates and not any(estimate.is_speech for estimate in estimates)


@pytest.mark.parametrize('field, value', [('kind', 'webrtc'), ('speech_threshold', 1.5),
                                          ('speech_threshold', 0.0)])
def test_a_bundle_with_an_unknown_gate_or_threshold_is_refused(tmp_path, field, value):
    path = save_bundle(tiny_bundle(), str(tmp_path / 'model'))
    manifest = json.loads(open(os.path.join(path, 'manifest.json')).read())
    manifest['vad'][field] = value
    with open(os.path.join(path, 'manifest.json'), 'w') as stream:
        json.dump(manifest, stream)
    with pytest.raises(BundleError, match=f'vad.{field}'):
        load_bundle(path)


@pytest.mark.corpus
def test_corpus_speech_is_speech_to_the_network():
    folder = shared_data_folder()
    files = sorted(glob.glob(os.path.join(folder, 'ravdess', '*', '*.flac'))) if folder else []
    if not files:
        pytest.skip('the shared RAVDESS corpus is not here')
    shares = [speech_share(SILERO, load_audio(path, RATE_HZ)) for path in files[::120]]
    # RAVDESS recordings are about 40 % silence around one sentence.
    assert 0.3 < np.mean(shares) < 0.8 and min(shares) > 0.15
