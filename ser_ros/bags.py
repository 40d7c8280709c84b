"""
Labelled audio bags: make them, run the recogniser over them offline, and score estimates.

Bags are rosbag2 (Jazzy), written and read with the ``rosbags`` library, sqlite3 by default or
mcap, so that ``ros2 bag info`` / ``ros2 bag play`` on a ROS machine read them too. A bag made
here holds what an audio_capture node would have published while people spoke:

- ``/audio/audio_info`` (AudioInfo), at the start and every 5 s;
- ``/audio/audio`` (AudioData) chunks, each at the time its last sample was captured;
- ``/audio/audio_stamped`` (AudioDataStamped), header stamp = its first sample's time;
- ``/ser/ground_truth`` (std_msgs/String, JSON ``{"start", "end", "label", "speaker",
  "path"}`` in seconds of bag time) at the start of each utterance; the same in
  ``<bag>.truth.csv`` beside the bag.

This module has no rclpy in it: :mod:`ser_ros.bag_ros` replays and records with rclpy.
"""

import csv
from dataclasses import dataclass
import json
import os

from ament_index_python.packages import get_package_share_directory
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from scipy.signal import lfilter

from ser_ros.audio import AudioFormat, encode_stream, load_audio, StreamDecoder

AUDIO_TOPIC = '/audio/audio'
STAMPED_TOPIC = '/audio/audio_stamped'
INFO_TOPIC = '/audio/audio_info'
TRUTH_TOPIC = '/ser/ground_truth'
INFO_PERIOD_S = 5.0
STORAGES = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
#: Interface types used in bags, read from the installed packages' .msg files.
BAG_TYPES = {'audio_common_msgs': ('AudioData', 'AudioDataStamped', 'AudioInfo'),
             'vision_msgs': ('ObjectHypothesis', 'Classification', 'VisionClass', 'LabelInfo')}
#: A bag's clock starts here [s] (2024-01-01), so that stamps look like real ones.
BAG_EPOCH_S = 1_704_067_200


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


@dataclass(frozen=True)
class Segment:
    """
    One utterance in a stream.

    Attributes
    ----------
    start_s, end_s : float
        Bag time of its first and last sample [s].
    label : str
    speaker, path : str

    """

    start_s: float
    end_s: float
    label: str
    speaker: str = ''
    path: str = ''


def plan_turns(items, generator, max_repeats=3):
    """
    Order labelled recordings into turns: one speaker keeps one emotion for 1-3 utterances.

    Emotions in conversation last longer than one sentence; a stream where every sentence
    changes emotion would reward no smoothing at all.

    Parameters
    ----------
    items : list of (path, label, speaker)
        Labelled recordings.
    generator : numpy.random.Generator
        Source of the order and of the turn lengths.
    max_repeats : int
        Most utterances in one turn.

    Returns
    -------
    list of (path, label, speaker)

    """
    groups = {}
    for item in items:
        groups.setdefault((item[2], item[1]), []).append(item)
    turns = []
    for members in groups.values():
        members = [members[i] for i in generator.permutation(len(members))]
        while members:
            size = int(generator.integers(1, max_repeats + 1))
            turns.append(members[:size])
            members = members[size:]
    return [item for index in generator.permutation(len(turns)) for item in turns[index]]


def compose_stream(items, rate_hz, generator, pause_s=(0.4, 1.5), snr_db=None):
    """
    Join recordings into one stream with pauses and optional background noise.

    Parameters
    ----------
    items : list of (path, label, speaker)
        In playing order.
    rate_hz : int
        Rate of the stream [Hz].
    generator : numpy.random.Generator
        Source of the pause lengths and the noise.
    pause_s : tuple of float
        Range of the pause before each utterance [s].
    snr_db : float, optional
        Background noise (brownish, steady) at this ratio to the mean speech power [dB].

    Returns
    -------
    signal : numpy.ndarray, shape (n_samples,), float32
    segments : list of Segment
        Times relative to the start of the stream [s].

    """
    pieces, segments, position = [], [], 0
    for path, label, speaker in items:
        pause = np.zeros(int(generator.uniform(*pause_s) * rate_hz), np.float32)
        audio = load_audio(path, rate_hz)
        pieces += [pause, audio]
        start = position + len(pause)
        segments.append(Segment(start / rate_hz, (start + len(audio)) / rate_hz, label, speaker,
                                path))
        position = start + len(audio)
    pieces.append(np.zeros(int(pause_s[1] * rate_hz), np.float32))
    signal = np.concatenate(pieces)
    if snr_db is not None:
        speech = np.concatenate([signal[int(s.start_s * rate_hz):int(s.end_s * rate_hz)]
                                 for s in segments])
        noise = lfilter([1.0], [1.0, -0.9], generator.standard_normal(len(signal)))
        noise *= np.sqrt(np.mean(speech ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
        signal = np.clip(signal + noise.astype(np.float32), -1.0, 1.0)
    return signal, segments


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
    audio_format : ser_ros.audio.AudioFormat
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
    bitrate = (bitrate_bps if audio_format.coding == 'mp3'
               else rate * audio_format.bytes_per_frame * 8)
    info = types['audio_common_msgs/msg/AudioInfo'](
        channels=audio_format.channels, sample_rate=rate,
        sample_format=audio_format.sample_format, bitrate=bitrate,
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
    nanoseconds = int(round(start_s * 1e9))
    stamp = types['builtin_interfaces/msg/Time'](sec=nanoseconds // 1_000_000_000,
                                                 nanosec=nanoseconds % 1_000_000_000)
    header = types['std_msgs/msg/Header'](stamp=stamp, frame_id='microphone')
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
                stamp = message.header.stamp
                best = message.results[0]
                published.append((stamp.sec + stamp.nanosec * 1e-9, best.class_id, best.score))
    return sorted(published)


def run_offline(bag_path, recognizer, stamped=True):
    """
    Run the recogniser over a bag's audio, as the node would, without ROS.

    Parameters
    ----------
    bag_path : str
        A bag with audio_common topics.
    recognizer : ser_ros.recognizer.StreamingRecognizer
        Reset first.
    stamped : bool
        Use AudioDataStamped header stamps (as the node with ``stamped_input``); otherwise
        AudioData with a sample clock started at the first chunk's bag time.

    Returns
    -------
    list of ser_ros.recognizer.Estimate

    """
    store = typestore()
    recognizer.reset()
    audio_topic = STAMPED_TOPIC if stamped else AUDIO_TOPIC
    decoder, estimates, clock_s = None, [], None
    rate = recognizer.config.sample_rate_hz
    with Reader(bag_path) as reader:
        connections = [c for c in reader.connections if c.topic in (audio_topic, INFO_TOPIC)]
        for connection, timestamp_ns, raw in reader.messages(connections=connections):
            message = store.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == INFO_TOPIC:
                audio_format = AudioFormat(int(message.channels), int(message.sample_rate),
                                           message.sample_format, message.coding_format)
                if decoder is None or decoder.audio_format != audio_format:
                    decoder = StreamDecoder(audio_format, rate)
                continue
            if decoder is None:
                continue
            if stamped:
                payload = message.audio.data.tobytes()
                start_s = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
            else:
                payload = message.data.tobytes()
            samples = decoder.decode(payload)
            if not stamped:
                if clock_s is None:
                    clock_s = timestamp_ns * 1e-9 - len(samples) / rate
                start_s, clock_s = clock_s, clock_s + len(samples) / rate
            estimates += recognizer.push(samples, start_s)
    return estimates
