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
The conventions of audio_common's ``audio_capture`` node, shared by the node, player and bags.

Topic names and the AudioInfo period are audio_capture's defaults; a header stamp is any object
with ``sec`` and ``nanosec`` (rclpy's ``builtin_interfaces/Time`` and rosbags' alike), so the
conversions serve the live node and the ROS-free bag tools.
"""

from typing import Protocol

AUDIO_TOPIC = '/audio/audio'
STAMPED_TOPIC = '/audio/audio_stamped'
INFO_TOPIC = '/audio/audio_info'
#: audio_capture republishes AudioInfo this often [s].
INFO_PERIOD_S = 5.0
#: frame_id of the stamped audio that the player and the bags write.
MICROPHONE_FRAME_ID = 'microphone'
NANOSECONDS_PER_SECOND = 1_000_000_000


class Stamp(Protocol):
    """A ``builtin_interfaces/Time``: whole seconds and nanoseconds."""

    sec: int
    nanosec: int


def stamp_seconds(stamp: Stamp) -> float:
    """Return a header stamp as seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_fields(seconds: float) -> tuple[int, int]:
    """Return ``(sec, nanosec)`` of a time in seconds, rounded to the nanosecond."""
    nanoseconds = int(round(seconds * NANOSECONDS_PER_SECOND))
    return nanoseconds // NANOSECONDS_PER_SECOND, nanoseconds % NANOSECONDS_PER_SECOND
