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
Voice-activity gate: energy above an adaptive noise floor.

Frame energies come from the feature step (one computation). The noise floor drops at once to
any quieter frame and rises slowly (``floor_rise_db_per_s``), so it follows a room that gets
noisier without mistaking a long utterance for noise. A frame is speech when it is
``margin_db`` above the floor and above an absolute level; a window is speech when enough of
its frames are. The gate is causal and frame by frame, so a stream cut into any chunks gets
the same decisions.
"""

from dataclasses import asdict, dataclass

import numpy as np
from ser_ros.core.config_io import from_plain


@dataclass(frozen=True)
class VadConfig:
    """
    Settings of the energy gate.

    Attributes
    ----------
    margin_db : float
        How far above the noise floor a speech frame is [dB].
    min_level_dbfs : float
        Frames below this level are never speech [dBFS].
    floor_rise_db_per_s : float
        How fast the noise floor may rise [dB/s].
    initial_floor_dbfs : float
        Floor assumed before the first frame [dBFS].
    min_speech_ratio : float
        Share of a window's frames that must be speech for the window to count as speech.

    """

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


class EnergyVad:
    """
    Frame-by-frame speech decisions with an adaptive noise floor.

    Parameters
    ----------
    config : VadConfig
    frame_hop_s : float
        Time between frames [s].

    """

    def __init__(self, config: VadConfig, frame_hop_s: float) -> None:
        self.config = config
        self._rise_per_frame_db = config.floor_rise_db_per_s * frame_hop_s
        self.reset()

    def reset(self) -> None:
        """Forget the noise floor."""
        self.floor_db = self.config.initial_floor_dbfs

    def speech_frames(self, energy_db: np.ndarray) -> np.ndarray:
        """
        Decide which frames are speech, updating the noise floor as it goes.

        Parameters
        ----------
        energy_db : numpy.ndarray, shape (n_frames,)
            Frame energies [dBFS], in stream order.

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

    def is_speech(self, window_speech_frames: np.ndarray) -> bool:
        """Return whether a window with these frame decisions counts as speech."""
        return bool(np.mean(window_speech_frames) >= self.config.min_speech_ratio)
