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
The node's parameters: names, defaults, descriptions and validation, in one table.

Kept free of rclpy so that it can be read, tested and documented without ROS. ``fixed``
parameters define the node's input (model, topics, audio format, window) and may only change
while the node is unconfigured; the others apply at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
import math
from typing import Any

from ser_ros.core.audio import AudioFormat, AudioFormatError, MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, \
    MIN_SAMPLE_RATE_HZ


@dataclass(frozen=True)
class ParameterSpec:
    """
    One node parameter.

    Attributes
    ----------
    name : str
    default : bool, int, float or str
        Also fixes the parameter's type.
    description : str
    fixed : bool
        Whether it can only change while the node is unconfigured.
    check : callable or None
        ``check(value)`` returns an error message, or None when the value is valid.

    """

    name: str
    default: bool | int | float | str
    description: str
    fixed: bool = True
    check: Callable[[Any], str | None] | None = None


def _positive_up_to(high):
    def check(value):
        return None if 0 < value <= high else f'must be > 0 and <= {high}'
    return check


def _non_negative_up_to(high):
    def check(value):
        return None if 0 <= value <= high else f'must be in 0..{high}'
    return check


def _at_most(high):
    def check(value):
        return None if value <= high else f'must be <= {high}'
    return check


def _topic(value):
    return None if value and ' ' not in value else 'must be a topic name'


def _one_of(*choices):
    def check(value):
        return None if value in choices else f'must be one of {list(choices)}'
    return check


def _audio_format_field(field):
    def check(value):
        try:
            AudioFormat(**{field: value}).validate()
        except AudioFormatError as error:
            return str(error)
        return None
    return check


#: The parameters whose default means "the model's value" say so, and that they read back.
READ_BACK = (' Once configured, the parameter reads back the value in use; cleanup restores '
             'what was set.')
#: Parameters whose default means "the model's value"; once configured they hold the value in use.
MODEL_DEFAULTED = ('window_s', 'hop_s', 'norm_horizon_s', 'dwell_s')

PARAMETERS = (
    ParameterSpec('model_path', '', 'Model bundle folder; empty uses the shipped default model.'),
    ParameterSpec('autostart', False, 'Configure and activate at start-up, for runs without a '
                  'lifecycle manager.'),
    ParameterSpec('audio_topic', '/audio/audio', 'audio_common_msgs/AudioData input topic.',
                  check=_topic),
    ParameterSpec('audio_info_topic', '/audio/audio_info', 'audio_common_msgs/AudioInfo topic '
                  '(reliable, transient local) that gives the stream format.', check=_topic),
    ParameterSpec('speaker_topic', '/speaker_id', 'std_msgs/String topic naming who speaks '
                  '(from a diariser or a face tracker): each speaker gets adapted statistics of '
                  'their own and a change restarts the smoothing; empty: no such input.',
                  check=lambda value: None if not value else _topic(value)),
    ParameterSpec('stamped_input', False, 'Subscribe to AudioDataStamped on '
                  'audio_stamped_topic instead of AudioData, and use its header stamps.'),
    ParameterSpec('audio_stamped_topic', '/audio/audio_stamped', 'audio_common_msgs/'
                  'AudioDataStamped input topic (with stamped_input).', check=_topic),
    ParameterSpec('audio_qos_reliability', 'best_effort', 'Audio subscription reliability: '
                  'best_effort (sensor data QoS) or reliable.',
                  check=_one_of('best_effort', 'reliable')),
    ParameterSpec('audio_qos_depth', 50, 'Audio subscription queue depth [messages].',
                  check=_positive_up_to(10000)),
    ParameterSpec('channels', 1, 'Channels of the stream until an AudioInfo arrives.',
                  check=lambda value: None if 1 <= value <= MAX_CHANNELS
                  else f'must be in 1..{MAX_CHANNELS}'),
    ParameterSpec('sample_rate', 16000, 'Sample rate [Hz] until an AudioInfo arrives.',
                  check=lambda value: None if MIN_SAMPLE_RATE_HZ <= value <= MAX_SAMPLE_RATE_HZ
                  else f'must be in {MIN_SAMPLE_RATE_HZ}..{MAX_SAMPLE_RATE_HZ} Hz'),
    ParameterSpec('sample_format', 'S16LE', 'PCM sample format until an AudioInfo arrives.',
                  check=_audio_format_field('sample_format')),
    ParameterSpec('coding_format', 'wave', 'wave (PCM) or mp3 until an AudioInfo arrives.',
                  check=_audio_format_field('coding_format')),
    ParameterSpec('window_s', 0.0, "Analysis window [s]; 0 uses the model's." + READ_BACK,
                  check=_non_negative_up_to(60.0)),
    ParameterSpec('hop_s', 0.0, 'Time between estimates [s], a multiple of the frame hop; 0 '
                  "uses the model's." + READ_BACK, check=_non_negative_up_to(60.0)),
    ParameterSpec('adapt_normalisation', True, 'Adapt feature statistics to the speakers and '
                  'microphone heard (recommended).'),
    ParameterSpec('norm_horizon_s', 0.0, 'Forgetting time of the adapted statistics [s]; 0 '
                  "uses the model's." + READ_BACK, check=_non_negative_up_to(86400.0)),
    ParameterSpec('vad', '', 'Voice-activity gate: silero (trained network) or energy '
                  "(adaptive noise floor, the fallback); empty uses the model's.",
                  check=_one_of('', 'silero', 'energy')),
    ParameterSpec('torch_threads', 1, "Threads of inference: torch's and each BLAS pool's "
                  "(the robot's CPU is shared).",
                  check=_positive_up_to(256)),
    ParameterSpec('diagnostics_period_s', 1.0, 'Period of /diagnostics [s].',
                  check=_positive_up_to(3600.0)),
    ParameterSpec('dwell_s', -1.0, 'Smoothing: mean time an emotion lasts [s] (HMM dwell); 0 '
                  "turns smoothing off; negative uses the model's." + READ_BACK, fixed=False,
                  check=_at_most(3600.0)),
    ParameterSpec('publish_raw', False, 'Also publish the unsmoothed BiLSTM output on '
                  "emotion/raw (relative to the node's namespace).", fixed=False),
    ParameterSpec('publish_non_speech', False, 'Also publish estimates for windows without '
                  'speech (the smoothed belief decaying toward the prior).', fixed=False),
    ParameterSpec('frame_id', '', 'frame_id of the published headers; empty uses the stamped '
                  "input's frame_id.", fixed=False),
    ParameterSpec('max_queue_s', 10.0, 'Audio waiting for inference beyond this is dropped, '
                  'oldest first [s].', fixed=False, check=_positive_up_to(600.0)),
    ParameterSpec('max_chunk_s', 10.0, 'Messages holding more audio than this are rejected '
                  '[s].', fixed=False, check=_positive_up_to(60.0)),
    ParameterSpec('warn_rtf', 0.5, 'Real-time factor (compute time / audio time) above which '
                  'diagnostics warn.', fixed=False, check=_positive_up_to(100.0)),
)
SPECS = {spec.name: spec for spec in PARAMETERS}


def check_parameter(name, value, configured):
    """
    Return why ``name`` may not take ``value`` now, or None when it may.

    Parameters
    ----------
    name : str
        Parameter name; names not in :data:`PARAMETERS` are not checked.
    value : bool, int, float or str
        The proposed value.
    configured : bool
        Whether the node is configured or active (fixed parameters are then locked).

    """
    spec = SPECS.get(name)
    if spec is None:
        return None
    if spec.fixed and configured:
        return f"{name} fixes the node's input: change it while the node is unconfigured"
    if isinstance(value, float) and not math.isfinite(value):
        return f'{name}={value!r}: must be a finite number'
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            return f'{name}={value!r}: {problem}'
    return None
