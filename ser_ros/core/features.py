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
Frame features: MFCC and LFCC from one short-time power spectrum, on one frame grid.

Frame ``k`` of a signal covers samples ``[k * hop, k * hop + frame_length)``; nothing in a
frame depends on another frame (pre-emphasis is applied inside the frame, the log has no
signal-dependent floor). A stream cut into chunks therefore yields exactly the frames of the
whole signal, which is what lets the node compute each frame once and the trainer cut its
crops from whole-utterance frames.

MFCC: power spectrum -> mel filterbank -> log -> DCT. LFCC: the same power spectrum ->
triangular filters spaced evenly in Hz -> log -> DCT. Both cepstra take the same log and DCT
step. Every step is librosa's, written out here in numpy and ``scipy.fft`` and tested equal to
librosa's own functions (``librosa.filters.mel``, ``power_to_db``, ``feature.mfcc``,
``feature.delta``): importing librosa costs the node 2-3 s of start-up (its whole module tree
and numba's compiled functions), for four small functions.

Pitch (optional, ``FeatureConfig.pitch``): the normalised autocorrelation of each frame (the
inverse FFT of its power spectrum, corrected for the window's own autocorrelation) peaks at
the pitch period; its peak gives F0 in semitones and its height the voicing (0..1). Both are
two more columns after the cepstra, standardised per speaker like them, so that F0 reaches
the model relative to the speaker's own.
"""

from dataclasses import asdict, dataclass
import re

import numpy as np
from scipy.fft import dct
from ser_ros.core.config_io import from_plain

#: Believable range of each setting: checked before any filterbank is allocated.
SETTING_LIMITS = {'sample_rate_hz': (4000, 96000), 'frame_length_s': (0.005, 0.2),
                  'frame_hop_s': (0.001, 0.1), 'n_fft': (64, 16384), 'n_mels': (1, 512),
                  'n_mfcc': (1, 128), 'n_linear_filters': (1, 512), 'n_lfcc': (1, 128),
                  'preemphasis': (0.0, 0.999), 'delta_width': (3, 31)}
#: Deepest speech encoder a bundle may ask for (Whisper base has 6 blocks), the rate it
#: hears [Hz] and the longest time between encoded windows [s].
MAX_ENCODER_LAYERS, ENCODER_RATE_HZ, MAX_ENCODER_HOP_S = 6, 16000, 60.0
#: Floor of the power in the log step (about -100 dB): keeps digital silence finite.
POWER_FLOOR = 1e-10
#: Pitch searched by the autocorrelation [Hz]: low male speech to high-pitched screams (a
#: 25 ms frame holds two periods from 80 Hz up: below that single frames often err).
PITCH_RANGE_HZ = (65.0, 600.0)
#: A peak at a shorter lag within this share of the highest is taken as the period.
OCTAVE_TOLERANCE = 0.85
#: Columns the pitch adds after the cepstra: F0 [semitones re 100 Hz], voicing [0..1].
PITCH_COLUMNS = 2
#: The Slaney mel scale: linear up to MEL_BREAK_HZ at MEL_LINEAR_HZ per mel, then
#: logarithmic, MEL_LOG_STEP in natural log per mel (27 mels per factor 6.4).
MEL_BREAK_HZ, MEL_LINEAR_HZ, MEL_LOG_STEP = 1000.0, 200.0 / 3, float(np.log(6.4) / 27.0)


@dataclass(frozen=True)
class FeatureConfig:
    """
    The single source of truth for what the model hears.

    Saved in every model bundle. Whatever a stream's format, the decoder converts it to
    ``sample_rate_hz`` mono before framing, so the model always hears what it was trained on.

    Attributes
    ----------
    sample_rate_hz : int
        Rate all audio is converted to before framing [Hz].
    frame_length_s, frame_hop_s : float
        Analysis frame length and hop [s] (400 and 160 samples at 16 kHz).
    n_fft : int
        FFT size [samples], >= the frame length; the frame is zero-padded.
    n_mels, n_mfcc : int
        Mel filters, and MFCCs kept (c0 included).
    n_linear_filters, n_lfcc : int
        Linear-frequency filters, and LFCCs kept (c0 included).
    fmin_hz, fmax_hz : float
        Band covered by both filterbanks [Hz].
    preemphasis : float
        First-order pre-emphasis coefficient applied within each frame (0 disables).
    deltas : bool
        Append first-order deltas of the normalised cepstra (doubles the feature count).
    delta_width : int
        Frames in the delta regression window (odd, >= 3).
    pitch : bool
        Append F0 and voicing of each frame after the cepstra (see the module docstring).
    encoder_layers : int
        Blocks of Whisper base's encoder (:mod:`ser_ros.core.speech_encoder`) whose mean frame
        over a window is the encoder head's input; 0 (bundles before it): no speech encoder.
        Needs ``sample_rate_hz`` 16000, the rate Whisper hears. A bundle has them exactly when
        its model has an encoder head; in a training configuration they are the blocks the
        head reads when ``model.encoder_head`` asks for one, and ignored otherwise.
    encoder_sha256 : str
        SHA-256 of the encoder weights (``model.bin``) the encoder head was fitted with; empty
        for Whisper base's (the trainer writes it out).
    encoder_hop_s : float
        Time between encoded windows [s], a whole number of streaming hops: the windows in
        between reuse the last embedding (two int8 blocks cost about 9 ms per 2 s window).

    """

    sample_rate_hz: int = 16000
    frame_length_s: float = 0.025
    frame_hop_s: float = 0.010
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 20
    n_linear_filters: int = 40
    n_lfcc: int = 20
    fmin_hz: float = 20.0
    fmax_hz: float = 8000.0
    preemphasis: float = 0.97
    deltas: bool = False
    delta_width: int = 5
    pitch: bool = False
    encoder_layers: int = 0
    encoder_sha256: str = ''
    encoder_hop_s: float = 2.0

    @property
    def frame_length(self) -> int:
        """Return the frame length [samples]."""
        return int(round(self.frame_length_s * self.sample_rate_hz))

    @property
    def hop_length(self) -> int:
        """Return the frame hop [samples]."""
        return int(round(self.frame_hop_s * self.sample_rate_hz))

    @property
    def n_cepstra(self) -> int:
        """Return the values computed per frame: MFCC, LFCC, then F0 and voicing if pitch."""
        return self.n_mfcc + self.n_lfcc + (PITCH_COLUMNS if self.pitch else 0)

    @property
    def n_features(self) -> int:
        """Return the model's input features per frame."""
        return self.n_cepstra * (2 if self.deltas else 1)

    def frames_in(self, n_samples: int) -> int:
        """Return how many whole frames ``n_samples`` samples hold."""
        if n_samples < self.frame_length:
            return 0
        return 1 + (n_samples - self.frame_length) // self.hop_length

    def validate(self) -> 'FeatureConfig':
        """Raise ValueError naming the first inconsistent setting; return self otherwise."""
        for name, (smallest, largest) in SETTING_LIMITS.items():
            if not smallest <= getattr(self, name) <= largest:
                raise ValueError(f'{name} {getattr(self, name)} outside {smallest}..{largest}')
        if self.frame_length > self.n_fft:
            raise ValueError(f'frame length {self.frame_length} samples exceeds n_fft '
                             f'{self.n_fft}')
        if not 0 < self.hop_length <= self.frame_length:
            raise ValueError(f'frame hop {self.hop_length} samples outside 1..frame length')
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2:
            raise ValueError(f'band {self.fmin_hz}..{self.fmax_hz} Hz invalid at '
                             f'{self.sample_rate_hz} Hz')
        if self.n_mfcc > self.n_mels or self.n_lfcc > self.n_linear_filters:
            raise ValueError('more cepstra than filters')
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ValueError(f'delta_width {self.delta_width} must be odd and >= 3')
        if self.encoder_layers:
            if not 1 <= self.encoder_layers <= MAX_ENCODER_LAYERS:
                raise ValueError(f'encoder_layers {self.encoder_layers} outside '
                                 f'0..{MAX_ENCODER_LAYERS}')
            if self.sample_rate_hz != ENCODER_RATE_HZ:
                raise ValueError(f'the speech encoder hears {ENCODER_RATE_HZ} Hz, not '
                                 f'sample_rate_hz {self.sample_rate_hz}')
            if not re.fullmatch('([0-9a-f]{64})?', self.encoder_sha256):
                raise ValueError('encoder_sha256 must be 64 lower-case hex digits, or empty')
            if not 0 < self.encoder_hop_s <= MAX_ENCODER_HOP_S:
                raise ValueError(f'encoder_hop_s {self.encoder_hop_s} outside '
                                 f'(0, {MAX_ENCODER_HOP_S}]')
        return self

    def to_dict(self) -> dict:
        """Return the configuration as plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> 'FeatureConfig':
        """Build a configuration from :meth:`to_dict` output, rejecting unknown keys."""
        return from_plain(cls, values, 'feature_config').validate()


def linear_filterbank(sample_rate_hz: int, n_fft: int, n_filters: int, fmin_hz: float,
                      fmax_hz: float) -> np.ndarray:
    """
    Build triangular filters with centres evenly spaced in Hz (the LFCC filterbank).

    Returns
    -------
    numpy.ndarray, shape (n_filters, n_fft // 2 + 1), float32
        Filter weights over the FFT bins, peak 1.

    """
    edges = np.linspace(fmin_hz, fmax_hz, n_filters + 2)
    return triangular_filters(sample_rate_hz, n_fft, edges).astype(np.float32)


def triangular_filters(sample_rate_hz: int, n_fft: int, edges_hz: np.ndarray) -> np.ndarray:
    """
    Build triangular filters over the FFT bins from their edge frequencies.

    Filter ``i`` rises from 0 at ``edges_hz[i]`` to 1 at ``edges_hz[i + 1]`` and falls back to
    0 at ``edges_hz[i + 2]`` (the shape of both filterbanks).

    Parameters
    ----------
    sample_rate_hz : int
        Rate of the audio [Hz].
    n_fft : int
        FFT size [samples]; the bins are its ``n_fft // 2 + 1`` frequencies.
    edges_hz : numpy.ndarray, shape (n_filters + 2,), float64
        Increasing edge frequencies [Hz].

    Returns
    -------
    numpy.ndarray, shape (n_filters, n_fft // 2 + 1), float64
        Filter weights, peak 1.

    """
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_freqs[None, :] - lower) / (centre - lower)
    falling = (upper - fft_freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def hz_to_mel(frequencies_hz: float | np.ndarray) -> np.ndarray:
    """
    Convert frequencies to the Slaney mel scale (librosa's default, ``htk=False``).

    Linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).

    Parameters
    ----------
    frequencies_hz : float or numpy.ndarray, any shape
        Frequencies [Hz].

    Returns
    -------
    numpy.ndarray, the same shape, float64
        Mels.

    """
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    log_region = frequencies_hz >= MEL_BREAK_HZ
    return np.where(log_region,
                    MEL_BREAK_HZ / MEL_LINEAR_HZ + np.log(np.maximum(frequencies_hz, MEL_BREAK_HZ)
                                                          / MEL_BREAK_HZ) / MEL_LOG_STEP,
                    frequencies_hz / MEL_LINEAR_HZ)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """
    Convert Slaney mels back to frequencies: the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : numpy.ndarray, any shape, float64
        Slaney mels.

    Returns
    -------
    numpy.ndarray, the same shape, float64
        Frequencies [Hz].

    """
    mels = np.asarray(mels, dtype=np.float64)
    break_mel = MEL_BREAK_HZ / MEL_LINEAR_HZ
    return np.where(mels >= break_mel,
                    MEL_BREAK_HZ * np.exp(MEL_LOG_STEP * (np.maximum(mels, break_mel)
                                                          - break_mel)),
                    MEL_LINEAR_HZ * mels)


def mel_filterbank(sample_rate_hz: int, n_fft: int, n_filters: int, fmin_hz: float,
                   fmax_hz: float) -> np.ndarray:
    """
    Build the mel filterbank of ``librosa.filters.mel`` (Slaney scale, Slaney area norm).

    Triangles with edges evenly spaced in mels from ``fmin_hz`` to ``fmax_hz``, each scaled
    to the same area (2 over its width in Hz), so that every band passes about the same energy
    of white noise.

    Returns
    -------
    numpy.ndarray, shape (n_filters, n_fft // 2 + 1), float32
        Filter weights over the FFT bins.

    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_filters + 2))
    weights = triangular_filters(sample_rate_hz, n_fft, edges).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


def log_power_cepstra(band_power: np.ndarray, n_coefficients: int) -> np.ndarray:
    """
    Return the cepstra of filterbank energies: ``librosa.feature.mfcc(S=power_to_db(...))``.

    Parameters
    ----------
    band_power : numpy.ndarray, shape (n_frames, n_filters), float32
        Power in each filter of each frame.
    n_coefficients : int
        Coefficients kept, c0 first.

    Returns
    -------
    numpy.ndarray, shape (n_frames, n_coefficients), float32
        Orthonormal DCT-II of the power in dB (floored at :data:`POWER_FLOOR`).

    """
    log_energies = 10.0 * np.log10(np.maximum(POWER_FLOOR, band_power))
    return dct(log_energies, type=2, norm='ortho', axis=1)[:, :n_coefficients].astype(
        np.float32)


def regression_deltas(values: np.ndarray, width: int) -> np.ndarray:
    """
    Return first-order deltas along the frames: ``librosa.feature.delta(mode='nearest')``.

    The least-squares slope over ``width`` frames centred on each, the edge frames repeated
    beyond the ends (a first-order Savitzky-Golay derivative).

    Parameters
    ----------
    values : numpy.ndarray, shape (..., n_frames, n_columns), float32
        Consecutive frames.
    width : int
        Frames in the regression window (odd, >= 3).

    Returns
    -------
    numpy.ndarray, the same shape, float64
        Change per frame.

    """
    half = width // 2
    padding = [(0, 0)] * values.ndim
    padding[-2] = (half, half)
    padded = np.pad(np.asarray(values, dtype=np.float64), padding, mode='edge')
    n_frames = values.shape[-2]
    deltas = np.zeros(values.shape)
    for offset in range(1, half + 1):
        deltas += offset * (padded[..., half + offset:half + offset + n_frames, :]
                            - padded[..., half - offset:half - offset + n_frames, :])
    return deltas / (2.0 * sum(offset ** 2 for offset in range(1, half + 1)))


class FrameFeaturizer:
    """
    Compute cepstral frames and frame energies from float32 mono audio.

    Parameters
    ----------
    config : FeatureConfig

    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config.validate()
        self._window = np.hanning(config.frame_length + 1)[:-1].astype(np.float32)
        self._mel_basis = mel_filterbank(config.sample_rate_hz, config.n_fft, config.n_mels,
                                         config.fmin_hz, config.fmax_hz)
        self._linear_basis = linear_filterbank(
            config.sample_rate_hz, config.n_fft, config.n_linear_filters, config.fmin_hz,
            config.fmax_hz)
        self._pitch = (PitchTracker(config.sample_rate_hz, self._window, config.n_fft)
                       if config.pitch else None)

    def frames(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Cut ``signal`` into frames and compute their features.

        Parameters
        ----------
        signal : numpy.ndarray, shape (n_samples,), float32
            Mono audio at ``config.sample_rate_hz``, in [-1, 1].

        Returns
        -------
        cepstra : numpy.ndarray, shape (n_frames, n_cepstra), float32
            MFCC then LFCC of each frame (then F0 and voicing when ``config.pitch``), not
            normalised.
        energy_db : numpy.ndarray, shape (n_frames,), float32
            Mean power of each frame [dBFS]; a full-scale sine is -3 dB.

        """
        config = self.config
        n_frames = config.frames_in(len(signal))
        if n_frames == 0:
            return (np.zeros((0, config.n_cepstra), np.float32), np.zeros(0, np.float32))
        framed = np.lib.stride_tricks.sliding_window_view(
            np.asarray(signal, np.float32), config.frame_length)[::config.hop_length][:n_frames]
        energy_db = 10.0 * np.log10(np.mean(framed ** 2, axis=1) + POWER_FLOOR)
        if config.preemphasis:
            emphasised = framed.copy()
            emphasised[:, 1:] -= config.preemphasis * framed[:, :-1]
            framed = emphasised
        spectrum = np.fft.rfft(framed * self._window, n=config.n_fft, axis=1)
        power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
        pitch = [self._pitch.track(power)] if self._pitch else []
        cepstra = np.concatenate([
            log_power_cepstra(power @ self._mel_basis.T, config.n_mfcc),
            log_power_cepstra(power @ self._linear_basis.T, config.n_lfcc), *pitch], axis=1)
        return cepstra, energy_db.astype(np.float32)


class PitchTracker:
    """
    F0 and voicing of single frames from their normalised autocorrelation.

    The autocorrelation is divided by the window's own (the frame's overlap with itself shrinks
    with the lag), so that a periodic frame peaks near 1 at every multiple of its period. The
    period is the shortest lag whose autocorrelation is a local peak within
    :data:`OCTAVE_TOLERANCE` of the highest peak in the pitch range: multiples of the period
    peak as high, and taking them would halve F0.

    Parameters
    ----------
    sample_rate_hz : int
    window : numpy.ndarray, shape (frame_length,), float32
        The analysis window applied to each frame.
    n_fft : int
        FFT size of the frames' power spectra.

    """

    def __init__(self, sample_rate_hz: int, window: np.ndarray, n_fft: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.n_fft = n_fft
        self.lags = np.arange(int(np.floor(sample_rate_hz / PITCH_RANGE_HZ[1])),
                              min(int(np.ceil(sample_rate_hz / PITCH_RANGE_HZ[0])),
                                  len(window) - 2) + 1)
        spectrum = np.fft.rfft(window, n=n_fft)
        window_autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, n=n_fft)
        self._window_correction = (window_autocorrelation[0] / window_autocorrelation[
            self.lags[0] - 1:self.lags[-1] + 2]).astype(np.float32)

    def track(self, power: np.ndarray) -> np.ndarray:
        """
        Estimate the pitch of each frame from its power spectrum.

        Parameters
        ----------
        power : numpy.ndarray, shape (n_frames, n_fft // 2 + 1), float32
            Power spectrum of each windowed frame. Its inverse FFT is the frame's
            autocorrelation (circular: with ``n_fft`` shorter than the frame plus the longest
            lag, lags ``L`` and ``n_fft - L`` add up, a small error where the window is low).

        Returns
        -------
        numpy.ndarray, shape (n_frames, 2), float32
            F0 [semitones re 100 Hz] and voicing (the normalised autocorrelation at the
            period, 0..1) of each frame; a silent frame has voicing 0.

        """
        autocorrelation = np.fft.irfft(power, n=self.n_fft, axis=1)
        energy = np.maximum(autocorrelation[:, :1], POWER_FLOOR)
        lags = self.lags
        normalised = (autocorrelation[:, lags[0] - 1:lags[-1] + 2] / energy
                      * self._window_correction)
        inner = normalised[:, 1:-1]
        is_peak = (inner >= normalised[:, :-2]) & (inner >= normalised[:, 2:])
        highest = np.where(is_peak, inner, -np.inf).max(axis=1, keepdims=True)
        chosen = np.argmax(is_peak & (inner >= OCTAVE_TOLERANCE * highest), axis=1)
        rows = np.arange(len(power))
        before, peak, after = (normalised[rows, chosen], normalised[rows, chosen + 1],
                               normalised[rows, chosen + 2])
        curvature = before - 2 * peak + after
        shift = np.where(curvature < 0, 0.5 * (before - after) / np.minimum(curvature, -1e-9),
                         0.0)
        f0_hz = self.sample_rate_hz / (lags[chosen] + np.clip(shift, -0.5, 0.5))
        return np.stack([12 * np.log2(f0_hz / 100.0), np.clip(peak, 0.0, 1.0)],
                        axis=1).astype(np.float32)


def model_input(normalised_cepstra: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """
    Turn normalised cepstra of one window into the model's input frames.

    Parameters
    ----------
    normalised_cepstra : numpy.ndarray, shape (..., n_frames, n_cepstra), float32
        Standardised cepstra of consecutive frames.
    config : FeatureConfig
        Says whether deltas are appended.

    Returns
    -------
    numpy.ndarray, shape (..., n_frames, n_features), float32
        The cepstra, followed by their deltas when ``config.deltas``.

    """
    if not config.deltas:
        return normalised_cepstra
    deltas = regression_deltas(normalised_cepstra, config.delta_width)
    return np.concatenate([normalised_cepstra, deltas.astype(np.float32)], axis=-1)
