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

"""What the node does with a message before the recogniser, tested without DDS."""

import threading

import numpy as np
import pytest
from ser_ros.core.audio import AudioFormat, encode_pcm
from ser_ros.core.health import ERROR, OK, StreamHealth, WARN
from ser_ros.core.intake import AudioIntake, SampleClock
from synthetic import RATE_HZ, Recorder, speech_like


class FakeClock:
    """Monotonic time that the test moves."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def pcm(seconds, seed=0):
    return encode_pcm(speech_like(seconds, seed=seed), AudioFormat())


@pytest.fixture
def intake():
    made = AudioIntake(RATE_HZ, StreamHealth(), Recorder(), max_queue_s=1.0, max_chunk_s=0.5)
    made.set_format(AudioFormat(), 'parameters')
    return made


def test_sample_clock_follows_samples_and_reanchors_after_a_gap():
    clock = SampleClock(resync_s=1.0)
    assert clock.start_of(0.1, arrival_s=10.1) == pytest.approx(10.0)
    # Jitter and bursts keep the sample clock: stamps follow the sample count.
    assert clock.start_of(0.1, arrival_s=10.15) == pytest.approx(10.1)
    assert clock.start_of(0.1, arrival_s=10.16) == pytest.approx(10.2)
    # A gap longer than resync_s jumps to the arrival time.
    assert clock.start_of(0.1, arrival_s=20.0) == pytest.approx(19.9)


def test_accepted_audio_is_decoded_timed_and_taken_in_order(intake):
    assert intake.accept(pcm(0.1, seed=1), None, arrival_s=5.1)
    assert intake.accept(pcm(0.1, seed=2), 7.0, arrival_s=5.3, frame_id='mic')
    chunks, reset = intake.take(wait_s=None)
    assert not reset and [len(chunk.samples) for chunk in chunks] == [1600, 1600]
    assert chunks[0].start_s == pytest.approx(5.0) and chunks[1].start_s == 7.0
    assert chunks[1].frame_id == 'mic'
    assert intake.take(wait_s=None) == ([], False)


@pytest.mark.parametrize('payload, kind', [(b'', 'empty'), (b'\x00' * 3, 'malformed'),
                                           (b'\x00' * 32000, 'huge')])
def test_bad_messages_are_rejected_counted_and_warned_once(intake, payload, kind):
    assert not intake.accept(payload, None, arrival_s=1.0)
    assert not intake.accept(payload, None, arrival_s=1.1)
    counts = intake.health.counts()
    assert counts[f'rejected_{kind}'] == counts['rejected'] == 2 and counts['messages'] == 2
    assert len(intake.logger.warnings) == 1 and 'rejected audio' in intake.logger.warnings[0]
    assert intake.take(wait_s=None) == ([], False)


def test_audio_without_a_usable_format_is_rejected_until_one_arrives():
    intake = AudioIntake(RATE_HZ, StreamHealth(), Recorder())
    intake.set_format(AudioFormat(sample_format='S20LE'), 'AudioInfo')
    assert intake.decoder is None and intake.health.counts()['rejected_format'] == 1
    assert not intake.accept(pcm(0.1), None, arrival_s=1.0)
    assert intake.health.counts()['rejected_no_format'] == 1
    intake.set_format(AudioFormat(), 'AudioInfo')
    assert intake.accept(pcm(0.1), None, arrival_s=1.1)


def test_the_oldest_audio_is_dropped_beyond_max_queue(intake):
    for index in range(15):
        assert intake.accept(pcm(0.1, seed=index), None, arrival_s=1.0 + 0.1 * index)
    assert intake.queued_s == pytest.approx(1.0)
    chunks, _ = intake.take(wait_s=None)
    assert len(chunks) == 10 and chunks[0].start_s == pytest.approx(1.4)
    assert intake.health.counts()['dropped_samples'] == 5 * 1600
    assert len(intake.logger.warnings) == 1 and 'dropped 0.10 s' in intake.logger.warnings[0]


def test_a_format_change_resets_the_queue_and_asks_for_a_new_stream(intake):
    intake.accept(pcm(0.1), None, arrival_s=1.0)
    intake.set_format(AudioFormat(sample_rate=48000, channels=2), 'AudioInfo')
    chunks, reset = intake.take(wait_s=None)
    assert chunks == [] and reset
    assert intake.health.counts()['format_changes'] == 1 and len(intake.logger.infos) == 1
    stereo = encode_pcm(np.repeat(speech_like(0.1, 48000)[:, None], 2, axis=1),
                        AudioFormat(sample_rate=48000, channels=2))
    assert intake.accept(stereo, None, arrival_s=1.2)
    chunks, reset = intake.take(wait_s=None)
    # Mono at the model rate (the streaming resampler holds back its filter delay).
    assert not reset and 1300 < len(chunks[0].samples) <= 1600


def test_close_wakes_a_waiting_taker():
    intake = AudioIntake(RATE_HZ, StreamHealth(), Recorder())
    results = []
    taker = threading.Thread(target=lambda: results.append(intake.take(wait_s=0.05)))
    taker.start()
    intake.close()
    taker.join(timeout=2.0)
    assert not taker.is_alive() and results == [None]


def test_health_levels_follow_load_rejects_and_silence():
    clock = FakeClock()
    health = StreamHealth(clock=clock)
    report = health.report('inactive', True, 0.0, warn_rtf=0.5, rate_hz=RATE_HZ)
    assert (report.level, report.message) == (OK, 'inactive')
    assert health.report('active', False, 0.0, 0.5, RATE_HZ).level == ERROR
    assert health.report('active', True, 0.0, 0.5, RATE_HZ).message == 'no audio received'
    health.heard_audio()
    health.record_work(compute_s=0.6, audio_s=1.0, windows=4, speech_windows=3, published=3)
    report = health.report('active', True, 0.25, 0.5, RATE_HZ)
    assert report.level == WARN and 'high load' in report.message
    assert report.values['processing_ms_per_window'] == '150.00'
    assert report.values['queue_s'] == '0.250' and report.values['published'] == '3'
    health.record_work(2.0, 1.0, 1, 1, 1)
    assert health.report('active', True, 0.0, 0.5, RATE_HZ).level == ERROR
    health.reject('malformed', 'odd bytes')
    report = health.report('active', True, 0.0, 0.5, RATE_HZ)
    assert report.level == WARN and report.values['rejected_malformed'] == '1'
    # Reported once: the next period is OK again while audio keeps coming.
    assert health.report('active', True, 0.0, 0.5, RATE_HZ).level == OK
    clock.now += 6.0
    assert health.report('active', True, 0.0, 0.5, RATE_HZ).message == 'no audio received'


def test_warnings_are_throttled_per_kind():
    clock = FakeClock()
    health = StreamHealth(warn_period_s=5.0, clock=clock)
    assert health.reject('empty', 'a') is not None
    assert health.reject('empty', 'b') is None
    assert health.reject('huge', 'c') is not None
    clock.now += 5.0
    assert health.reject('empty', 'd') is not None
    assert health.counts()['rejected'] == 4


def test_counters_written_from_two_threads_add_up():
    health = StreamHealth()

    def count():
        for _ in range(10000):
            health.count('messages')
            health.record_work(0.0, 0.0, 1, 1, 1)
    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = health.counts()
    assert counts['messages'] == counts['windows'] == 40000
