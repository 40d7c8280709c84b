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
Bags and live ROS: replay a bag onto its topics, record the emotion topics into a bag.

For machines without ``ros2 bag``: messages are published from their raw CDR bytes with the
recorded timing, and recorded as raw CDR, so nothing is decoded and re-encoded on the way.
"""

import importlib
import threading
import time

import rclpy
from rosbags.rosbag2 import Reader, Writer
from ser_ros.core.audio_common import INFO_TOPIC, STAMPED_TOPIC
from ser_ros.ros.node_process import start_ser_node, stop
from ser_ros.ros.player import wait_for_subscribers
from ser_ros.ros.qos import LATCHED, RELIABLE_STREAM
from ser_ros.tools.bags import STORAGES, typestore

#: A live run is over when no estimate has arrived for this long after the replay [s].
IDLE_S = 3.0
EMOTION_TOPICS = {'/emotion': 'vision_msgs/msg/Classification',
                  '/emotion/raw': 'vision_msgs/msg/Classification'}


def message_class(msgtype):
    """Return the rclpy message class of ``pkg/msg/Name``."""
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


class BagPlayer:
    """
    Publish a bag's messages on their topics with the recorded timing.

    Parameters
    ----------
    node : rclpy.node.Node
    bag_path : str
    topics : list of str, optional
        Topics to play; all by default.

    """

    def __init__(self, node, bag_path, topics=None):
        self.bag_path = bag_path
        with Reader(bag_path) as reader:
            self.connections = [c for c in reader.connections
                                if topics is None or c.topic in topics]
            self.start_ns, self.end_ns = reader.start_time, reader.end_time
        self.publishers = {
            c.topic: node.create_publisher(message_class(c.msgtype), c.topic,
                                           LATCHED if c.topic == INFO_TOPIC else RELIABLE_STREAM)
            for c in self.connections}

    def announce_format(self):
        """Publish the bag's first AudioInfo now (latched), before any audio is played."""
        with Reader(self.bag_path) as reader:
            connections = [c for c in reader.connections if c.topic == INFO_TOPIC]
            for connection, _, raw in reader.messages(connections=connections):
                self.publishers[INFO_TOPIC].publish(raw)
                return True
        return False

    def play(self, rate=1.0, start_offset_s=0.0, loop=False, stop=None):
        """
        Publish the messages, paced at ``rate`` times the recorded speed (0: at once).

        Parameters
        ----------
        rate : float
            Pace relative to the recording.
        start_offset_s : float
            Skip the first seconds of the bag.
        loop : bool
            Start again at the end, until ``stop`` is set.
        stop : threading.Event, optional
            Set it to stop playing.

        Returns
        -------
        int
            Messages published.

        """
        first_ns = self.start_ns + int(start_offset_s * 1e9)
        published = 0
        while True:
            started = time.monotonic()
            with Reader(self.bag_path) as reader:
                connections = [c for c in reader.connections
                               if c.topic in self.publishers]
                for connection, timestamp_ns, raw in reader.messages(connections=connections,
                                                                     start=first_ns):
                    if stop is not None and stop.is_set():
                        return published
                    if rate > 0:
                        delay = started + (timestamp_ns - first_ns) / 1e9 / rate - \
                            time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    self.publishers[connection.topic].publish(raw)
                    published += 1
            if not loop or (stop is not None and stop.is_set()):
                return published


class EmotionRecorder:
    """
    Record Classification topics into a bag as raw CDR, stamped with the receive time.

    Parameters
    ----------
    node : rclpy.node.Node
    path : str
        Bag folder to create.
    topics : dict of str to str
        Topic -> message type.
    storage : str
        ``'sqlite3'`` or ``'mcap'``.

    """

    def __init__(self, node, path, topics=EMOTION_TOPICS, storage='sqlite3'):
        self.node = node
        self.count = 0
        self._writer = Writer(path, version=8, storage_plugin=STORAGES[storage])
        self._writer.open()
        store = typestore()
        for topic, msgtype in topics.items():
            connection = self._writer.add_connection(topic, msgtype, typestore=store)
            node.create_subscription(message_class(msgtype), topic,
                                     self._callback(connection), RELIABLE_STREAM,
                                     raw=True)

    def _callback(self, connection):
        def record(raw):
            self._writer.write(connection, self.node.get_clock().now().nanoseconds, raw)
            self.count += 1
        return record

    def close(self):
        """Finish the bag."""
        self._writer.close()


def spin_while(node, condition, timeout_s):
    """Spin ``node`` while ``condition()`` holds, at most ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while condition() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def run_live(bag_path, recording_path, model_path='', rate=1.0, storage='sqlite3',
             node_parameters=None):
    """
    Replay a bag to ser_node in its own process and record what it publishes.

    The node runs on the bag's stamped audio with its raw output on; ``node_parameters``
    (name -> value) sets any other parameter.

    Returns
    -------
    int
        Emotion messages recorded.

    """
    parameters = {'autostart': True, 'stamped_input': True, 'publish_raw': True,
                  'audio_qos_reliability': 'reliable', 'model_path': model_path,
                  **(node_parameters or {})}
    node_process = start_ser_node(parameters, quiet=True)
    rclpy.init()
    node = rclpy.create_node('ser_bag_evaluator')
    try:
        recorder = EmotionRecorder(node, recording_path, storage=storage)
        player = BagPlayer(node, bag_path)
        player.announce_format()
        if not wait_for_subscribers(node, player.publishers[STAMPED_TOPIC], 60.0):
            raise RuntimeError('ser_node did not subscribe to the bag audio')
        spin_while(node, lambda: True, 1.0)
        playing = threading.Thread(target=player.play, args=(rate,), daemon=True)
        playing.start()
        spin_while(node, playing.is_alive, float('inf'))
        last = [recorder.count, time.monotonic()]

        def still_arriving():
            """Wait for the first estimate, then until none has come for IDLE_S."""
            if recorder.count != last[0]:
                last[:] = [recorder.count, time.monotonic()]
            return recorder.count == 0 or time.monotonic() - last[1] < IDLE_S
        spin_while(node, still_arriving, 120.0)
        recorder.close()
        return recorder.count
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop(node_process)
