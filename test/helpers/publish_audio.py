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
Publish an AudioInfo (latched) and numbered AudioData messages, then exit.

Usage: ``python -m helpers.publish_audio COUNT``. Message ``i`` carries bytes ``(i + k) % 256``
for k in 0..(99 + i), so the receiver can check every byte and the order. It waits for a
subscriber before publishing the data, and publishes the info before any subscriber exists,
to exercise the transient-local hand-over to late joiners.
"""

import sys

from audio_common_msgs.msg import AudioData, AudioInfo
import rclpy
from ser_ros.ros.qos import LATCHED, RELIABLE_STREAM


def payload(index):
    """Return the bytes that message ``index`` carries."""
    return bytes((index + k) % 256 for k in range(100 + index))


def main():
    count = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node('audio_publisher')
    info_publisher = node.create_publisher(AudioInfo, '/audio/audio_info', LATCHED)
    info_publisher.publish(AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE',
                                     bitrate=256000, coding_format='wave'))
    data_publisher = node.create_publisher(AudioData, '/audio/audio', RELIABLE_STREAM)
    print('ready', flush=True)
    while rclpy.ok() and data_publisher.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.05)
    for index in range(count):
        data_publisher.publish(AudioData(data=payload(index)))
        rclpy.spin_once(node, timeout_sec=0.01)
    while rclpy.ok():
        rclpy.spin_once(node, timeout_sec=0.1)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
