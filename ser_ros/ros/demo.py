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
``ser-demo``: the whole system on one machine, no microphone needed.

Starts ``ser_node`` (its own process, the installed parameters file, the shipped model),
plays recordings onto ``/audio/audio`` in real time exactly as audio_capture would, and prints
the ``/emotion`` stream as it arrives, next to what is being played.

    ser-demo                       # RAVDESS sentences of actor 24 (never seen in training)
    ser-demo --file a.wav b.flac   # your own recordings
    ser-demo --coding mp3          # the stream as audio_capture sends it by default
"""

import argparse
import os
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.node import Node
from ser_ros.core.audio_common import stamp_seconds
from ser_ros.core.errors import run_cli, SerError
from ser_ros.resources import params_file, shared_data_folder
from ser_ros.ros.messages import EMOTION_TOPIC, LABEL_INFO_TOPIC
from ser_ros.ros.node_process import launch_available, launch_ser_node, start_ser_node, stop
from ser_ros.ros.player import AudioPlayer, wait_for_subscribers
from ser_ros.ros.qos import LATCHED, OUTPUT
from ser_ros.tools.stream_format import add_format_arguments, format_from_arguments
from ser_ros.tools.streams import compose_stream, Segment
from ser_ros.training.corpora import read_ravdess
from vision_msgs.msg import Classification, LabelInfo

#: Default demo material: one strong-intensity sentence per emotion of a held-out actor.
DEMO_ACTOR = 'ravdess:24'
DEMO_EMOTIONS = ('neutral', 'angry', 'sad', 'happy', 'fearful', 'surprised', 'disgust')
PAUSE_S = 1.0


def default_recordings():
    """Return [(path, emotion)] of the default demo sentences, or [] without the corpus."""
    folder = shared_data_folder()
    if folder is None or not os.path.isdir(os.path.join(folder, 'ravdess')):
        return []
    chosen = {}
    for utterance in read_ravdess(os.path.join(folder, 'ravdess')):
        intensity = os.path.basename(utterance.path).split('-')[3]
        strong = intensity == '02' or utterance.emotion == 'neutral'
        if utterance.speaker == DEMO_ACTOR and strong and utterance.emotion in DEMO_EMOTIONS:
            chosen.setdefault(utterance.emotion, utterance.path)
    return [(chosen[emotion], emotion) for emotion in DEMO_EMOTIONS if emotion in chosen]


def truth_at(segments: list[Segment], time_s: float) -> str:
    """Return the truth label of the segment around ``time_s``, or '-' in a pause."""
    return next((segment.label for segment in segments
                 if segment.start_s <= time_s <= segment.end_s + 0.5), '-')


def run(argv=None):
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(prog='ser-demo', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n')[2])
    parser.add_argument('--file', nargs='+', help='recordings to play (default: RAVDESS '
                        'actor 24 from ../shared/data)')
    parser.add_argument('--model', default='', help='model bundle (default: the shipped one)')
    parser.add_argument('--rate', type=float, default=1.0, help='playback pace')
    add_format_arguments(parser)
    args = parser.parse_args(argv)
    recordings = [(path, '?') for path in args.file] if args.file else default_recordings()
    if not recordings:
        raise SerError('no recordings: the RAVDESS corpus is not in ../shared/data; give --file')
    audio_format = format_from_arguments(args)
    stream_audio, segments = compose_stream(
        [(path, truth, '') for path, truth in recordings], audio_format.sample_rate,
        np.random.default_rng(0), pause_s=(PAUSE_S, PAUSE_S))
    if launch_available():
        print('starting ser_node with ros2 launch ser_ros ser.launch.py', flush=True)
        node_process = launch_ser_node({'model_path': args.model})
    else:
        node_process = start_ser_node({'autostart': True, 'model_path': args.model},
                                      params_file())
    rclpy.init()
    node = Node('ser_demo')
    labels, received = [], []
    node.create_subscription(LabelInfo, LABEL_INFO_TOPIC,
                             lambda info: labels.extend(c.class_name for c in info.class_map),
                             LATCHED)
    player = AudioPlayer(node, audio_format, args.chunk_ms / 1000, args.stamped)
    try:
        player.publish_info()
        if not wait_for_subscribers(node, player.audio_publisher, 30.0):
            print('ser-demo: ser_node did not come up', file=sys.stderr)
            return 1
        time.sleep(0.5)
        start_ns = node.get_clock().now().nanoseconds

        def show(message):
            time_s = stamp_seconds(message.header.stamp) - start_ns * 1e-9
            best = message.results[0]
            others = ', '.join(f'{r.class_id} {r.score:.2f}' for r in message.results[1:3])
            truth = truth_at(segments, time_s)
            received.append((truth, best.class_id))
            print(f'[{time_s:6.1f} s] playing {truth:<10} heard {best.class_id:<10} '
                  f'{best.score:4.2f}  ({others})', flush=True)

        node.create_subscription(Classification, EMOTION_TOPIC, show, OUTPUT)
        duration_s = len(stream_audio) / audio_format.sample_rate
        print(f'playing {len(recordings)} recordings ({duration_s:.0f} s, '
              f'{audio_format.coding_format}) onto /audio/audio; /emotion:', flush=True)
        playing = threading.Thread(target=player.play, args=(stream_audio, args.rate), daemon=True)
        playing.start()
        while playing.is_alive():
            rclpy.spin_once(node, timeout_sec=0.05)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop(node_process)
    scored = [(truth, heard) for truth, heard in received if truth not in ('-', '?')]
    if scored:
        hits = sum(truth == heard for truth, heard in scored)
        print(f'{len(received)} estimates; during speech the published label matched the '
              f'played emotion in {hits} of {len(scored)}')
    return 0 if received else 1


def main(argv=None):
    """Run ``ser-demo``: user errors print ``ser-demo: message`` and exit 2."""
    return run_cli('ser-demo', run, argv)


if __name__ == '__main__':
    sys.exit(main())
