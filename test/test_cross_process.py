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

"""Real messages cross real DDS between separate processes, intact."""

from audio_common_msgs.msg import AudioData, AudioInfo
from builtin_interfaces.msg import Time
from helpers.publish_audio import payload
from ros_harness import RosPeer, start_process, stop_process, wait_for_line
from ser_ros.ros.qos import LATCHED, RELIABLE_STREAM as RELIABLE
from std_msgs.msg import Header
from vision_msgs.msg import Classification, ObjectHypothesis


def test_audio_data_and_latched_info_arrive_intact_from_another_process():
    count = 20
    publisher = start_process('20', module='helpers.publish_audio')
    try:
        wait_for_line(publisher, 'ready')
        with RosPeer() as peer:
            infos, chunks = [], []
            peer.node.create_subscription(AudioInfo, '/audio/audio_info', infos.append, LATCHED)
            peer.node.create_subscription(AudioData, '/audio/audio', chunks.append, RELIABLE)
            assert peer.spin_until(lambda: len(chunks) >= count and infos)
    finally:
        stop_process(publisher)
    assert [bytes(chunk.data) for chunk in chunks] == [payload(i) for i in range(count)]
    info = infos[0]
    assert (info.channels, info.sample_rate, info.sample_format, info.bitrate,
            info.coding_format) == (1, 16000, 'S16LE', 256000, 'wave')


def test_classification_round_trip_through_another_process():
    sent = Classification(
        header=Header(stamp=Time(sec=12, nanosec=345), frame_id='microphone'),
        results=[ObjectHypothesis(class_id='angry', score=0.7),
                 ObjectHypothesis(class_id='neutral', score=0.3)])
    echo = start_process('vision_msgs/msg/Classification', '/classification_in',
                         '/classification_out', module='helpers.echo')
    try:
        wait_for_line(echo, 'ready')
        with RosPeer() as peer:
            received = []
            publisher = peer.node.create_publisher(Classification, '/classification_in', RELIABLE)
            peer.node.create_subscription(Classification, '/classification_out', received.append,
                                          RELIABLE)
            assert peer.spin_until(lambda: publisher.get_subscription_count() > 0)
            publisher.publish(sent)
            assert peer.spin_until(lambda: received)
    finally:
        stop_process(echo)
    assert received[0] == sent
