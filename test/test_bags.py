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

"""Bags: made from test audio, replayed to the node in its own process, recorded and scored."""

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from ser_ros.core.audio import AudioFormat
from ser_ros.core.bundle import save_bundle
from ser_ros.core.recognizer import Estimate, StreamingRecognizer
from ser_ros.ros.bag_live import run_live
from ser_ros.tools.bags import read_published, read_truth, run_offline, truth_csv_path, \
    typestore, write_bag
from ser_ros.tools.scoring import estimates_as_published, score_stream, score_windows
from ser_ros.tools.streams import compose_stream, Segment
from std_msgs.msg import String
from synthetic import speech_like, tiny_bundle

RCLPY_TYPES = {'audio_common_msgs/msg/AudioData': AudioData,
               'audio_common_msgs/msg/AudioDataStamped': AudioDataStamped,
               'audio_common_msgs/msg/AudioInfo': AudioInfo, 'std_msgs/msg/String': String}


def test_score_stream_on_a_hand_made_case():
    segments = [Segment(0.0, 2.0, 'angry'), Segment(3.0, 5.0, 'sad')]
    published = [(0.5, 'angry', 0.9), (1.0, 'angry', 0.9), (3.5, 'angry', 0.6),
                 (4.0, 'sad', 0.7), (4.5, 'sad', 0.8)]
    score = score_stream(published, segments, hold_s=2.0, grid_s=0.5)
    # Grid: angry at 0.0 (no estimate yet), 0.5..1.5 right; sad at 3.0 (angry of t=1.0 still
    # held: 2.0 s old) and 3.5 wrong, 4.0 and 4.5 right.
    assert score['accuracy'] == pytest.approx(5 / 8)
    assert score['unweighted_accuracy'] == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert score['coverage'] == pytest.approx(7 / 8)
    assert score['median_delay_s'] == pytest.approx(1.0)
    assert score['changes_detected'] == 1.0
    assert score['changes_per_minute'] == pytest.approx(1 / (5 / 60))


def test_score_windows_on_a_hand_made_case():
    labels = ['neutral', 'angry', 'sad']
    segments = [Segment(0.0, 3.0, 'angry', 'a:1'), Segment(3.5, 6.0, 'sad', 'a:1'),
                Segment(6.5, 9.0, 'neutral', 'b:2')]

    def window(end_s, probabilities, is_speech=True):
        probabilities = np.array(probabilities)
        return Estimate(end_s, is_speech, 1.0, None, 0.0, probabilities,
                        probabilities if is_speech else None)

    estimates = [window(2.0, [0.2, 0.7, 0.1]),   # inside the angry utterance: right
                 window(3.0, [0.1, 0.3, 0.6]),   # inside it too: wrong
                 window(4.5, [0.1, 0.7, 0.2]),   # 0.5 s angry, 1 s sad: sad's; wrong
                 window(5.0, [0.2, 0.2, 0.6], is_speech=False),   # not speech: not scored
                 window(6.0, [0.1, 0.2, 0.7]),   # inside the sad utterance: right
                 window(9.0, [0.1, 0.5, 0.4])]   # inside neutral, corpus b has only neutral
    score = score_windows(estimates, segments, labels, window_s=2.0)
    assert score['windows'] == 5
    assert score['inside_share'] == pytest.approx(4 / 5)
    assert score['accuracy'] == pytest.approx(2 / 5)
    assert score['accuracy_inside'] == pytest.approx(2 / 4)
    assert score['accuracy_straddling'] == 0.0
    # Restricted to corpus b's one label the last window is right: 3 of 5; corpus a's UA is
    # (angry 1/2 + sad 1/2) / 2, corpus b's 1.
    assert score['accuracy_restricted'] == pytest.approx(3 / 5)
    assert score['unweighted_accuracy_restricted'] == pytest.approx((0.5 + 1) / 2)


@pytest.fixture(scope='module')
def stream():
    pieces, segments, position = [], [], 0.0
    for index, (label, pitch) in enumerate([('angry', 300.0), ('angry', 290.0),
                                            ('sad', 90.0), ('neutral', 130.0)]):
        pause = np.zeros(8000, np.float32)
        speech = speech_like(1.5, pitch_hz=pitch, seed=index)
        pieces += [pause, speech]
        segments.append(Segment(position + 0.5, position + 2.0, label, 'test:1'))
        position += 2.0
    return np.concatenate(pieces + [np.zeros(8000, np.float32)]), segments


@pytest.mark.parametrize('storage, coding', [('sqlite3', 'wave'), ('mcap', 'mp3')])
def test_bag_messages_deserialize_with_rclpy_into_the_same_messages(
        tmp_path, stream, storage, coding):
    signal, segments = stream
    bag = str(tmp_path / 'bag')
    write_bag(bag, signal, segments, AudioFormat(coding_format=coding), storage=storage)
    store = typestore()
    counts = {}
    with Reader(bag) as reader:
        for connection, _, raw in reader.messages():
            ours = store.deserialize_cdr(raw, connection.msgtype)
            theirs = deserialize_message(raw, RCLPY_TYPES[connection.msgtype])
            counts[connection.topic] = counts.get(connection.topic, 0) + 1
            if connection.msgtype.endswith('AudioData'):
                assert bytes(theirs.data) == ours.data.tobytes()
            elif connection.msgtype.endswith('AudioDataStamped'):
                assert bytes(theirs.audio.data) == ours.audio.data.tobytes()
                assert theirs.header.stamp.sec == ours.header.stamp.sec
            elif connection.msgtype.endswith('AudioInfo'):
                assert (theirs.sample_rate, theirs.coding_format) == (16000, coding)
            else:
                assert theirs.data == ours.data
    assert counts['/ser/ground_truth'] == 4 and counts['/audio/audio_info'] == 2
    assert counts['/audio/audio'] == counts['/audio/audio_stamped'] > 50
    truth = read_truth(bag)
    assert [s.label for s in truth] == ['angry', 'angry', 'sad', 'neutral']
    assert truth[0].start_s == pytest.approx(1_704_067_200.5)
    assert (tmp_path / 'bag.truth.csv').is_file() and truth_csv_path(bag).endswith('.truth.csv')


@pytest.mark.parametrize('storage, coding', [('sqlite3', 'wave'), ('mcap', 'mp3')])
def test_live_run_on_a_replayed_bag_scores_like_the_offline_run(
        tmp_path, stream, storage, coding):
    signal, segments = stream
    bundle = tiny_bundle(window_s=1.0, hop_s=0.25)
    model = save_bundle(bundle, str(tmp_path / 'model'))
    bag = str(tmp_path / 'bag')
    write_bag(bag, signal, segments, AudioFormat(coding_format=coding), storage=storage)
    recording = str(tmp_path / 'recording')
    count = run_live(bag, recording, model, rate=4.0, storage=storage)
    live = read_published(recording, '/emotion')
    live_raw = read_published(recording, '/emotion/raw')
    assert count == len(live) + len(live_raw) and len(live) >= 10
    estimates = run_offline(bag, StreamingRecognizer(bundle))
    offline = estimates_as_published(estimates, bundle.labels)
    # Same audio, same stamps, same code: the same estimates, to float precision.
    assert [round(p[0], 6) for p in live] == [round(p[0], 6) for p in offline]
    assert [p[1] for p in live] == [p[1] for p in offline]
    np.testing.assert_allclose([p[2] for p in live], [p[2] for p in offline], atol=1e-5)
    truth = read_truth(bag)
    assert score_stream(live, truth) == score_stream(offline, truth)


def test_compose_stream_places_segments_and_noise(tmp_path):
    import soundfile
    paths = []
    for index in range(3):
        path = tmp_path / f'{index}.wav'
        soundfile.write(path, speech_like(1.0, seed=index), 16000)
        paths.append((str(path), 'happy', 's'))
    signal, segments = compose_stream(paths, 16000, np.random.default_rng(0), snr_db=20.0)
    assert len(segments) == 3
    assert all(0.4 <= later.start_s - earlier.end_s <= 1.5
               for earlier, later in zip(segments, segments[1:]))
    pause = signal[:int(segments[0].start_s * 16000)]
    assert 0 < np.sqrt(np.mean(pause ** 2)) < 0.05


def test_an_offline_run_can_be_told_who_speaks(tmp_path, stream):
    signal, segments = stream
    truth = write_bag(str(tmp_path / 'turns.bag'), signal, segments, AudioFormat())
    # The third utterance is someone else's: the change reaches the recogniser as the node's
    # speaker_topic would, before the audio of that utterance.
    changes = [(truth[0].start_s, 'test:1'), (truth[2].start_s, 'test:2')]

    class Recording(StreamingRecognizer):
        def set_speaker(self, speaker):
            self.heard_at = getattr(self, 'heard_at', []) + [(self.samples_seen, speaker)]
            return super().set_speaker(speaker)
    recognizer = Recording(tiny_bundle())
    told = run_offline(str(tmp_path / 'turns.bag'), recognizer, speaker_changes=changes)
    untold = run_offline(str(tmp_path / 'turns.bag'), StreamingRecognizer(tiny_bundle()))
    assert [speaker for _, speaker in recognizer.heard_at] == ['test:1', 'test:2']
    change_sample = recognizer.heard_at[1][0]
    assert change_sample / 16000 <= segments[2].start_s < change_sample / 16000 + 0.2
    assert recognizer.speaker == 'test:2' and len(told) == len(untold)
    # Estimates before the change are the same; after it the statistics differ.
    change_s = truth[2].start_s
    for with_ids, without in zip(told, untold):
        if with_ids.end_time_s < change_s - 0.2:  # (the change comes with a whole chunk)
            assert with_ids.probabilities == pytest.approx(without.probabilities)
    assert any(not np.allclose(a.probabilities, b.probabilities) for a, b in zip(told, untold))
