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
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.node import Node

from ser_ros.audio import load_audio
from ser_ros.corpora import read_ravdess
from ser_ros.player import add_format_arguments, AudioPlayer, format_from_arguments, \
    wait_for_subscribers
from ser_ros.qos import LATCHED
from vision_msgs.msg import Classification, LabelInfo

#: Default demo material: one strong-intensity sentence per emotion of a held-out actor.
DEMO_ACTOR = 'ravdess:24'
DEMO_EMOTIONS = ('neutral', 'angry', 'sad', 'happy', 'fearful', 'surprised', 'disgust')
PAUSE_S = 1.0


def shared_data_folder():
    """Return the shared corpora folder: $SER_ROS_DATA, or ../shared/data beside the checkout."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.environ.get('SER_ROS_DATA', ''), os.path.join(os.getcwd(), '..', 'shared',
                                                                   'data'),
                  os.path.join(here, '..', 'shared', 'data')]
    return next((path for path in candidates if path and os.path.isdir(path)), None)


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


def programme(recordings, rate_hz):
    """
    Join recordings with pauses into one signal.

    Returns
    -------
    signal : numpy.ndarray, shape (n_samples,), float32
    segments : list of (start_s, end_s, truth)

    """
    pieces, segments, position = [], [], 0
    pause = np.zeros(int(PAUSE_S * rate_hz), np.float32)
    for path, truth in recordings:
        audio = load_audio(path, rate_hz)
        pieces += [pause, audio]
        start = position + len(pause)
        segments.append((start / rate_hz, (start + len(audio)) / rate_hz, truth))
        position = start + len(audio)
    pieces.append(pause)
    return np.concatenate(pieces), segments


def truth_at(segments, time_s):
    """Return the truth label of the segment around ``time_s``, or '-' in a pause."""
    return next((truth for start, end, truth in segments if start <= time_s <= end + 0.5), '-')


def start_node(model_path, params_file):
    """Start ser_node in its own process with the parameters file; return the process."""
    command = [sys.executable, '-m', 'ser_ros.node', '--ros-args', '-p', 'autostart:=true']
    if params_file:
        command[4:4] = ['--params-file', params_file]
    if model_path:
        command += ['-p', f'model_path:={model_path}']
    return subprocess.Popen(command)


def installed_params_file():
    """Return share/ser_ros/config/ser.yaml, or None when ser_ros is not installed."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = os.path.join(get_package_share_directory('ser_ros'), 'config', 'ser.yaml')
    except (LookupError, ValueError):
        return None
    return path if os.path.isfile(path) else None


def main(argv=None):
    """Run ``ser-demo``."""
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
        print('ser-demo: no recordings: the RAVDESS corpus is not in ../shared/data; give '
              '--file', file=sys.stderr)
        return 2
    audio_format = format_from_arguments(args)
    stream_audio, segments = programme(recordings, audio_format.sample_rate)
    node_process = start_node(args.model, installed_params_file())
    rclpy.init()
    node = Node('ser_demo')
    labels, received = [], []
    node.create_subscription(LabelInfo, '/emotion/label_info',
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
            time_s = (message.header.stamp.sec * 1e9 + message.header.stamp.nanosec
                      - start_ns) / 1e9
            best = message.results[0]
            others = ', '.join(f'{r.class_id} {r.score:.2f}' for r in message.results[1:3])
            truth = truth_at(segments, time_s)
            received.append((truth, best.class_id))
            print(f'[{time_s:6.1f} s] playing {truth:<10} heard {best.class_id:<10} '
                  f'{best.score:4.2f}  ({others})', flush=True)

        node.create_subscription(Classification, '/emotion', show, 10)
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
        node_process.send_signal(signal.SIGINT)
        node_process.wait(10)
    scored = [(truth, heard) for truth, heard in received if truth not in ('-', '?')]
    if scored:
        hits = sum(truth == heard for truth, heard in scored)
        print(f'{len(received)} estimates; during speech the published label matched the '
              f'played emotion in {hits} of {len(scored)}')
    return 0 if received else 1


if __name__ == '__main__':
    sys.exit(main())
