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

"""Every QoS profile of ser_ros: the node's, the player's, the bag tools' and the tests'."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Latched topics (AudioInfo, LabelInfo): the last message reaches late subscribers, as
#: audio_capture's AudioInfo does.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: The node's outputs (/emotion, /emotion/raw, /diagnostics).
OUTPUT = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
#: Audio that must not be lost on the way (a player's stream, a bag replayed or recorded).
RELIABLE_STREAM = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


def audio_input(reliability: str, depth: int) -> QoSProfile:
    """
    Return the QoS of the node's audio subscription.

    Parameters
    ----------
    reliability : str
        ``'best_effort'`` (sensor data, what a microphone driver offers) or ``'reliable'``.
    depth : int
        Queue depth [messages].

    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort'
                      else ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
