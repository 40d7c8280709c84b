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
Labelled audio bags: write them, read their truth and recordings, run the core over them offline.

Bags are rosbag2 (Jazzy), written and read with the ``rosbags`` library, sqlite3 by default or
mcap, so that ``ros2 bag info`` / ``ros2 bag play`` on a ROS machine read them too. A bag made
here holds what an audio_capture node would have published while people spoke:

- ``/audio/audio_info`` (AudioInfo), at the start and every 5 s;
- ``/audio/audio`` (AudioData) chunks, each at the time its last sample was captured;
- ``/audio/audio_stamped`` (AudioDataStamped), header stamp = its first sample's time;
- ``/ser/ground_truth`` (std_msgs/String, JSON ``{"start", "end", "label", "speaker",
  "path"}`` in seconds of bag time) at the start of each utterance; the same in
  ``<bag>.truth.csv`` beside the bag.

This module has no rclpy in it: :mod:`ser_ros.ros.bag_live` replays and records with rclpy, and
:mod:`ser_ros.tools.scoring` scores what was published.
"""

import csv
import json
import logging
import os

from ament_index_python.packages import get_package_share_directory
import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from ser_ros.core.audio import AudioFormat, encode_stream
from ser_ros.core.audio_common import AUDIO_TOPIC, INFO_PERIOD_S, INFO_TOPIC, \
    MICROPHONE_FRAME_ID, stamp_fields, stamp_seconds, STAMPED_TOPIC
from ser_ros.core.errors import SerError
from ser_ros.core.health import StreamHealth
from ser_ros.core.intake import AudioIntake
from ser_ros.core.recognizer import Estimate, StreamingRecognizer
from ser_ros.tools.streams import Segment

LOGGER = logging.getLogger(__name__)
TRUTH_TOPIC = '/ser/ground_truth'
STORAGES = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
#: Interface types used in bags, read from the installed packages' .msg files.
BAG_TYPES = {'audio_common_msgs': ('AudioData', 'AudioDataStamped', 'AudioInfo'),
             'vision_msgs': ('ObjectHypothesis', 'Classification', 'VisionClass', 'LabelInfo')}
#: A bag's clock starts here [s] (2024-01-01), so that stamps look like real ones.
BAG_EPOCH_S = 1_704_067_200


def check_bag(path: str) -> str:
    """
    Return ``path`` when it is a readable rosbag2 bag; raise SerError saying why not.

    Raises
    ------
    SerError
        For a missing path, or a folder or file that rosbags cannot open as a bag.

    """
    if not os.path.exists(path):
        raise SerError(f'{path}: no such bag')
    try:
        with Reader(path):
            pass
    except (ReaderError, OSError) as error:
        raise SerError(f'{path} is not a readable rosbag2 bag: {error}') from None
    return path


def typestore():
    """
    Return a Jazzy typestore that also knows audio_common_msgs and vision_msgs.

    The definitions come from the installed packages (the distro's, or the stand-ins that
    scripts/setup_env.sh builds), so the hashes are those of the messages on the wire.
    """
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for package, names in BAG_TYPES.items():
        folder = os.path.join(get_package_share_directory(package), 'msg')
        for name in names:
            with open(os.path.join(folder, f'{name}.msg')) as stream:
                types.update(get_types_from_msg(stream.read(), f'{package}/msg/{name}'))
    store.register(types)
    return store


def write_bag(path, signal, segments, audio_format, chunk_s=0.128, storage='sqlite3',
              stamped=True, bitrate_bps=64000):
    """
    Write a stream as audio_capture would have published it, with its ground truth.

    Parameters
    ----------
    path : str
        The bag folder to create (it must not exist).
    signal : numpy.ndarray, shape (n_samples,), float32
        Mono audio at ``audio_format.sample_rate``.
    segments : list of Segment
        Utterances, times relative to the stream start [s].
    audio_format : ser_ros.core.audio.AudioFormat
        How the audio is coded in the bag.
    chunk_s : float
        Audio per message [s].
    storage : str
        ``'sqlite3'`` or ``'mcap'``.
    stamped : bool
        Also write AudioDataStamped.
    bitrate_bps : int
        mp3 bit rate [bit/s].

    Returns
    -------
    list of Segment
        The segments in bag time, as written to ``<path>.truth.csv``.

    """
    store = typestore()
    types = store.types
    rate = audio_format.sample_rate
    bag_segments = [Segment(BAG_EPOCH_S + s.start_s, BAG_EPOCH_S + s.end_s, s.label, s.speaker,
                            s.path) for s in segments]
    info = types['audio_common_msgs/msg/AudioInfo'](
        channels=audio_format.channels, sample_rate=rate,
        sample_format=audio_format.sample_format,
        bitrate=audio_format.announced_bitrate(bitrate_bps),
        coding_format=audio_format.coding_format)
    with Writer(path, version=8, storage_plugin=STORAGES[storage]) as writer:
        def connect(topic, msgtype):
            return writer.add_connection(topic, msgtype, typestore=store)

        info_connection = connect(INFO_TOPIC, 'audio_common_msgs/msg/AudioInfo')
        audio_connection = connect(AUDIO_TOPIC, 'audio_common_msgs/msg/AudioData')
        stamped_connection = (connect(STAMPED_TOPIC, 'audio_common_msgs/msg/AudioDataStamped')
                              if stamped else None)
        truth_connection = connect(TRUTH_TOPIC, 'std_msgs/msg/String')
        events = [(s.start_s, 0, s) for s in bag_segments]
        events += [(BAG_EPOCH_S + t, 1, None)
                   for t in np.arange(0.0, len(signal) / rate, INFO_PERIOD_S)]
        for payload, start_s in encode_stream(signal, rate, audio_format, chunk_s, bitrate_bps):
            chunk_end_s = min(start_s + chunk_s, len(signal) / rate)
            events.append((BAG_EPOCH_S + chunk_end_s, 2, (payload, BAG_EPOCH_S + start_s)))
        for time_s, kind, item in sorted(events, key=lambda event: event[:2]):
            stamp_ns = int(round(time_s * 1e9))
            if kind == 0:
                text = json.dumps({'start': item.start_s, 'end': item.end_s,
                                   'label': item.label, 'speaker': item.speaker,
                                   'path': item.path})
                writer.write(truth_connection, stamp_ns, store.serialize_cdr(
                    types['std_msgs/msg/String'](data=text), 'std_msgs/msg/String'))
            elif kind == 1:
                writer.write(info_connection, stamp_ns, store.serialize_cdr(
                    info, 'audio_common_msgs/msg/AudioInfo'))
            elif item[0]:
                data = types['audio_common_msgs/msg/AudioData'](
                    data=np.frombuffer(item[0], np.uint8))
                writer.write(audio_connection, stamp_ns,
                             store.serialize_cdr(data, 'audio_common_msgs/msg/AudioData'))
                if stamped_connection is not None:
                    writer.write(stamped_connection, stamp_ns, store.serialize_cdr(
                        _stamped(types, item[1], data), 'audio_common_msgs/msg/AudioDataStamped'))
    write_truth_csv(truth_csv_path(path), bag_segments)
    return bag_segments


def _stamped(types, start_s, data):
    sec, nanosec = stamp_fields(start_s)
    stamp = types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec)
    header = types['std_msgs/msg/Header'](stamp=stamp, frame_id=MICROPHONE_FRAME_ID)
    return types['audio_common_msgs/msg/AudioDataStamped'](header=header, audio=data)


def truth_csv_path(bag_path):
    """Return the ground-truth CSV written beside a bag."""
    return os.path.normpath(bag_path) + '.truth.csv'


def write_truth_csv(path, segments):
    """Write segments (bag time [s]) as CSV."""
    with open(path, 'w', newline='') as stream:
        writer = csv.writer(stream)
        writer.writerow(['start_s', 'end_s', 'label', 'speaker', 'path'])
        for s in segments:
            writer.writerow([f'{s.start_s:.6f}', f'{s.end_s:.6f}', s.label, s.speaker, s.path])


def read_truth(bag_path):
    """
    Return a bag's ground truth, from the bag's truth topic (the CSV when the topic is absent).

    Returns
    -------
    list of Segment
        Bag time [s].

    """
    store = typestore()
    with Reader(bag_path) as reader:
        connections = [c for c in reader.connections if c.topic == TRUTH_TOPIC]
        segments = [_segment_from_json(store.deserialize_cdr(raw, c.msgtype).data)
                    for c, _, raw in reader.messages(connections=connections)]
    if segments:
        return segments
    with open(truth_csv_path(bag_path), newline='') as stream:
        return [Segment(float(row['start_s']), float(row['end_s']), row['label'],
                        row['speaker'], row['path']) for row in csv.DictReader(stream)]


def _segment_from_json(text):
    values = json.loads(text)
    return Segment(values['start'], values['end'], values['label'], values.get('speaker', ''),
                   values.get('path', ''))


def read_published(bag_path, topic):
    """
    Read a recorded Classification topic such as ``/emotion``.

    Recordings of ``ser-bag record`` and of ``ros2 bag record`` alike.

    Returns
    -------
    list of (time_s, label, confidence)
        Header stamp [s], first (best) result and its score, in stamp order.

    """
    store = typestore()
    published = []
    with Reader(bag_path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=connections):
            message = store.deserialize_cdr(raw, connection.msgtype)
            if message.results:
                best = message.results[0]
                published.append((stamp_seconds(message.header.stamp), best.class_id,
                                  best.score))
    return sorted(published)


def run_offline(bag_path: str, recognizer: StreamingRecognizer, stamped: bool = True,
                speaker_changes: list[tuple[float, str]] | None = None) -> list[Estimate]:
    """
    Run the recogniser over a bag's audio as the node would, without ROS.

    The messages go through the node's own :class:`~ser_ros.core.intake.AudioIntake`: the
    same decoding, admission checks and, for unstamped audio, the same sample clock, driven by
    the bag's receive times (re-anchored after a gap in the recording).

    Parameters
    ----------
    bag_path : str
        A bag with audio_common topics.
    recognizer : StreamingRecognizer
        Reset first.
    stamped : bool
        Use AudioDataStamped header stamps (as the node with ``stamped_input``); otherwise
        AudioData timed by the sample clock from the bag's receive times.
    speaker_changes : list of (time_s, speaker), optional
        Who speaks from when (bag time [s], in order), as a diariser would say it on the node's
        ``speaker_topic``: given to the recogniser before the chunk that reaches that time.

    Returns
    -------
    list of Estimate

    """
    store = typestore()
    changes = list(speaker_changes or [])
    rate_hz = recognizer.config.sample_rate_hz
    recognizer.reset()
    intake = AudioIntake(rate_hz, StreamHealth(), LOGGER, max_queue_s=float('inf'))
    audio_topic = STAMPED_TOPIC if stamped else AUDIO_TOPIC
    estimates = []
    with Reader(bag_path) as reader:
        connections = [c for c in reader.connections if c.topic in (audio_topic, INFO_TOPIC)]
        for connection, timestamp_ns, raw in reader.messages(connections=connections):
            message = store.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == INFO_TOPIC:
                intake.set_format(AudioFormat.from_info(message), 'AudioInfo')
            elif intake.decoder is not None:
                if stamped:
                    intake.accept(message.audio.data.tobytes(),
                                  stamp_seconds(message.header.stamp), timestamp_ns * 1e-9,
                                  message.header.frame_id)
                else:
                    intake.accept(message.data.tobytes(), None, timestamp_ns * 1e-9)
                chunks, reset = intake.take(wait_s=None)
                if reset:
                    recognizer.reset()
                for chunk in chunks:
                    chunk_end_s = chunk.start_s + len(chunk.samples) / rate_hz
                    while changes and changes[0][0] < chunk_end_s:
                        recognizer.set_speaker(changes.pop(0)[1])
                    estimates += recognizer.push(chunk.samples, chunk.start_s)
    return estimates
