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

"""MFCC and LFCC share one STFT and one frame grid; LFCC is a true linear-filterbank cepstrum."""

import librosa
import numpy as np
import pytest
import scipy.fft
from ser_ros.core.features import FeatureConfig, FrameFeaturizer, linear_filterbank, \
    log_power_cepstra, mel_filterbank, model_input, regression_deltas
from synthetic import chirp, RATE_HZ, speech_like, tone


def test_frame_count_and_shapes():
    config = FeatureConfig()
    cepstra, energy = FrameFeaturizer(config).frames(speech_like(1.0))
    assert cepstra.shape == (1 + (RATE_HZ - 400) // 160, config.n_cepstra)
    assert energy.shape == (cepstra.shape[0],)
    assert cepstra.dtype == np.float32 and np.all(np.isfinite(cepstra))


def periodic_hann_power(signal):
    """Return the power spectra of 400-sample frames every 160 samples, shape (n, 257)."""
    frames = librosa.util.frame(signal, frame_length=400, hop_length=160).T
    window = librosa.filters.get_window('hann', 400, fftbins=True)
    return np.abs(np.fft.rfft(frames * window, n=512)) ** 2


def test_mfcc_equals_librosa_on_the_same_frames():
    config = FeatureConfig(preemphasis=0.0)
    signal = chirp(100, 7000, 1.0)
    cepstra, _ = FrameFeaturizer(config).frames(signal)
    mel = librosa.feature.melspectrogram(S=periodic_hann_power(signal).T, sr=RATE_HZ,
                                         n_mels=40, fmin=20.0, fmax=8000.0)
    expected = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=1e-10, top_db=None),
                                    sr=RATE_HZ, n_mfcc=20).T
    np.testing.assert_allclose(cepstra[:, :20], expected, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize('rate_hz, n_fft, n_filters, fmin_hz, fmax_hz', [
    (16000, 512, 40, 20.0, 8000.0), (8000, 256, 26, 0.0, 4000.0), (22050, 1024, 64, 50.0, 11025.0),
    (16000, 400, 80, 300.0, 7600.0)])
def test_the_mel_filterbank_is_librosas(rate_hz, n_fft, n_filters, fmin_hz, fmax_hz):
    expected = librosa.filters.mel(sr=rate_hz, n_fft=n_fft, n_mels=n_filters, fmin=fmin_hz,
                                   fmax=fmax_hz)
    basis = mel_filterbank(rate_hz, n_fft, n_filters, fmin_hz, fmax_hz)
    assert basis.dtype == np.float32
    np.testing.assert_array_equal(basis, expected)


def test_the_cepstrum_step_is_librosas_mfcc_of_power_to_db():
    power = np.random.default_rng(3).random((50, 40)).astype(np.float32) * 10.0
    power[0] = 0.0  # digital silence: floored, finite
    expected = librosa.feature.mfcc(S=librosa.power_to_db(power.T, ref=1.0, amin=1e-10,
                                                          top_db=None), n_mfcc=20).T
    np.testing.assert_array_equal(log_power_cepstra(power, 20), expected.astype(np.float32))


@pytest.mark.parametrize('width', [3, 5, 9])
def test_deltas_are_librosas_nearest_mode_deltas(width):
    values = np.random.default_rng(width).standard_normal((2, 30, 6)).astype(np.float32)
    expected = librosa.feature.delta(values, width=width, axis=-2, mode='nearest')
    np.testing.assert_allclose(regression_deltas(values, width), expected, rtol=0, atol=1e-6)


def test_lfcc_is_the_cepstrum_of_a_linear_filterbank():
    config = FeatureConfig(preemphasis=0.0)
    signal = chirp(100, 7000, 0.5)
    cepstra, _ = FrameFeaturizer(config).frames(signal)
    power = periodic_hann_power(signal)
    basis = linear_filterbank(RATE_HZ, 512, 40, 20.0, 8000.0)
    log_energies = 10 * np.log10(np.maximum(power @ basis.T, 1e-10))
    expected = scipy.fft.dct(log_energies, type=2, norm='ortho', axis=1)[:, :20]
    np.testing.assert_allclose(cepstra[:, 20:], expected, rtol=1e-3, atol=1e-2)


def test_linear_filters_are_evenly_spaced_triangles():
    basis = linear_filterbank(RATE_HZ, 512, 40, 0.0, 8000.0)
    frequencies = librosa.fft_frequencies(sr=RATE_HZ, n_fft=512)
    peaks = frequencies[np.argmax(basis, axis=1)]
    spacing = np.diff(peaks)
    assert np.all(np.abs(spacing - 8000.0 / 41) <= RATE_HZ / 512)
    assert np.all(basis >= 0) and np.allclose(basis.max(axis=1), 1.0, atol=0.2)


def test_a_tone_peaks_in_the_linear_filter_at_its_frequency():
    basis = linear_filterbank(RATE_HZ, 512, 40, 20.0, 8000.0)
    power = np.abs(np.fft.rfft(tone(3000, 0.025)[:400] * np.hanning(400), n=512)) ** 2
    centres = np.linspace(20.0, 8000.0, 42)[1:-1]
    assert abs(centres[np.argmax(basis @ power)] - 3000) < 8000 / 41


@pytest.mark.parametrize('pitch', [False, True])
def test_frames_do_not_depend_on_where_the_signal_was_cut(pitch):
    featurizer = FrameFeaturizer(FeatureConfig(pitch=pitch))
    signal = speech_like(1.0)
    whole, _ = featurizer.frames(signal)
    # The second half starts on the frame grid: frame 50 begins at sample 8000.
    second, _ = featurizer.frames(signal[8000:])
    np.testing.assert_allclose(second, whole[50:50 + len(second)], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('pitch', [False, True])
def test_silence_gives_finite_features_and_low_energy(pitch):
    cepstra, energy = FrameFeaturizer(FeatureConfig(pitch=pitch)).frames(
        np.zeros(RATE_HZ, np.float32))
    assert np.all(np.isfinite(cepstra)) and np.all(energy < -90)
    if pitch:
        assert np.all(cepstra[:, -1] == 0)


@pytest.mark.parametrize('f0_hz', [100.0, 150.0, 220.0, 330.0, 450.0, 580.0])
def test_pitch_of_a_harmonic_sound_is_its_f0_in_semitones_and_it_is_voiced(f0_hz):
    config = FeatureConfig(pitch=True)
    time_s = np.arange(RATE_HZ) / RATE_HZ
    # Harmonics 1-4 with falling amplitudes: its autocorrelation peaks at every period.
    signal = sum(0.2 / k * np.sin(2 * np.pi * k * f0_hz * time_s) for k in range(1, 5))
    cepstra, _ = FrameFeaturizer(config).frames(signal.astype(np.float32))
    assert cepstra.shape[1] == config.n_cepstra == config.n_mfcc + config.n_lfcc + 2
    semitones, voicing = cepstra[:, -2], cepstra[:, -1]
    np.testing.assert_allclose(100 * 2 ** (semitones / 12), f0_hz, rtol=0.01)
    assert voicing.min() > 0.9


def test_pitch_below_100_hz_is_right_in_the_median():
    # Under 100 Hz a 25 ms frame holds fewer than 2.5 periods: single frames err by a few %
    # (and below about 75 Hz, where it holds fewer than 2, often by more).
    time_s = np.arange(RATE_HZ) / RATE_HZ
    signal = sum(0.2 / k * np.sin(2 * np.pi * k * 80.0 * time_s) for k in range(1, 5))
    cepstra, _ = FrameFeaturizer(FeatureConfig(pitch=True)).frames(signal.astype(np.float32))
    f0_hz = 100 * 2 ** (cepstra[:, -2] / 12)
    assert abs(np.median(f0_hz) / 80.0 - 1) < 0.01 and np.all(np.abs(f0_hz / 80.0 - 1) < 0.05)


def test_noise_is_not_voiced():
    noise = np.random.default_rng(0).normal(scale=0.1, size=RATE_HZ).astype(np.float32)
    cepstra, _ = FrameFeaturizer(FeatureConfig(pitch=True)).frames(noise)
    assert cepstra[:, -1].mean() < 0.4


def test_full_scale_sine_energy_is_minus_3_dbfs():
    _, energy = FrameFeaturizer(FeatureConfig()).frames(tone(1000, 0.1, amplitude=1.0))
    np.testing.assert_allclose(energy, -3.01, atol=0.1)


def test_deltas_double_the_features():
    config = FeatureConfig(deltas=True)
    window = np.random.default_rng(0).normal(size=(100, config.n_cepstra)).astype(np.float32)
    features = model_input(window, config)
    assert features.shape == (100, config.n_features) == (100, 2 * config.n_cepstra)
    np.testing.assert_array_equal(features[:, :config.n_cepstra], window)


@pytest.mark.parametrize('change, message', [
    ({'n_fft': 256}, 'n_fft'), ({'fmax_hz': 9000.0}, 'band'), ({'n_mfcc': 60}, 'cepstra'),
    ({'delta_width': 4}, 'delta_width')])
def test_inconsistent_configurations_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig(**change).validate()


def test_unknown_settings_are_rejected():
    with pytest.raises(ValueError, match='wobble'):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), 'wobble': 1})
