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
Property-based fuzzing of every input path: anything either works or fails with a typed error.

Bad input must never crash, hang, or put NaN into an estimate.
"""

import os
import pickle

from hypothesis import given, HealthCheck, settings, strategies as st
import numpy as np
import pytest
from ser_ros.core.audio import AudioFormat, AudioFormatError, decode_pcm, encode_pcm, Mp3Encoder, \
    SAMPLE_FORMATS, StreamDecoder
from ser_ros.core.bundle import BundleError, load_bundle, MANIFEST_FILE, save_bundle, sha256_of, \
    WEIGHTS_FILE
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.ros.parameters import check_parameter, PARAMETERS
from synthetic import speech_like, tiny_bundle

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BUNDLE = tiny_bundle(window_s=1.0, hop_s=0.25)


@FUZZ
@given(sample_format=st.sampled_from(sorted(SAMPLE_FORMATS)), channels=st.integers(1, 4),
       rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
       payloads=st.lists(st.binary(max_size=5000), max_size=6))
def test_random_pcm_bytes_decode_or_raise_a_typed_error(sample_format, channels, rate, payloads):
    decoder = StreamDecoder(AudioFormat(channels, rate, sample_format, 'wave'), 16000)
    for payload in payloads:
        try:
            samples = decoder.decode(payload)
        except AudioFormatError:
            assert len(payload) % decoder.audio_format.bytes_per_frame
            continue
        assert samples.dtype == np.float32 and samples.ndim == 1
        assert np.all(np.isfinite(samples)) and np.all(np.abs(samples) <= 1.0 + 1e-6)


@FUZZ
@given(values=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, 1e30, -1e-30,
                                        0.5]), min_size=1, max_size=400),
       sample_format=st.sampled_from(['F32LE', 'F32BE', 'F64LE', 'F64BE']))
def test_non_finite_and_huge_floats_become_bounded_samples(values, sample_format):
    audio_format = AudioFormat(sample_format=sample_format)
    dtype = SAMPLE_FORMATS[sample_format][0]
    samples = decode_pcm(np.array(values, dtype).tobytes(), audio_format)
    assert np.all(np.isfinite(samples)) and np.all(np.abs(samples) <= 1.0)


MP3 = Mp3Encoder(16000).encode(speech_like(1.0)) + Mp3Encoder(16000).flush()


@FUZZ
@given(cuts=st.lists(st.integers(0, len(MP3)), max_size=8), garbage=st.binary(max_size=600),
       garbage_at=st.integers(0, len(MP3)), drop=st.integers(0, 300))
def test_damaged_mp3_streams_never_crash_or_give_nan(cuts, garbage, garbage_at, drop):
    damaged = MP3[:garbage_at] + garbage + MP3[garbage_at + drop:]
    decoder = StreamDecoder(AudioFormat(coding_format='mp3'), 16000)
    bounds = sorted({0, len(damaged), *[min(cut, len(damaged)) for cut in cuts]})
    for start, end in zip(bounds, bounds[1:]):
        samples = decoder.decode(damaged[start:end])
        assert samples.dtype == np.float32 and np.all(np.isfinite(samples))


@FUZZ
@given(channels=st.integers(-5, 300), rate=st.integers(-10, 10_000_000),
       sample_format=st.one_of(st.sampled_from(sorted(SAMPLE_FORMATS)), st.text(max_size=8)),
       coding=st.one_of(st.sampled_from(['wave', 'mp3', '', 'raw', 'MP3']), st.text(max_size=8)))
def test_any_audio_info_gives_a_decoder_or_a_typed_error(channels, rate, sample_format, coding):
    try:
        decoder = StreamDecoder(AudioFormat(channels, rate, sample_format, coding), 16000)
    except AudioFormatError as error:
        assert str(error)
        return
    payload = encode_pcm(np.zeros((10, max(channels, 1))), decoder.audio_format) \
        if decoder.audio_format.coding == 'pcm' else b''
    assert np.all(np.isfinite(decoder.decode(payload)))


@FUZZ
@given(sizes=st.lists(st.integers(1, 40000), min_size=1, max_size=12),
       kind=st.sampled_from(['speech', 'zeros', 'clipped', 'noise']))
def test_any_chunking_of_any_signal_gives_valid_estimates(sizes, kind):
    length = 16000 * 3
    signal = {'speech': speech_like(3.0), 'zeros': np.zeros(length, np.float32),
              'clipped': np.sign(speech_like(3.0)).astype(np.float32),
              'noise': np.random.default_rng(0).uniform(-1, 1, length).astype(np.float32)}[kind]
    recognizer = StreamingRecognizer(BUNDLE)
    estimates, position, index = [], 0, 0
    while position < length:
        size = sizes[index % len(sizes)]
        estimates += recognizer.push(signal[position:position + size])
        position, index = position + size, index + 1
    assert len(estimates) == 1 + (3.0 - 1.0) / 0.25
    for estimate in estimates:
        assert np.all(np.isfinite(estimate.probabilities))
        assert estimate.probabilities.sum() == pytest.approx(1.0)
        assert estimate.raw_probabilities is None or np.all(np.isfinite(
            estimate.raw_probabilities))


def test_minutes_in_one_chunk_stay_bounded():
    recognizer = StreamingRecognizer(BUNDLE, hop_s=1.0)
    estimates = recognizer.push(np.tile(speech_like(1.0), 180))
    assert len(estimates) == 180 and len(recognizer._cepstra) == recognizer.window_frames


class _Trap:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_loading_never_unpickles_what_is_in_the_weights_file(tmp_path):
    folder = save_bundle(BUNDLE, str(tmp_path / 'model'))
    marker = tmp_path / 'code_ran'
    weights = os.path.join(folder, WEIGHTS_FILE)
    with open(weights, 'wb') as stream:
        pickle.dump(_Trap(str(marker)), stream)
    manifest = os.path.join(folder, MANIFEST_FILE)
    text = open(manifest).read()
    import json
    data = json.loads(text)
    data['weights']['sha256'] = sha256_of(weights)
    open(manifest, 'w').write(json.dumps(data))
    with pytest.raises(BundleError, match='safetensors'):
        load_bundle(folder)
    assert not marker.exists()


@pytest.mark.parametrize('name, value', [
    ('audio_qos_reliability', 'sometimes'), ('audio_qos_depth', 0), ('channels', 0),
    ('sample_rate', 12), ('sample_format', 'S20LE'), ('coding_format', 'opus'),
    ('window_s', -1.0), ('hop_s', -0.5), ('norm_horizon_s', -3.0), ('torch_threads', 0),
    ('diagnostics_period_s', 0.0), ('max_queue_s', 0.0), ('max_chunk_s', -1.0),
    ('warn_rtf', 0.0), ('audio_topic', ''), ('audio_info_topic', 'has space'),
    ('dwell_s', float('inf')), ('dwell_s', float('nan')), ('dwell_s', 1e308),
    ('max_queue_s', float('inf')), ('max_queue_s', 1e308), ('window_s', 1e6),
    ('max_chunk_s', float('nan')), ('warn_rtf', float('inf')), ('audio_qos_depth', 10 ** 9),
    ('vad', 'webrtc'), ('speaker_topic', 'has space')])
def test_invalid_parameter_values_are_refused_with_a_reason(name, value):
    assert name in check_parameter(name, value, configured=False)


def test_fixed_parameters_are_locked_once_configured_and_live_ones_are_not():
    for spec in PARAMETERS:
        problem = check_parameter(spec.name, spec.default, configured=True)
        assert (problem is not None) == spec.fixed, spec.name
