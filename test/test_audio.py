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

"""Audio conversion: every PCM format, mp3 chunk by chunk, mixdown, continuous resampling."""

import numpy as np
import pytest
from ser_ros.core.audio import AudioFormat, AudioFormatError, decode_pcm, encode_pcm, load_audio, \
    Mp3Encoder, SAMPLE_FORMATS, StreamDecoder
import soundfile
import soxr
from synthetic import chirp, noise, RATE_HZ, silence, tone

#: Largest quantisation error of each format's sample size, with some room.
TOLERANCE = {1: 1 / 100, 2: 1 / 30000, 3: 1e-6, 4: 1e-6, 8: 1e-7}


@pytest.mark.parametrize('sample_format', sorted(SAMPLE_FORMATS))
@pytest.mark.parametrize('channels', [1, 2])
def test_every_pcm_format_round_trips(sample_format, channels):
    audio_format = AudioFormat(channels=channels, sample_format=sample_format).validate()
    signal = np.stack([chirp(100, 3000, 0.2), noise(0.2, level=0.2)], axis=1)[:, :channels]
    decoded = decode_pcm(encode_pcm(signal, audio_format), audio_format)
    assert decoded.shape == signal.shape and decoded.dtype == np.float32
    sample_bytes = audio_format.bytes_per_frame // channels
    np.testing.assert_allclose(decoded, signal, atol=TOLERANCE[sample_bytes])


def test_known_byte_values_decode_to_known_samples():
    s16le = AudioFormat(sample_format='S16LE')
    np.testing.assert_allclose(decode_pcm(b'\x00\x80\xff\x7f\x00\x00', s16le)[:, 0],
                               [-1.0, 32767 / 32768, 0.0])
    s24be = AudioFormat(sample_format='S24BE')
    np.testing.assert_allclose(decode_pcm(b'\x40\x00\x00', s24be)[:, 0], [0.5])
    u8 = AudioFormat(sample_format='U8')
    np.testing.assert_allclose(decode_pcm(bytes([0, 128, 255]), u8)[:, 0], [-1, 0, 127 / 128])


def test_non_finite_floats_become_silence_not_nan():
    f32 = AudioFormat(sample_format='F32LE')
    payload = np.array([np.nan, np.inf, -np.inf, 0.5, 7.0], '<f4').tobytes()
    np.testing.assert_array_equal(decode_pcm(payload, f32)[:, 0], [0, 1, -1, 0.5, 1])


def test_stereo_is_averaged_to_mono():
    audio_format = AudioFormat(channels=2, sample_format='F32LE')
    left = tone(440, 0.1)
    decoder = StreamDecoder(audio_format, RATE_HZ)
    opposite = decoder.decode(encode_pcm(np.stack([left, -left], axis=1), audio_format))
    same = decoder.decode(encode_pcm(np.stack([left, left], axis=1), audio_format))
    np.testing.assert_allclose(opposite, 0.0, atol=1e-7)
    np.testing.assert_allclose(same, left, atol=1e-7)


@pytest.mark.parametrize('payload_bytes', [1, 3, 1001])
def test_partial_frames_are_rejected_and_the_stream_goes_on(payload_bytes):
    audio_format = AudioFormat(channels=2, sample_format='S16LE')
    decoder = StreamDecoder(audio_format, RATE_HZ)
    with pytest.raises(AudioFormatError, match='whole number'):
        decoder.decode(bytes(payload_bytes))
    assert len(decoder.decode(bytes(400))) == 100


@pytest.mark.parametrize('fields, named', [
    ({'sample_format': 'S20LE'}, 'S20LE'),
    ({'coding_format': 'opus'}, 'opus'),
    ({'channels': 0}, 'channels'),
    ({'sample_rate': 12}, 'sample_rate'),
])
def test_unsupported_formats_raise_an_error_naming_them(fields, named):
    with pytest.raises(AudioFormatError, match=named):
        StreamDecoder(AudioFormat(**fields), RATE_HZ)


def test_coding_names_are_case_insensitive():
    for coding in ('WAVE', 'wave', 'raw', '', 'MP3'):
        AudioFormat(coding_format=coding).validate()


@pytest.mark.parametrize('chunk', [1, 37, 441, 4410])
def test_streaming_resampling_is_continuous_across_chunks(chunk):
    """44.1 kHz chunks resampled one by one equal the whole signal resampled at once."""
    source = chirp(200, 6000, 1.0, rate_hz=44100)
    audio_format = AudioFormat(sample_rate=44100, sample_format='F32LE')
    payload = encode_pcm(source, audio_format)
    step = chunk * 4
    decoder = StreamDecoder(audio_format, RATE_HZ)
    pieces = [decoder.decode(payload[i:i + step]) for i in range(0, len(payload), step)]
    streamed = np.concatenate(pieces + [decoder.flush()])
    whole = soxr.resample(source, 44100, RATE_HZ, quality='HQ')
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=2e-3)


def test_mp3_stream_decodes_incrementally_in_any_chunk_size():
    signal = np.concatenate([tone(440, 1.0), silence(0.2), tone(880, 0.8)])
    encoder = Mp3Encoder(RATE_HZ, 64000)
    mp3 = encoder.encode(signal[:7000]) + encoder.encode(signal[7000:]) + encoder.flush()
    decoded = {}
    for chunk in (1, 100, 417, len(mp3)):
        decoder = StreamDecoder(AudioFormat(coding_format='mp3'), RATE_HZ)
        decoded[chunk] = np.concatenate(
            [decoder.decode(mp3[i:i + chunk]) for i in range(0, len(mp3), chunk)])
        assert decoder.undecodable_packets == 0
    for chunk, samples in decoded.items():
        np.testing.assert_array_equal(samples, decoded[100][:len(samples)])
    samples = decoded[100]
    # The encoder adds up to about two frames of delay and padding at 16 kHz.
    assert len(signal) - 600 <= len(samples) <= len(signal) + 2 * 1152
    first = np.abs(np.fft.rfft(samples[2000:14000]))
    assert abs(np.argmax(first) * RATE_HZ / 12000 - 440) < 5


def test_mp3_at_another_rate_is_resampled_to_the_target():
    signal = tone(1000, 1.0, rate_hz=32000)
    encoder = Mp3Encoder(32000, 96000)
    mp3 = encoder.encode(signal) + encoder.flush()
    decoder = StreamDecoder(AudioFormat(coding_format='mp3'), RATE_HZ)
    samples = decoder.decode(mp3)
    assert abs(len(samples) - RATE_HZ) < 2000
    spectrum = np.abs(np.fft.rfft(samples[2000:14000]))
    assert abs(np.argmax(spectrum) * RATE_HZ / 12000 - 1000) < 5


def test_garbage_in_an_mp3_stream_is_skipped_and_counted():
    encoder = Mp3Encoder(RATE_HZ)
    good = encoder.encode(tone(440, 0.5)) + encoder.flush()
    decoder = StreamDecoder(AudioFormat(coding_format='mp3'), RATE_HZ)
    decoder.decode(bytes(range(256)) * 4)
    samples = decoder.decode(good)
    assert np.all(np.isfinite(samples)) and len(samples) > 4000


@pytest.mark.parametrize('suffix', ['wav', 'flac'])
def test_load_audio_reads_stereo_files_at_any_rate(tmp_path, suffix):
    stereo = np.stack([tone(300, 1.0, 44100), tone(300, 1.0, 44100)], axis=1)
    path = tmp_path / f'x.{suffix}'
    soundfile.write(path, stereo, 44100)
    samples = load_audio(path, RATE_HZ)
    assert samples.dtype == np.float32 and abs(len(samples) - RATE_HZ) <= 1
    np.testing.assert_allclose(np.abs(samples).max(), 0.3, atol=0.01)


def test_load_audio_reads_mp3(tmp_path):
    encoder = Mp3Encoder(RATE_HZ)
    path = tmp_path / 'x.mp3'
    path.write_bytes(encoder.encode(tone(500, 1.0)) + encoder.flush())
    samples = load_audio(path, 8000)
    assert abs(len(samples) - 8000) < 1200


def test_load_audio_names_an_unreadable_file(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('not audio')
    with pytest.raises(AudioFormatError, match='notes.txt'):
        load_audio(path, RATE_HZ)
