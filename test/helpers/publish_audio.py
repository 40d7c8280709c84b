"""
Publish an AudioInfo (latched) and numbered AudioData messages, then exit.

Usage: ``python -m helpers.publish_audio COUNT``. Message ``i`` carries bytes ``(i + k) % 256``
for k in 0..(99 + i), so the receiver can check every byte and the order. It waits for a
subscriber before publishing the data, and publishes the info before any subscriber exists,
to exercise the transient-local hand-over to late joiners.
"""

import sys

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from audio_common_msgs.msg import AudioData, AudioInfo


def payload(index):
    """Return the bytes that message ``index`` carries."""
    return bytes((index + k) % 256 for k in range(100 + index))


def main():
    count = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node('audio_publisher')
    info_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    info_publisher = node.create_publisher(AudioInfo, '/audio/audio_info', info_qos)
    info_publisher.publish(AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE',
                                     bitrate=256000, coding_format='wave'))
    data_publisher = node.create_publisher(
        AudioData, '/audio/audio', QoSProfile(depth=count, reliability=ReliabilityPolicy.RELIABLE))
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
