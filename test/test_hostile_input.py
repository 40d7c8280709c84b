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

"""What a hostile or careless user broke: each case failed before its fix."""


import numpy as np
import pytest
from ros_harness import RosPeer, start_process, stop_process, wait_for_line
from ser_ros.core.audio import AudioFormat, AudioFormatError, load_audio
from ser_ros.core.bundle import save_bundle
from ser_ros.core.health import StreamHealth
from ser_ros.core.intake import AudioIntake
from ser_ros.core.recognizer import predict_utterance, StreamingRecognizer
import soundfile
from synthetic import RATE_HZ, Recorder, speech_like, tiny_bundle


def test_a_file_with_infinite_and_nan_samples_is_classified_with_finite_numbers(tmp_path):
    signal = speech_like(2.0)
    signal[100:200] = np.inf
    signal[300:310] = -np.inf
    signal[400] = np.nan
    soundfile.write(tmp_path / 'inf.wav', signal, RATE_HZ, subtype='FLOAT')
    samples = load_audio(tmp_path / 'inf.wav', RATE_HZ)
    assert np.all(np.isfinite(samples)) and np.abs(samples).max() <= 1.0
    result = predict_utterance(StreamingRecognizer(tiny_bundle()), samples)
    assert np.all(np.isfinite(result.probabilities)) and np.isfinite(result.confidence)


def test_undecodable_mp3_is_counted_and_warned():
    health, logger = StreamHealth(), Recorder()
    intake = AudioIntake(RATE_HZ, health, logger)
    intake.set_format(AudioFormat(coding_format='mp3'), 'AudioInfo')
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    for index in range(10):
        intake.accept(garbage, None, arrival_s=float(index))
    assert health.counts()['rejected_undecodable'] >= 5
    assert any('undecodable' in warning or 'no audio decoded' in warning
               for warning in logger.warnings)
    assert intake.take(wait_s=None) == ([], False)


def test_untrusted_strings_are_quoted_short_and_format_changes_logged_throttled():
    with pytest.raises(AudioFormatError) as caught:
        AudioFormat(sample_format='X' * 1_000_000).validate()
    assert len(str(caught.value)) < 400 and '1000000 characters' in str(caught.value)
    assert len(str(AudioFormat(sample_format='Y' * 1_000_000))) < 200
    health, logger = StreamHealth(), Recorder()
    intake = AudioIntake(RATE_HZ, health, logger)
    for index in range(20):
        intake.set_format(AudioFormat(sample_rate=16000 + 1000 * (index % 2)), 'AudioInfo')
    assert health.counts()['format_changes'] == 19 and len(logger.infos) == 1


def test_the_backlog_counts_the_audio_in_the_workers_hands():
    intake = AudioIntake(RATE_HZ, StreamHealth(), Recorder())
    intake.set_format(AudioFormat(), 'parameters')
    payload = (speech_like(1.0) * 3e4).astype('<i2').tobytes()
    intake.accept(payload, None, arrival_s=1.0)
    chunks, _ = intake.take(wait_s=None)
    assert intake.queued_s == 0.0 and intake.backlog_s == pytest.approx(1.0, abs=0.01)
    intake.done(chunks[0])
    assert intake.backlog_s == 0.0


def test_an_out_of_order_transition_by_id_is_refused_and_the_node_lives_on(tmp_path):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    model = save_bundle(tiny_bundle(), str(tmp_path / 'model'))
    node = start_process('--ros-args', '-p', f'model_path:={model}', '-p', 'autostart:=false',
                         module='ser_ros.ros.node')
    try:
        wait_for_line(node, 'waiting for a lifecycle manager', 60.0)
        with RosPeer('transition_tester') as peer:
            change = peer.node.create_client(ChangeState, '/ser_node/change_state')
            get = peer.node.create_client(GetState, '/ser_node/get_state')
            assert peer.spin_until(lambda: change.service_is_ready() and get.service_is_ready())

            def call(client, request):
                future = client.call_async(request)
                assert peer.spin_until(future.done, 20.0)
                return future.result()
            for transition_id in (Transition.TRANSITION_ACTIVATE,
                                  Transition.TRANSITION_CLEANUP):
                request = ChangeState.Request()
                request.transition.id = transition_id
                assert call(change, request).success is False
            assert call(get, GetState.Request()).current_state.label == 'unconfigured'
            request = ChangeState.Request()
            request.transition.id = Transition.TRANSITION_CONFIGURE
            assert call(change, request).success is True
            assert call(change, request).success is False
            assert call(get, GetState.Request()).current_state.label == 'inactive'
        assert node.poll() is None
    finally:
        output = stop_process(node)
    assert node.returncode == 0, output
    assert 'refused lifecycle transition' in output


def test_configure_failures_are_logged_with_their_reason(tmp_path):
    node = start_process('--ros-args', '-p', 'window_s:=1000000.0', '-p', 'autostart:=true',
                         module='ser_ros.ros.node')
    try:
        lines = wait_for_line(node, 'cannot configure', 60.0)
    finally:
        stop_process(node)
    assert 'window_s=1000000.0: must be in 0..60.0' in lines[-1]


def peak_rss_of_predict(path):
    """Run ser-predict on a file in a fresh process; return its peak RSS [MB]."""
    import subprocess
    import sys
    probe = ('import resource, sys; from ser_ros.tools.predict import main; '
             'status = main(["--json", "--file", sys.argv[1]]); '
             'print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); '
             'sys.exit(status)')
    done = subprocess.run([sys.executable, '-c', probe, str(path)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split('peak')[-1]) / 1024


def test_a_long_file_is_classified_in_bounded_memory(tmp_path):
    minute = np.concatenate([speech_like(3.0, seed=seed) for seed in range(20)])
    for minutes in (1, 20):
        with soundfile.SoundFile(tmp_path / f'{minutes}.flac', 'w', RATE_HZ, 1) as output:
            for _ in range(minutes):
                output.write(minute)
    short, long = (peak_rss_of_predict(tmp_path / f'{minutes}.flac') for minutes in (1, 20))
    # Held whole, 19 more minutes would add 73 MB of samples alone (and copies of them).
    assert long - short < 25, f'peak RSS {short:.0f} MB for 1 min, {long:.0f} MB for 20 min'
