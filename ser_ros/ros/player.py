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
``ser-play``: publish a recording onto ROS topics exactly as audio_capture would.

    ser-play speech.wav [--coding mp3] [--rate 1.0] [--loop] [--stamped]

``AudioInfo`` goes to ``/audio/audio_info`` (reliable, transient local, repeated every 5 s)
and the audio, cut into chunks, to ``/audio/audio`` as ``AudioData`` (and to
``/audio/audio_stamped`` as ``AudioDataStamped`` with ``--stamped``), paced in real time
(``--rate`` scales the pace; 0 publishes as fast as possible). It stands in for a microphone
on machines without audio hardware, and feeds the demo and the tests.
"""

import argparse
import sys
import time

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from ser_ros.core.audio import encode_stream, load_audio
from ser_ros.core.audio_common import INFO_PERIOD_S, MICROPHONE_FRAME_ID
from ser_ros.core.errors import run_cli
from ser_ros.ros.messages import audio_info
from ser_ros.ros.qos import LATCHED, RELIABLE_STREAM
from ser_ros.tools.stream_format import add_format_arguments, format_from_arguments
from std_msgs.msg import Header


class AudioPlayer:
    """
    Publish audio on a node's behalf, as audio_capture does.

    Parameters
    ----------
    node : rclpy.node.Node
    audio_format : AudioFormat
        Format announced in AudioInfo and used to encode the chunks.
    chunk_s : float
        Audio per message [s].
    stamped : bool
        Also publish AudioDataStamped.
    topic_prefix : str
        Namespace of the topics (``/audio`` gives ``/audio/audio``, ``/audio/audio_info``).
    bitrate_bps : int
        mp3 bit rate [bit/s] (also announced in AudioInfo).

    """

    def __init__(self, node, audio_format, chunk_s=0.128, stamped=False, topic_prefix='/audio',
                 bitrate_bps=64000):
        self.node = node
        self.audio_format = audio_format.validate()
        self.chunk_s = chunk_s
        self.bitrate_bps = bitrate_bps
        self.info_publisher = node.create_publisher(AudioInfo, f'{topic_prefix}/audio_info',
                                                    LATCHED)
        self.audio_publisher = node.create_publisher(AudioData, f'{topic_prefix}/audio',
                                                     RELIABLE_STREAM)
        self.stamped_publisher = node.create_publisher(
            AudioDataStamped, f'{topic_prefix}/audio_stamped', RELIABLE_STREAM) \
            if stamped else None
        self._last_info = None

    def info(self) -> AudioInfo:
        """Return the AudioInfo that describes this stream."""
        return audio_info(self.audio_format, self.bitrate_bps)

    def publish_info(self):
        """Publish AudioInfo now (it is also repeated every few seconds while playing)."""
        self.info_publisher.publish(self.info())
        self._last_info = time.monotonic()

    def play(self, signal, rate=1.0, on_chunk=None):
        """
        Publish ``signal`` chunk by chunk, paced at ``rate`` times real time.

        Parameters
        ----------
        signal : numpy.ndarray, shape (n_samples,), float32
            Mono audio at the stream's sample rate.
        rate : float
            Pace relative to real time; 0 publishes as fast as possible.
        on_chunk : callable, optional
            Called with the offset [s] of each chunk after it is published.

        """
        started = time.monotonic()
        clock_start_ns = self.node.get_clock().now().nanoseconds
        for payload, offset_s in encode_stream(signal, self.audio_format.sample_rate,
                                               self.audio_format, self.chunk_s,
                                               self.bitrate_bps):
            if rate > 0:
                delay = started + offset_s / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if self._last_info is None or time.monotonic() - self._last_info >= INFO_PERIOD_S:
                self.publish_info()
            if not payload:
                continue
            self.audio_publisher.publish(AudioData(data=payload))
            if self.stamped_publisher is not None:
                stamp = rclpy.time.Time(nanoseconds=clock_start_ns + int(offset_s * 1e9))
                self.stamped_publisher.publish(AudioDataStamped(
                    header=Header(stamp=stamp.to_msg(), frame_id=MICROPHONE_FRAME_ID),
                    audio=AudioData(data=payload)))
            if on_chunk is not None:
                on_chunk(offset_s)


def wait_for_subscribers(node, publisher, timeout_s):
    """Spin until ``publisher`` has a subscriber or ``timeout_s`` passes; return whether."""
    deadline = time.monotonic() + timeout_s
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    return publisher.get_subscription_count() > 0


def run(argv=None):
    """Parse the command line and play."""
    parser = argparse.ArgumentParser(prog='ser-play', description=__doc__.split('\n\n')[0])
    parser.add_argument('file', help='recording to play (wav, flac, ogg, mp3)')
    add_format_arguments(parser)
    parser.add_argument('--rate', type=float, default=1.0, help='pace (0: as fast as possible)')
    parser.add_argument('--loop', action='store_true', help='play again and again')
    parser.add_argument('--topic-prefix', default='/audio', help='namespace of the topics '
                        '(default /audio: /audio/audio, /audio/audio_info)')
    parser.add_argument('--wait-s', type=float, default=5.0,
                        help='wait this long for a subscriber before playing')
    args, ros_args = parser.parse_known_args(argv)
    rclpy.init(args=ros_args)
    node = Node('ser_player')
    try:
        audio_format = format_from_arguments(args)
        player = AudioPlayer(node, audio_format, args.chunk_ms / 1000, args.stamped,
                             args.topic_prefix)
        signal = load_audio(args.file, audio_format.sample_rate)
        player.publish_info()
        wait_for_subscribers(node, player.audio_publisher, args.wait_s)
        while True:
            player.play(signal, args.rate)
            if not args.loop:
                break
        time.sleep(0.5)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv=None):
    """Run ``ser-play``: user errors print ``ser-play: message`` and exit 2."""
    return run_cli('ser-play', run, argv)


if __name__ == '__main__':
    sys.exit(main())
