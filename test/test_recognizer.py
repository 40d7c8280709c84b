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

"""The streaming recogniser: chunking invariance, timing, gating, bounded memory."""

import json
import subprocess
import sys

import numpy as np
import pytest
from ser_ros.core.normalization import AdaptiveNormalizer, NormStats
from ser_ros.core.recognizer import MAX_SPEAKERS, predict_utterance, StreamingRecognizer
from synthetic import noise, RATE_HZ, silence, speech_like, tiny_bundle


@pytest.fixture(scope='module')
def bundle():
    return tiny_bundle()


def stream():
    """Silence, speech, a pause, more speech: 6 s."""
    return np.concatenate([silence(0.7) + noise(0.7, level=1e-4), speech_like(2.3),
                           noise(1.0, level=1e-4, seed=1), speech_like(2.0, pitch_hz=220)])


def push_in_chunks(recognizer, signal, sizes):
    recognizer.reset()
    estimates, position, index = [], 0, 0
    while position < len(signal):
        size = sizes[index % len(sizes)]
        estimates += recognizer.push(signal[position:position + size])
        position += size
        index += 1
    return estimates


def test_estimates_do_not_depend_on_chunk_sizes(bundle):
    recognizer = StreamingRecognizer(bundle)
    signal = stream()
    reference = push_in_chunks(recognizer, signal, [len(signal)])
    assert len(reference) == 1 + int((6.0 - 1.0) / 0.25)
    for sizes in ([1600], [1, 37, 1601, 160, 8000], [16000 * 3]):
        estimates = push_in_chunks(recognizer, signal, sizes)
        assert len(estimates) == len(reference)
        for got, expected in zip(estimates, reference):
            assert got.end_time_s == pytest.approx(expected.end_time_s, abs=1e-9)
            assert got.is_speech == expected.is_speech and got.label == expected.label
            np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5)


def test_small_messages_are_framed_once_per_hop(bundle):
    recognizer = StreamingRecognizer(bundle)
    framed = []
    frames = recognizer.featurizer.frames
    recognizer.featurizer.frames = lambda signal: framed.append(len(signal)) or frames(signal)
    estimates = push_in_chunks(recognizer, stream(), [160])
    # 600 messages of 10 ms; the features run once per window cut.
    assert len(estimates) == 21 and len(framed) == len(estimates)


def test_window_times_follow_window_and_hop(bundle):
    recognizer = StreamingRecognizer(bundle, window_s=1.0, hop_s=0.25)
    estimates = recognizer.push(speech_like(3.0), start_time_s=100.0)
    times = [estimate.end_time_s for estimate in estimates]
    # A 1 s window holds 98 whole frames; it ends where its last frame does: 0.97 + 0.025 s.
    assert times[0] == pytest.approx(100.0 + 0.995, abs=1e-9)
    np.testing.assert_allclose(np.diff(times), 0.25, atol=1e-9)


def test_timestamps_of_later_chunks_reanchor_the_clock(bundle):
    recognizer = StreamingRecognizer(bundle)
    recognizer.push(speech_like(0.5), start_time_s=10.0)
    estimates = recognizer.push(speech_like(1.0), start_time_s=20.5)
    assert estimates and estimates[0].end_time_s == pytest.approx(20.5 + 0.495, abs=1e-9)


def test_silence_gives_no_speech_and_no_label(bundle):
    recognizer = StreamingRecognizer(bundle)
    estimates = recognizer.push(silence(3.0))
    assert estimates and not any(estimate.is_speech for estimate in estimates)
    assert all(estimate.label is None and estimate.raw_probabilities is None
               for estimate in estimates)
    np.testing.assert_allclose(estimates[-1].probabilities, bundle.hmm.startprob)


def test_speech_gives_labels_and_probabilities_that_sum_to_one(bundle):
    recognizer = StreamingRecognizer(bundle)
    estimates = recognizer.push(stream())
    speech = [estimate for estimate in estimates if estimate.is_speech]
    assert len(speech) >= 10
    for estimate in speech:
        assert estimate.label in bundle.labels
        assert estimate.probabilities.sum() == pytest.approx(1.0)
        assert estimate.raw_probabilities.sum() == pytest.approx(1.0)
        assert estimate.confidence == pytest.approx(estimate.probabilities.max())


def test_after_speech_a_silent_gap_decays_toward_the_prior(bundle):
    recognizer = StreamingRecognizer(bundle, dwell_s=1.0)
    recognizer.push(speech_like(2.0))
    # The first windows of the gap still overlap the speech (1 s windows, 0.25 s hop).
    after = recognizer.push(silence(6.0))[4:]
    distances = [np.abs(e.probabilities - bundle.hmm.startprob).sum() for e in after]
    assert all(not estimate.is_speech for estimate in after)
    # Each hop keeps 1 - 0.25 / 1.0 of the distance to the prior: 0.75 ** 20 < 1 %.
    assert all(later <= earlier for earlier, later in zip(distances, distances[1:]))
    assert distances[-1] < 0.01 * distances[0]


def test_memory_stays_bounded_over_a_long_stream(bundle):
    recognizer = StreamingRecognizer(bundle)
    chunk = speech_like(1.0)
    for _ in range(120):
        recognizer.push(chunk)
    assert len(recognizer._cepstra) == recognizer.window_frames
    assert recognizer._pending_count < (recognizer.hop_frames * bundle.feature_config.hop_length
                                        + bundle.feature_config.frame_length)
    assert recognizer.samples_seen == 120 * RATE_HZ


def test_one_big_chunk_of_minutes_is_processed_in_slices(bundle):
    recognizer = StreamingRecognizer(bundle, hop_s=1.0)
    estimates = recognizer.push(np.tile(speech_like(1.0), 90))
    assert len(estimates) == 90


def test_flush_classifies_a_recording_shorter_than_a_window(bundle):
    recognizer = StreamingRecognizer(bundle, window_s=2.0, hop_s=0.5)
    result = predict_utterance(recognizer, speech_like(0.8))
    assert len(result.estimates) == 1 and result.label in bundle.labels
    assert result.probabilities.sum() == pytest.approx(1.0)


def test_predict_utterance_of_silence_says_no_label(bundle):
    result = predict_utterance(StreamingRecognizer(bundle), silence(2.0))
    assert result.label is None and result.confidence == 0.0


def test_predict_utterance_is_repeatable(bundle):
    recognizer = StreamingRecognizer(bundle)
    first = predict_utterance(recognizer, stream())
    second = predict_utterance(recognizer, stream())
    np.testing.assert_array_equal(first.probabilities, second.probabilities)


def test_deltas_configuration_runs_end_to_end():
    recognizer = StreamingRecognizer(tiny_bundle(deltas=True))
    assert any(estimate.is_speech for estimate in recognizer.push(speech_like(2.0)))


@pytest.mark.parametrize('hop_s', [0.0, 0.123, 5.0])
def test_invalid_hops_are_rejected(bundle, hop_s):
    with pytest.raises(ValueError, match='hop_s'):
        StreamingRecognizer(bundle, hop_s=hop_s)


def test_each_speaker_keeps_statistics_of_their_own(bundle):
    recognizer = StreamingRecognizer(bundle)
    prior = recognizer.normalizer.current
    recognizer.set_speaker('alice')
    recognizer.push(speech_like(3.0, seed=1), 0.0)
    alice = recognizer.normalizer.current
    assert not np.allclose(alice.mean, prior.mean)
    assert recognizer.hmm_filter.has_evidence
    # Someone new starts from the training prior, with no belief about their emotion.
    assert recognizer.set_speaker('bob')
    assert np.array_equal(recognizer.normalizer.current.mean, prior.mean)
    assert not recognizer.hmm_filter.has_evidence
    recognizer.push(0.3 * speech_like(3.0, seed=2))
    # Alice is taken up where she was left; the same name again changes nothing.
    assert recognizer.set_speaker('alice')
    assert np.array_equal(recognizer.normalizer.current.mean, alice.mean)
    assert not recognizer.set_speaker('alice')
    # Memory is bounded: the least recently heard are forgotten.
    for index in range(3 * MAX_SPEAKERS):
        recognizer.set_speaker(f'visitor {index}')
    assert len(recognizer._speaker_states) < MAX_SPEAKERS
    recognizer.set_speaker('alice')
    assert np.array_equal(recognizer.normalizer.current.mean, prior.mean)


def test_limit_threads_caps_torch_and_the_blas_pools():
    # In a fresh interpreter: the caps are process-wide and would leak into other tests.
    script = ('import json, torch; from threadpoolctl import threadpool_info; '
              'from ser_ros.core.recognizer import limit_threads; limit_threads(1); '
              'print(json.dumps([torch.get_num_threads()] + '
              '[pool["num_threads"] for pool in threadpool_info()]))')
    counts = json.loads(subprocess.run([sys.executable, '-c', script], check=True,
                                       capture_output=True, text=True).stdout)
    assert len(counts) >= 2 and set(counts) == {1}


def test_blend_is_what_the_running_normaliser_holds_after_hearing_a_speaker():
    generator = np.random.default_rng(0)
    population = generator.normal(0.0, 1.0, (1000, 3))
    speaker = generator.normal([2.0, -1.0, 0.5], [0.5, 2.0, 1.0], (300, 3))
    prior = NormStats.of(population)
    normalizer = AdaptiveNormalizer(prior, frame_hop_s=0.01, prior_s=10.0, horizon_s=1e9)
    normalizer.update(speaker)
    heard_s = len(speaker) * 0.01
    blended = NormStats.of(speaker).blend(prior, 10.0 / (10.0 + heard_s))
    pooled = NormStats.of(np.concatenate([population, speaker]))
    for stats in (normalizer.current, pooled):
        np.testing.assert_allclose(blended.mean, stats.mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(blended.std, stats.std, rtol=1e-4)
    assert np.array_equal(prior.blend(prior, 0.3).mean, prior.mean)
