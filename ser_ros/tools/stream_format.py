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

"""The command-line options that describe an audio stream (ser-play, ser-demo, ser-bag make)."""

import argparse

from ser_ros.core.audio import AudioFormat


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stream format options shared by ser-play, ser-demo and ser-bag make."""
    parser.add_argument('--coding', default='wave', choices=['wave', 'mp3'],
                        help='coding_format of the stream (audio_capture default: mp3)')
    parser.add_argument('--sample-rate', type=int, default=16000, help='stream rate [Hz]')
    parser.add_argument('--sample-format', default='S16LE', help='PCM sample format')
    parser.add_argument('--channels', type=int, default=1, help='PCM channels')
    parser.add_argument('--chunk-ms', type=float, default=128.0,
                        help='audio per message [ms] (audio_capture: 4096-byte buffers)')
    parser.add_argument('--stamped', action='store_true', help='also publish AudioDataStamped')


def format_from_arguments(args: argparse.Namespace) -> AudioFormat:
    """Return the AudioFormat the options describe."""
    return AudioFormat(args.channels, args.sample_rate, args.sample_format, args.coding)
