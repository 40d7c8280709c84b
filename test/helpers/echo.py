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
Republish every message of one type from one topic onto another, in its own process.

Usage: ``python -m helpers.echo pkg/msg/Type /in /out [count]``; exits after ``count`` messages.
"""

import importlib
import sys

import rclpy
from ser_ros.ros.qos import RELIABLE_STREAM


def message_class(type_name):
    """Return the Python class of a ``pkg/msg/Name`` type."""
    package, _, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def main():
    type_name, topic_in, topic_out = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rclpy.init()
    node = rclpy.create_node('echo')
    qos = RELIABLE_STREAM
    msg_type = message_class(type_name)
    publisher = node.create_publisher(msg_type, topic_out, qos)
    echoed = []

    def on_message(msg):
        publisher.publish(msg)
        echoed.append(msg)

    node.create_subscription(msg_type, topic_in, on_message, qos)
    print('ready', flush=True)
    while rclpy.ok() and len(echoed) < count:
        rclpy.spin_once(node, timeout_sec=0.1)
    # Give the last message time to leave before the participant goes away.
    end = node.get_clock().now().nanoseconds + 500_000_000
    while node.get_clock().now().nanoseconds < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
