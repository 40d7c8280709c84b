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
Voice-activity gates: a trained network (Silero VAD), or energy above an adaptive noise floor.

Both decide frame by frame (the 10 ms feature frames), causally, so a stream cut into any
chunks gets the same decisions; a window is speech when enough of its frames are.

- ``silero`` (the default for new models): the Silero VAD network (MIT licence; its weights
  ship in the ``silero-vad`` wheel, read here with safetensors and run in torch): a fixed STFT,
  four convolutions and an LSTM over 32 ms blocks give a speech probability per block. It knows
  speech from fans, motors, tones, music and noise, which an energy gate calls speech as soon
  as they are loud. Frame ``k`` takes the probability of the last block complete when its last
  sample arrives (at most 32 ms earlier).
- ``energy`` (the fallback, and what models from before it run): frame energies come from the
  feature step. The noise floor drops at once to any quieter frame and rises slowly
  (``floor_rise_db_per_s``), so it follows a room that gets noisier without mistaking a long
  utterance for noise. A frame is speech when it is ``margin_db`` above the floor and above an
  absolute level.
"""

from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import distribution, PackageNotFoundError

import numpy as np
from safetensors.torch import load_file
from ser_ros.core.config_io import from_plain
from ser_ros.core.errors import SerError
from ser_ros.core.features import FeatureConfig
from ser_ros.core.traced import traced
import torch
from torch import nn

#: The gates there are.
VAD_KINDS = ('silero', 'energy')
#: Samples per Silero block at 16 kHz, and samples of the previous block it also sees.
SILERO_BLOCK = 512
SILERO_CONTEXT = 64
#: Width of the Silero network's LSTM state.
SILERO_HIDDEN = 128
#: The only rate the Silero network takes [Hz].
SILERO_RATE_HZ = 16000
#: The Silero weights inside the silero-vad wheel.
SILERO_PACKAGE = 'silero-vad'
SILERO_WEIGHTS = 'silero_vad/data/silero_vad_16k.safetensors'


class VadError(SerError):
    """A voice-activity gate that cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class VadConfig:
    """
    Settings of the voice-activity gate.

    Attributes
    ----------
    kind : str
        ``silero`` (trained network) or ``energy`` (adaptive noise floor).
    speech_threshold : float
        silero: probability above which a 32 ms block is speech.
    margin_db : float
        energy: how far above the noise floor a speech frame is [dB].
    min_level_dbfs : float
        energy: frames below this level are never speech [dBFS].
    floor_rise_db_per_s : float
        energy: how fast the noise floor may rise [dB/s].
    initial_floor_dbfs : float
        energy: floor assumed before the first frame [dBFS].
    min_speech_ratio : float
        Share of a window's frames that must be speech for the window to count as speech.

    """

    kind: str = 'energy'
    speech_threshold: float = 0.5
    margin_db: float = 12.0
    min_level_dbfs: float = -55.0
    floor_rise_db_per_s: float = 1.0
    initial_floor_dbfs: float = -70.0
    min_speech_ratio: float = 0.25

    def to_dict(self) -> dict:
        """Return the settings as plain values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> 'VadConfig':
        """Build settings from :meth:`to_dict` output, rejecting unknown keys."""
        return from_plain(cls, values, 'vad')

    def validate(self) -> 'VadConfig':
        """Raise ValueError naming a setting outside its range; return self otherwise."""
        if self.kind not in VAD_KINDS:
            raise ValueError(f'vad.kind {self.kind!r} is not one of {", ".join(VAD_KINDS)}')
        if not 0.0 < self.speech_threshold < 1.0:
            raise ValueError(f'vad.speech_threshold {self.speech_threshold} outside (0, 1)')
        if not 0.0 <= self.min_speech_ratio <= 1.0:
            raise ValueError(f'vad.min_speech_ratio {self.min_speech_ratio} outside 0..1')
        return self


class FrameGate:
    """
    What both gates share: settings, and the window decision from frame decisions.

    Parameters
    ----------
    config : VadConfig

    """

    def __init__(self, config: VadConfig) -> None:
        self.config = config

    def is_speech(self, window_speech_frames: np.ndarray) -> bool:
        """Return whether a window with these frame decisions counts as speech."""
        return bool(np.mean(window_speech_frames) >= self.config.min_speech_ratio)


class EnergyVad(FrameGate):
    """
    Frame-by-frame speech decisions with an adaptive noise floor.

    Parameters
    ----------
    config : VadConfig
    frame_hop_s : float
        Time between frames [s].

    """

    def __init__(self, config: VadConfig, frame_hop_s: float) -> None:
        super().__init__(config)
        self._rise_per_frame_db = config.floor_rise_db_per_s * frame_hop_s
        self.reset()

    def reset(self) -> None:
        """Forget the noise floor."""
        self.floor_db = self.config.initial_floor_dbfs

    def add_samples(self, samples: np.ndarray) -> None:
        """Take new audio (this gate decides from the frame energies alone)."""

    def speech_frames(self, energy_db: np.ndarray) -> np.ndarray:
        """
        Decide which of the next frames are speech, updating the noise floor as it goes.

        Parameters
        ----------
        energy_db : numpy.ndarray, shape (n_frames,)
            Energies of the next frames [dBFS], in stream order.

        Returns
        -------
        numpy.ndarray, shape (n_frames,), bool

        """
        decisions = np.zeros(len(energy_db), bool)
        floor = self.floor_db
        for index, energy in enumerate(energy_db):
            floor = min(floor + self._rise_per_frame_db, float(energy))
            decisions[index] = energy > max(floor + self.config.margin_db,
                                            self.config.min_level_dbfs)
        self.floor_db = floor
        return decisions


class SileroNetwork(nn.Module):
    """
    The Silero VAD network (16 kHz): 576 samples (a block and its context) -> P(speech).

    The layers and their names are those of the weights file; the LSTM cell is run as a
    one-layer LSTM over consecutive blocks.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, 256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, 1)

    def forward(self, blocks: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """
        Return the speech probability of consecutive blocks, and the LSTM state after them.

        Parameters
        ----------
        blocks : torch.Tensor, shape (n_blocks, 576), float32
            Each block's 64 context samples and 512 samples, in stream order.
        state : tuple of torch.Tensor, each shape (1, 1, 128), optional
            The state after the previous blocks; zeros when None.

        """
        # The convolutions as matrix products over unfolded time: for inputs this small a
        # Conv1d call costs 20 times its arithmetic in set-up.
        padded = nn.functional.pad(blocks[:, None, :], (0, 64), mode='reflect')
        spectrum = _convolve(padded, self.stft_conv, stride=128, padding=0)
        x = torch.sqrt(spectrum[:, :129] ** 2 + spectrum[:, 129:] ** 2)
        for conv, stride in ((self.conv1, 1), (self.conv2, 2), (self.conv3, 2), (self.conv4, 1)):
            x = torch.relu(_convolve(x, conv, stride, padding=1))
        hidden, state = self.lstm(x[:, :, 0][None], state)
        weight = self.final_conv.weight[:, :, 0]
        probability = torch.sigmoid(nn.functional.linear(torch.relu(hidden[0]), weight,
                                                         self.final_conv.bias))
        return probability[:, 0], state


def _convolve(x: torch.Tensor, conv: nn.Conv1d, stride: int, padding: int) -> torch.Tensor:
    """Return ``conv`` applied to ``x`` (n, channels, time) as one matrix product."""
    out_channels, in_channels, kernel = conv.weight.shape
    if padding:
        x = nn.functional.pad(x, (padding, padding))
    columns = x.unfold(2, kernel, stride).permute(0, 2, 1, 3)  # (n, time, channels, kernel)
    product = nn.functional.linear(columns.reshape(*columns.shape[:2], in_channels * kernel),
                                   conv.weight.reshape(out_channels, -1), conv.bias)
    return product.permute(0, 2, 1)


@lru_cache(maxsize=1)
def silero_network() -> SileroNetwork:
    """Return the Silero network with its weights, loaded once per process."""
    try:
        path = distribution(SILERO_PACKAGE).locate_file(SILERO_WEIGHTS)
        weights = load_file(str(path))
    except (PackageNotFoundError, OSError) as error:
        raise VadError(f'vad.kind silero needs the {SILERO_PACKAGE} package ({error}): '
                       'pip install silero-vad==6.2.3, or run with vad kind energy') from None
    renamed = {name.replace('lstm_cell.', 'lstm.').replace('_ih', '_ih_l0')
               .replace('_hh', '_hh_l0'): value for name, value in weights.items()}
    network = SileroNetwork()
    network.load_state_dict(renamed)
    return network.eval()


@lru_cache(maxsize=1)
def silero_graph() -> torch.jit.ScriptModule:
    """
    Return the Silero network traced (:func:`ser_ros.core.traced.traced`), once per process.

    It takes the LSTM state explicitly (:func:`silero_initial_state` at a stream's start).
    """
    return traced(silero_network(), torch.zeros(1, SILERO_BLOCK + SILERO_CONTEXT),
                  silero_initial_state())


def silero_initial_state() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the Silero LSTM's state before any audio: zeros, each shape (1, 1, 128)."""
    return torch.zeros(1, 1, SILERO_HIDDEN), torch.zeros(1, 1, SILERO_HIDDEN)


class SileroVad(FrameGate):
    """
    Frame-by-frame speech decisions from the Silero VAD network, streaming.

    Parameters
    ----------
    config : VadConfig
    sample_rate_hz : int
        Must be 16000.
    frame_length, hop_length : int
        Feature frame geometry [samples]: frame ``k`` ends at sample
        ``k * hop_length + frame_length``.

    """

    def __init__(self, config: VadConfig, sample_rate_hz: int, frame_length: int,
                 hop_length: int) -> None:
        if sample_rate_hz != SILERO_RATE_HZ:
            raise VadError(f'vad.kind silero needs {SILERO_RATE_HZ} Hz features, not '
                           f'{sample_rate_hz} Hz')
        super().__init__(config)
        self.network = silero_graph()
        self.frame_length, self.hop_length = frame_length, hop_length
        self.reset()

    def reset(self) -> None:
        """Forget the audio and the network's state."""
        self._state = silero_initial_state()
        self._pending = np.zeros(SILERO_CONTEXT, np.float32)
        self._frames_done = 0
        self._probabilities = np.zeros(0)
        self._first_kept = 0

    def add_samples(self, samples: np.ndarray) -> None:
        """
        Take new audio; the network runs on it when decisions are asked for.

        Parameters
        ----------
        samples : numpy.ndarray, shape (n_samples,), float32
            The audio that arrived since the last call, at 16 kHz.

        """
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float32)])

    def speech_frames(self, energy_db: np.ndarray) -> np.ndarray:
        """
        Decide which of the next frames are speech; their audio must have been added.

        The network runs once over every block completed since the last call: ask for the
        frames of a whole hop at a time, not message by message.

        Parameters
        ----------
        energy_db : numpy.ndarray, shape (n_frames,)
            Energies of the next frames (only their number is used).

        Returns
        -------
        numpy.ndarray, shape (n_frames,), bool

        """
        self._run_blocks()
        frames = self._frames_done + np.arange(len(energy_db))
        self._frames_done += len(energy_db)
        blocks = (frames * self.hop_length + self.frame_length) // SILERO_BLOCK - 1
        known = blocks >= self._first_kept
        decisions = np.zeros(len(frames), bool)
        decisions[known] = self._probabilities[blocks[known] - self._first_kept] \
            >= self.config.speech_threshold
        return decisions

    def _run_blocks(self):
        """Run the network over the blocks added audio completes; keep the recent results."""
        audio = self._pending
        n_blocks = (len(audio) - SILERO_CONTEXT) // SILERO_BLOCK
        if n_blocks:
            starts = np.arange(n_blocks) * SILERO_BLOCK
            blocks = audio[starts[:, None] + np.arange(SILERO_BLOCK + SILERO_CONTEXT)]
            with torch.inference_mode():
                probability, self._state = self.network(torch.from_numpy(blocks), self._state)
            # Keep the blocks from the one the next undecided frame asks for.
            keep_from = max(0, (self._frames_done * self.hop_length + self.frame_length)
                            // SILERO_BLOCK - 1)
            self._probabilities = np.concatenate([self._probabilities, probability.numpy()])[
                keep_from - self._first_kept:]
            self._first_kept = keep_from
        self._pending = audio[n_blocks * SILERO_BLOCK:]


def make_vad(config: VadConfig, features: FeatureConfig) -> EnergyVad | SileroVad:
    """
    Return the gate ``config`` asks for, deciding on the frames of ``features``.

    Raises
    ------
    VadError
        The silero gate cannot run here (package missing, rate other than 16 kHz).

    """
    if config.kind == 'silero':
        return SileroVad(config, features.sample_rate_hz, features.frame_length,
                         features.hop_length)
    return EnergyVad(config, features.frame_hop_s)


def speech_frames_of(config: VadConfig, features: FeatureConfig, signal: np.ndarray,
                     energy_db: np.ndarray) -> np.ndarray:
    """
    Return the decision of a fresh gate on every frame of a whole recording.

    Parameters
    ----------
    config : VadConfig
        The gate.
    features : FeatureConfig
        The frames' geometry and rate.
    signal : numpy.ndarray, shape (n_samples,), float32
        The recording, at ``features.sample_rate_hz``.
    energy_db : numpy.ndarray, shape (n_frames,)
        The frame energies of ``signal`` (:meth:`ser_ros.core.features.FrameFeaturizer.frames`).

    Returns
    -------
    numpy.ndarray, shape (n_frames,), bool

    """
    vad = make_vad(config, features)
    vad.add_samples(signal)
    return vad.speech_frames(energy_db)
