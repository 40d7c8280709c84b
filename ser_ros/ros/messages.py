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

"""Conversions between ser_ros values and the ROS messages the node and the tools exchange."""

from collections.abc import Sequence

from audio_common_msgs.msg import AudioInfo
from builtin_interfaces.msg import Time
from ser_ros.core.audio import AudioFormat
from ser_ros.core.audio_common import stamp_fields
from std_msgs.msg import Header
from vision_msgs.msg import Classification, LabelInfo, ObjectHypothesis, VisionClass

#: Topics of the node's output, relative to its namespace.
EMOTION_TOPIC = 'emotion'
RAW_TOPIC = 'emotion/raw'
LABEL_INFO_TOPIC = 'emotion/label_info'
DIAGNOSTICS_TOPIC = '/diagnostics'


def to_time(seconds: float) -> Time:
    """Convert seconds to a builtin_interfaces/Time."""
    sec, nanosec = stamp_fields(seconds)
    return Time(sec=sec, nanosec=nanosec)


def classification(header: Header, labels: Sequence[str],
                   probabilities: Sequence[float]) -> Classification:
    """Return a Classification with every label, most probable first."""
    order = sorted(range(len(labels)), key=lambda index: -probabilities[index])
    return Classification(header=header, results=[
        ObjectHypothesis(class_id=labels[index], score=float(probabilities[index]))
        for index in order])


def label_info(header: Header, labels: Sequence[str]) -> LabelInfo:
    """Return the LabelInfo class map of a model's labels (index -> name)."""
    return LabelInfo(header=header, class_map=[
        VisionClass(class_id=index, class_name=label) for index, label in enumerate(labels)],
        threshold=0.0)


def audio_info(audio_format: AudioFormat, bitrate_bps: int) -> AudioInfo:
    """
    Return the AudioInfo that announces a stream, as audio_capture fills it.

    Parameters
    ----------
    audio_format : AudioFormat
        The stream's format.
    bitrate_bps : int
        The mp3 bit rate [bit/s]; PCM announces its own.

    """
    return AudioInfo(channels=audio_format.channels, sample_rate=audio_format.sample_rate,
                     sample_format=audio_format.sample_format,
                     bitrate=audio_format.announced_bitrate(bitrate_bps),
                     coding_format=audio_format.coding_format)
