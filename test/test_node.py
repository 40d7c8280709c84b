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

"""ser_node in its own process, over real DDS: audio in, smoothed /emotion out, faults survived."""

import time

from audio_common_msgs.msg import AudioData, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import RosPeer, start_process, stop_process, wait_for_line
from ser_ros.core.audio import AudioFormat
from ser_ros.core.bundle import save_bundle
from ser_ros.ros.player import AudioPlayer
from ser_ros.ros.qos import LATCHED, RELIABLE_STREAM as RELIABLE
from std_msgs.msg import String
from synthetic import silence, speech_like, tiny_bundle
from vision_msgs.msg import Classification, LabelInfo


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_bundle(tiny_bundle(window_s=1.0, hop_s=0.25),
                       str(tmp_path_factory.mktemp('model') / 'tiny'))


def start_node(model_path, *parameters):
    args = ['--ros-args', '-p', f'model_path:={model_path}', '-p', 'autostart:=true']
    for parameter in parameters:
        args += ['-p', parameter]
    node = start_process(*args, module='ser_ros.ros.node')
    return node


class Listener:
    """Collects what the node publishes."""

    def __init__(self, peer):
        self.emotion, self.raw, self.label_info, self.diagnostics = [], [], [], []
        node = peer.node
        node.create_subscription(Classification, '/emotion', self.emotion.append, RELIABLE)
        node.create_subscription(Classification, '/emotion/raw', self.raw.append, RELIABLE)
        node.create_subscription(LabelInfo, '/emotion/label_info', self.label_info.append,
                                 LATCHED)
        node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append,
                                 RELIABLE)

    def last_values(self):
        status = self.diagnostics[-1].status[0]
        return status, {value.key: value.value for value in status.values}

    def values(self):
        """Return the last diagnostics values, or nothing before the first report."""
        return self.last_values()[1] if self.diagnostics else {}


def publish_pcm(audio, signal):
    """Publish ``signal`` as 16-bit PCM in AudioData messages of 4096 bytes."""
    payload = (np.clip(signal, -1, 1) * 32767).astype('<i2').tobytes()
    for start in range(0, len(payload), 4096):
        audio.publish(AudioData(data=payload[start:start + 4096]))


def check_stream(messages, label_info):
    names = {entry.class_name for entry in label_info.class_map}
    assert [entry.class_id for entry in label_info.class_map] == list(range(len(names)))
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in messages]
    assert all(later > earlier for earlier, later in zip(stamps, stamps[1:]))
    for message in messages:
        scores = [result.score for result in message.results]
        assert {result.class_id for result in message.results} == names
        assert sum(scores) == pytest.approx(1.0, abs=1e-6)
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize('coding', ['wave', 'mp3'])
def test_audio_stream_gives_smoothed_classifications(model_path, coding):
    node = start_node(model_path, 'publish_raw:=true')
    try:
        wait_for_line(node, 'active')
        with RosPeer() as peer:
            listener = Listener(peer)
            player = AudioPlayer(peer.node, AudioFormat(coding_format=coding))
            player.publish_info()
            assert peer.spin_until(lambda: player.audio_publisher.get_subscription_count() > 0
                                   and listener.label_info)
            player.play(np.concatenate([speech_like(3.0), silence(1.0)]), rate=4.0)
            # 3 s of speech, 1 s windows every 0.25 s: about nine windows with speech.
            assert peer.spin_until(lambda: len(listener.emotion) >= 8 and listener.diagnostics)
        check_stream(listener.emotion, listener.label_info[0])
        check_stream(listener.raw, listener.label_info[0])
        status, values = listener.last_values()
        assert values['lifecycle_state'] == 'active' and values['model'] == 'tiny'
        assert values['rejected'] == '0'
    finally:
        output = stop_process(node)
    assert 'Traceback' not in output


GOOD_INFO = AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE', bitrate=256000,
                      coding_format='wave')


def open_stream(peer, listener):
    """
    Publish a valid AudioInfo; return (info, audio) publishers once the node has the format.

    The audio subscription can match before the latched AudioInfo is delivered (two topics,
    two discoveries); audio sent in between is rightly rejected as ``no_format``. So wait for
    a diagnostics report that no longer says the format is missing.
    """
    info = peer.node.create_publisher(AudioInfo, '/audio/audio_info', LATCHED)
    audio = peer.node.create_publisher(AudioData, '/audio/audio', RELIABLE)
    info.publish(GOOD_INFO)
    assert peer.spin_until(lambda: audio.get_subscription_count() > 0)
    assert peer.spin_until(lambda: bool(listener.diagnostics) and
                           listener.last_values()[0].message != 'no usable audio format')
    return info, audio


def test_malformed_messages_are_rejected_counted_and_survived(model_path):
    node = start_node(model_path, 'max_chunk_s:=2.0', 'diagnostics_period_s:=0.2')
    try:
        wait_for_line(node, 'active')
        with RosPeer() as peer:
            listener = Listener(peer)
            info, audio = open_stream(peer, listener)

            def rejected(kind, at_least=1):
                """Wait until diagnostics count ``at_least`` rejections of this kind."""
                def counted():
                    values = listener.values()
                    return int(values.get(f'rejected_{kind}', 0)) >= at_least
                assert peer.spin_until(counted, timeout=10.0), kind

            bad_formats = [
                AudioInfo(channels=1, sample_rate=16000, sample_format='S20LE',
                          coding_format='wave'),                             # unknown format
                AudioInfo(channels=1, sample_rate=12, sample_format='S16LE',
                          coding_format='wave'),                             # absurd rate
                AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE',
                          coding_format='opus')]                             # unknown coding
            audio.publish(AudioData(data=bytes(3)))                          # odd byte count
            rejected('malformed')
            audio.publish(AudioData(data=b''))                               # empty
            rejected('empty')
            audio.publish(AudioData(data=bytes(16000 * 2 * 5)))              # 5 s > max_chunk_s
            rejected('huge')
            for count, bad_format in enumerate(bad_formats, start=1):
                info.publish(bad_format)
                rejected('format', count)
                if count == 1:
                    audio.publish(AudioData(data=bytes(3200)))               # ...so no format
                    rejected('no_format')
            info.publish(GOOD_INFO)
            peer.spin_until(lambda: False, timeout=0.3)
            publish_pcm(audio, speech_like(2.0))
            assert peer.spin_until(lambda: len(listener.emotion) >= 3)
        assert int(listener.last_values()[1]['rejected']) == 7
        assert node.poll() is None
    finally:
        output = stop_process(node)
    assert 'rejected audio' in output and 'Traceback' not in output


def call(peer, client, request):
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(request)
    assert peer.spin_until(future.done)
    return future.result()


def test_a_missing_model_fails_configure_with_a_clear_message(tmp_path):
    node = start_node(str(tmp_path / 'no_model'))
    try:
        lines = wait_for_line(node, 'cannot configure')
        assert 'no_model does not exist' in lines[-1]
        with RosPeer() as peer:
            client = peer.node.create_client(GetState, '/ser_node/get_state')
            assert call(peer, client, GetState.Request()).current_state.label == 'unconfigured'
        assert node.poll() is None
    finally:
        stop_process(node)


def parameter(name, value):
    if isinstance(value, float):
        wrapped = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        wrapped = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return Parameter(name=name, value=wrapped)


def test_input_parameters_are_locked_while_active_and_smoothing_is_live(model_path):
    node = start_node(model_path)
    try:
        wait_for_line(node, 'active')
        with RosPeer() as peer:
            client = peer.node.create_client(SetParameters, '/ser_node/set_parameters')
            results = call(peer, client, SetParameters.Request(parameters=[
                parameter('audio_topic', '/elsewhere')])).results
            assert not results[0].successful and 'unconfigured' in results[0].reason
            results = call(peer, client, SetParameters.Request(parameters=[
                parameter('max_queue_s', -1.0)])).results
            assert not results[0].successful and 'must be > 0' in results[0].reason
            results = call(peer, client, SetParameters.Request(parameters=[
                parameter('dwell_s', 1.0)])).results
            assert results[0].successful
        time.sleep(0.2)
        assert node.poll() is None
    finally:
        stop_process(node)


def test_bursts_format_changes_and_pauses_are_survived_with_a_bounded_queue(model_path):
    node = start_node(model_path, 'max_queue_s:=3.0', 'audio_qos_reliability:=reliable',
                      'audio_qos_depth:=1000')
    try:
        wait_for_line(node, 'active')
        with RosPeer() as peer:
            listener = Listener(peer)
            info, audio = open_stream(peer, listener)
            # A burst: 30 s of audio at once, ten times max_queue_s: the oldest is dropped.
            publish_pcm(audio, speech_like(30.0))
            assert peer.spin_until(lambda: len(listener.emotion) >= 3)
            peer.spin_until(lambda: False, timeout=1.5)            # a pause
            # The format changes mid-stream: 48 kHz stereo float.
            info.publish(AudioInfo(channels=2, sample_rate=48000, sample_format='F32LE',
                                   coding_format='wave'))
            peer.spin_until(lambda: False, timeout=0.3)
            before = len(listener.emotion)
            stereo = np.repeat(speech_like(3.0, rate_hz=48000)[:, None], 2, axis=1)
            payload = stereo.astype('<f4').tobytes()
            for start in range(0, len(payload), 16384):
                audio.publish(AudioData(data=payload[start:start + 16384]))
            assert peer.spin_until(lambda: len(listener.emotion) >= before + 5)

            def reported():
                values = listener.values()
                return values.get('format_changes') == '1' and float(values['dropped_s']) > 0
            assert peer.spin_until(reported, timeout=5.0)
        status, values = listener.last_values()
        assert float(values['queue_s']) <= 3.5
        assert float(values['dropped_s']) >= 10.0
        check_stream(listener.emotion, listener.label_info[0])
        assert node.poll() is None
    finally:
        output = stop_process(node)
    assert 'inference cannot keep up' in output and 'Traceback' not in output


def test_speaker_ids_switch_statistics_and_are_counted(model_path):
    node = start_node(model_path, 'diagnostics_period_s:=0.2', 'audio_qos_reliability:=reliable')
    try:
        wait_for_line(node, 'active')
        with RosPeer() as peer:
            listener = Listener(peer)
            info, audio = open_stream(peer, listener)
            speaker = peer.node.create_publisher(String, '/speaker_id', 10)
            assert peer.spin_until(lambda: speaker.get_subscription_count() > 0)
            speech = speech_like(6.0)[:2 * 16000]
            # Two speakers in turn, the second with a hostile 100 kB name (cut, not logged).
            for name in ('alice', 'x' * 100_000, 'alice'):
                speaker.publish(String(data=name))
                peer.spin_until(lambda: False, timeout=0.3)
                publish_pcm(audio, speech)
                peer.spin_until(lambda: False, timeout=0.5)

            def counted():
                values = listener.values()
                return values.get('speaker_changes') == '3'
            assert peer.spin_until(counted, timeout=5.0)
            check_stream(listener.emotion, listener.label_info[0])
        assert node.poll() is None
    finally:
        output = stop_process(node)
    assert 'Traceback' not in output and 'x' * 100 not in output


def test_the_trained_gate_publishes_nothing_for_loud_noise(model_path):
    # The tiny model runs the energy gate; the vad parameter puts the network in its place.
    node = start_node(model_path, 'vad:=silero', 'diagnostics_period_s:=0.2',
                      'audio_qos_reliability:=reliable')
    try:
        wait_for_line(node, 'silero voice-activity gate')
        with RosPeer() as peer:
            listener = Listener(peer)
            info, audio = open_stream(peer, listener)
            publish_pcm(audio, np.random.default_rng(0).uniform(-0.9, 0.9, 4 * 16000))

            def windows_counted():
                values = listener.values()
                return int(values.get('windows', 0)) >= 8
            assert peer.spin_until(windows_counted, timeout=10.0)
            assert listener.last_values()[1]['speech_windows'] == '0'
            assert not listener.emotion
            publish_pcm(audio, speech_like(3.0))
            assert peer.spin_until(lambda: len(listener.emotion) >= 2, timeout=10.0)
        assert node.poll() is None
    finally:
        stop_process(node)
