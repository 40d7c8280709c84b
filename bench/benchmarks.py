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
Speed and size of ser_ros on this machine: prints a table and writes bench/results.json.

    python bench/benchmarks.py [--model models/default] [--soak-minutes 60] [--quick]
                               [--output FILE]

``--quick`` (shorter runs, no soak) prints its table and writes a file only when ``--output``
names one, so that a development run never replaces the README's figures.

1. Real-time factor (compute time / audio time) of the streaming recogniser at the model's
   window and hop (the median of three passes), for other windows and hops, and of the naive
   way (every window framed and classified from scratch) side by side; with the shared
   corpora, also on recorded utterances with pauses, where each onset costs the speech encoder
   more runs than the synthetic speech does; and for messages of 10 ms to 0.5 s (the
   recogniser frames a hop at once, whatever the messages).
2. Hop-to-publish latency through the real node in its own process: the AudioData chunk that
   completes a window is published -> its Classification arrives (p50/p95/p99).
3. Node start-up: process start -> active, and -> first estimate.
4. Node memory (RSS) after start and while ``--soak-minutes`` of audio are pushed at full speed
   (the soak of issue 8), sampled over time.
5. Training time, parameters and size of the model (from its bundle).
"""

import argparse
from dataclasses import replace
import json
import os
import subprocess
import sys
import threading
import time

from audio_common_msgs.msg import AudioData
import numpy as np
import rclpy
from ser_ros.core.audio import AudioFormat, encode_pcm, load_audio
from ser_ros.core.bundle import load_bundle
from ser_ros.core.features import FrameFeaturizer, model_input
from ser_ros.core.recognizer import limit_threads, StreamingRecognizer
from ser_ros.core.traced import traced
from ser_ros.resources import default_model_path, shared_data_folder
from ser_ros.ros.node_process import ser_node_command
from ser_ros.ros.player import AudioPlayer
from ser_ros.ros.qos import RELIABLE_STREAM
import torch
from vision_msgs.msg import Classification

RATE_HZ = 16000
#: Passes of the streaming real-time factor; their median is reported.
RTF_RUNS = 3
#: Message lengths the streaming real-time factor is measured at [ms] (the default is 128).
MESSAGE_MS = (10, 32, 128, 512)


def speech_like(duration_s, seed=0):
    """Voiced, syllable-modulated test audio (as in the tests), shape (n,), float32."""
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    generator = np.random.default_rng(seed)
    pitch = 140.0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE_HZ
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 0.5
    return (0.2 * voiced * envelope + 0.003 * generator.standard_normal(len(t))).astype(
        np.float32)


def streaming_rtf(bundle, audio, window_s=None, hop_s=None, chunk_s=0.128):
    """
    Return the real-time factor of pushing ``audio`` in chunks through the recogniser.

    The median of :data:`RTF_RUNS` passes: on a shared 2-core machine single passes of the
    same work differ by half.
    """
    recognizer = StreamingRecognizer(bundle, window_s=window_s, hop_s=hop_s)
    chunk = int(chunk_s * RATE_HZ)
    recognizer.push(audio[:RATE_HZ * 3])
    factors = []
    for _ in range(RTF_RUNS):
        recognizer.reset()
        started = time.perf_counter()
        for start in range(0, len(audio), chunk):
            recognizer.push(audio[start:start + chunk])
        factors.append((time.perf_counter() - started) / (len(audio) / RATE_HZ))
    return float(np.median(factors))


def recorded_speech(folder, recordings=60, seed=0):
    """
    Return recorded utterances one after the other with pauses, as a robot hears people talk.

    ``recordings`` RAVDESS recordings (about 3.5 s each, a second of silence in each) drawn with
    ``seed`` from the shared corpora's ``folder``, each after a pause of 0.3-1.5 s: every
    utterance is an onset, where the recogniser encodes its window again as the speech grows.
    None when the corpus is not there.
    """
    root = os.path.join(folder or '', 'ravdess')
    if not os.path.isdir(root):
        return None
    paths = sorted(os.path.join(actor, name) for actor in os.listdir(root)
                   for name in os.listdir(os.path.join(root, actor))
                   if name.endswith(('.wav', '.flac')))
    generator = np.random.default_rng(seed)
    pieces = []
    for path in generator.choice(paths, recordings, replace=False):
        pieces += [np.zeros(int(generator.uniform(0.3, 1.5) * RATE_HZ), np.float32),
                   load_audio(os.path.join(root, path), RATE_HZ)]
    return np.concatenate(pieces)


def encodings_per_minute(bundle, audio):
    """Return how often the recogniser runs its speech encoder on ``audio`` [per minute]."""
    recognizer = StreamingRecognizer(bundle)
    if recognizer.encoder is None:
        return 0.0
    calls = []
    encode = recognizer.encoder.embedding
    recognizer.encoder.embedding = lambda *arguments: calls.append(1) or encode(*arguments)
    recognizer.push(audio)
    del recognizer.encoder.embedding
    return len(calls) / (len(audio) / RATE_HZ / 60)


def naive_rtf(bundle, audio, window_s, hop_s):
    """Real-time factor of recomputing every window from scratch (features, encoder, model)."""
    featurizer = FrameFeaturizer(bundle.feature_config)
    encoder = StreamingRecognizer(bundle).encoder
    window, hop = int(window_s * RATE_HZ), int(hop_s * RATE_HZ)
    model = None
    started = time.perf_counter()
    with torch.inference_mode():
        for end in range(window, len(audio) + 1, hop):
            cepstra, _ = featurizer.frames(audio[end - window:end])
            frames = model_input(bundle.norm.apply(cepstra), bundle.feature_config)
            inputs = (torch.from_numpy(frames[None]),) + (() if encoder is None else (
                torch.from_numpy(bundle.encoder_norm.apply(
                    encoder.embedding(audio[end - window:end]))[None]),))
            if model is None:
                model = traced(bundle.build_model(), *inputs)  # as the recogniser runs it
            model(*inputs)
    return (time.perf_counter() - started) / (len(audio) / RATE_HZ)


def feature_rtf(config, audio, window_s, hop_s, chunk_s=0.128):
    """
    Real-time factor of the feature stage alone (``config``: a FeatureConfig): streaming vs naive.

    Returns
    -------
    tuple of float
        (each frame computed once, chunk by chunk; every window framed from scratch).

    """
    featurizer = FrameFeaturizer(config)
    chunk, duration = int(chunk_s * RATE_HZ), len(audio) / RATE_HZ
    started = time.perf_counter()
    pending = np.zeros(0, np.float32)
    for start in range(0, len(audio), chunk):
        pending = np.concatenate([pending, audio[start:start + chunk]])
        frames = config.frames_in(len(pending))
        featurizer.frames(pending)
        pending = pending[frames * config.hop_length:]
    streaming = (time.perf_counter() - started) / duration
    window, hop = int(window_s * RATE_HZ), int(hop_s * RATE_HZ)
    started = time.perf_counter()
    for end in range(window, len(audio) + 1, hop):
        featurizer.frames(audio[end - window:end])
    return streaming, (time.perf_counter() - started) / duration


def percentiles(values):
    """Return p50, p95, p99 of ``values`` in milliseconds."""
    return {f'p{q}': round(float(np.percentile(values, q)) * 1000, 2) for q in (50, 95, 99)}


def rss_mb(pid):
    """Return the resident set size of a process [MB]."""
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


class NodeUnderTest:
    """ser_node in its own process plus a peer node that feeds it and listens."""

    def __init__(self, model_path, **parameters):
        self.started = time.monotonic()
        command = ser_node_command({'autostart': True, 'model_path': model_path,
                                    'audio_qos_reliability': 'reliable', 'audio_qos_depth': 500,
                                    **parameters})
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.active_after_s = None
        threading.Thread(target=self._watch, daemon=True).start()
        self.node = rclpy.create_node('ser_bench')
        self.received = []
        self.node.create_subscription(Classification, '/emotion', self._on_emotion,
                                      RELIABLE_STREAM)
        self.player = AudioPlayer(self.node, AudioFormat(), chunk_s=0.128)
        self.audio = self.player.audio_publisher

    def _watch(self):
        for line in self.process.stdout:
            if self.active_after_s is None and ' active' in line:
                self.active_after_s = time.monotonic() - self.started

    def _on_emotion(self, message):
        if not self.received:
            self.first_estimate_monotonic = time.monotonic()
        self.received.append((time.perf_counter(), message))

    def wait(self, condition, timeout_s):
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.01)
        return condition()

    def close(self):
        self.node.destroy_node()
        self.process.send_signal(2)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def node_startup_and_latency(model_path, bundle, windows=100):
    """Start the node, time its start-up, then time hop-to-publish for ``windows`` windows."""
    under_test = NodeUnderTest(model_path)
    try:
        under_test.player.publish_info()
        under_test.wait(lambda: under_test.audio.get_subscription_count() > 0, 60.0)
        subscribed_s = time.monotonic() - under_test.started
        hop = int(bundle.streaming.hop_s * RATE_HZ)
        window = int(bundle.streaming.window_s * RATE_HZ)
        audio = speech_like(bundle.streaming.window_s + windows * bundle.streaming.hop_s + 1)
        payload = encode_pcm(audio, AudioFormat())
        # First the window minus one hop, then one hop per message: each completes a window.
        under_test.audio.publish(AudioData(data=payload[:2 * (window - hop)]))
        sent_at, position = [], 2 * (window - hop)
        for _ in range(windows):
            before = len(under_test.received)
            sent_at.append(time.perf_counter())
            under_test.audio.publish(AudioData(data=payload[position:position + 2 * hop]))
            position += 2 * hop
            under_test.wait(lambda: len(under_test.received) > before, 5.0)
            under_test.wait(lambda: False, 0.02)
        first_estimate_s = (under_test.first_estimate_monotonic - under_test.started
                            if under_test.received else float('nan'))
        latencies = [received - sent for sent, (received, _) in
                     zip(sent_at, under_test.received[-windows:])]
        return {'process_to_active_s': round(under_test.active_after_s or float('nan'), 2),
                'process_to_subscribed_s': round(subscribed_s, 2),
                'process_to_first_estimate_s': round(first_estimate_s, 2),
                'hop_to_publish_ms': percentiles(latencies),
                'windows': len(latencies), 'rss_after_start_mb': round(
                    rss_mb(under_test.process.pid), 1)}
    finally:
        under_test.close()


def soak(model_path, streaming, minutes, speed=60.0):
    """
    Push ``minutes`` of audio through the node at ``speed`` x real time; sample its RSS.

    Counts the estimates that arrive (``streaming``: the bundle's window and hop make how many
    are due), waiting up to two minutes after the last chunk for the node to catch up.
    """
    under_test = NodeUnderTest(model_path, max_queue_s=600.0)
    try:
        under_test.player.publish_info()
        under_test.wait(lambda: under_test.audio.get_subscription_count() > 0, 60.0)
        block = speech_like(60.0)
        payload = encode_pcm(block, AudioFormat())
        chunk = int(0.128 * RATE_HZ) * 2
        samples = [(0.0, rss_mb(under_test.process.pid))]
        started = time.monotonic()
        for minute in range(minutes):
            for position in range(0, len(payload), chunk):
                under_test.audio.publish(AudioData(data=payload[position:position + chunk]))
                target = started + (minute * 60 + position / 2 / RATE_HZ) / speed
                delay = target - time.monotonic()
                if delay > 0:
                    under_test.wait(lambda: False, delay)
            samples.append((minute + 1, rss_mb(under_test.process.pid)))
        expected = int((minutes * 60 - streaming.window_s) / streaming.hop_s) + 1
        under_test.wait(lambda: len(under_test.received) >= expected, 120.0)
        return {'audio_minutes': minutes, 'speed': speed, 'estimates': len(under_test.received),
                'estimates_due': expected,
                'rss_mb_by_minute': [(m, round(r, 1)) for m, r in samples],
                'rss_growth_mb_after_first_5_min': round(
                    samples[-1][1] - samples[min(5, len(samples) - 1)][1], 1)}
    finally:
        under_test.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=default_model_path())
    parser.add_argument('--soak-minutes', type=int, default=60)
    parser.add_argument('--quick', action='store_true', help='shorter runs, no soak')
    parser.add_argument('--output', help='JSON of the figures (default: bench/results.json; '
                        'none with --quick)')
    args = parser.parse_args()
    if args.output is None and not args.quick:
        args.output = os.path.join(os.path.dirname(__file__), 'results.json')
    limit_threads(1)
    bundle = load_bundle(args.model)
    audio = speech_like(30.0 if args.quick else 120.0)
    defaults = bundle.streaming
    results = {'model': bundle.name, 'torch_threads': torch.get_num_threads(),
               'cpu': os.cpu_count()}
    rtf = streaming_rtf(bundle, audio)
    naive = naive_rtf(bundle, audio, defaults.window_s, defaults.hop_s)
    features_streaming, features_naive = feature_rtf(bundle.feature_config, audio,
                                                     defaults.window_s, defaults.hop_s)
    # The optional pitch columns (features.pitch), measured whether the bundle has them or not.
    with_pitch, _ = feature_rtf(replace(bundle.feature_config, pitch=True), audio,
                                defaults.window_s, defaults.hop_s)
    results['rtf'] = {'streaming': rtf, 'naive': naive, 'naive_over_streaming': naive / rtf,
                      'features_streaming': features_streaming,
                      'features_naive': features_naive,
                      'features_streaming_with_pitch': with_pitch}
    recorded = recorded_speech(shared_data_folder())
    if recorded is not None:
        results['rtf']['recorded_speech'] = streaming_rtf(bundle, recorded)
        results['rtf']['encodings_per_minute'] = {
            'recorded_speech': encodings_per_minute(bundle, recorded),
            'synthetic': encodings_per_minute(bundle, audio)}
    results['rtf_by_message_ms'] = {
        milliseconds: streaming_rtf(bundle, audio, chunk_s=milliseconds / 1000)
        for milliseconds in MESSAGE_MS}
    results['rtf_by_window_hop'] = [
        {'window_s': window_s, 'hop_s': hop_s, 'streaming': streaming_rtf(bundle, audio, window_s,
                                                                          hop_s),
         'naive': naive_rtf(bundle, audio, window_s, hop_s)}
        for window_s, hop_s in ((1.0, 0.5), (2.0, 0.25), (2.0, 0.5), (2.0, 1.0), (4.0, 0.5))]
    rclpy.init()
    try:
        results['node'] = node_startup_and_latency(args.model, bundle,
                                                   windows=30 if args.quick else 100)
        if not args.quick:
            results['soak'] = soak(args.model, bundle.streaming, args.soak_minutes)
    finally:
        rclpy.try_shutdown()
    weights = os.path.join(args.model, 'weights.safetensors')
    results['model_size'] = {'parameters': bundle.metadata.get('parameters'),
                             'weights_mb': round(os.path.getsize(weights) / 1e6, 2),
                             'training_time_s': bundle.metadata.get('training_time_s')}
    print_table(results)
    if args.output:
        with open(args.output, 'w') as stream:
            json.dump(results, stream, indent=1)
    return 0


def print_table(results):
    """Print the figures as a markdown table."""
    rtf, node = results['rtf'], results['node']
    rows = [('real-time factor, streaming (default window/hop)', f"{rtf['streaming']:.4f}",
             '<= 0.01'),
            ('real-time factor, naive recompute', f"{rtf['naive']:.4f}",
             f"{rtf['naive_over_streaming']:.1f}x the streaming cost"),
            ('real-time factor, streaming, recorded utterances with pauses (RAVDESS)',
             f"{rtf['recorded_speech']:.4f}" if 'recorded_speech' in rtf else 'no corpus',
             '<= 0.01'),
            ('speech encoder runs per minute: recorded utterances / synthetic speech',
             ' / '.join(f'{value:.0f}' for value in rtf['encodings_per_minute'].values())
             if 'encodings_per_minute' in rtf else '', ''),
            ('feature stage alone: streaming / naive RTF',
             f"{rtf['features_streaming']:.4f} / {rtf['features_naive']:.4f}",
             f"{rtf['features_naive'] / rtf['features_streaming']:.1f}x less work streaming"),
            ('feature stage with the pitch columns (features.pitch): streaming RTF',
             f"{rtf['features_streaming_with_pitch']:.4f}", ''),
            ('hop-to-publish latency p50 / p95 / p99 [ms]',
             ' / '.join(str(v) for v in node['hop_to_publish_ms'].values()), 'p95 <= 30'),
            ('start-up: process start -> active [s]', node['process_to_active_s'], '<= 3'),
            ('start-up: process start -> first estimate [s] (audio sent once subscribed)',
             node['process_to_first_estimate_s'], ''),
            ('node RSS after start [MB]', node['rss_after_start_mb'], '<= 550')]
    if 'soak' in results:
        soak_result = results['soak']
        rows.append((f"node RSS after {soak_result['audio_minutes']} min of audio [MB]",
                     soak_result['rss_mb_by_minute'][-1][1],
                     f"growth after minute 5: {soak_result['rss_growth_mb_after_first_5_min']}"))
        rows.append(('estimates published during it / due',
                     f"{soak_result['estimates']} / {soak_result['estimates_due']}", ''))
    size = results['model_size']
    rows += [('model parameters / weights [MB]', f"{size['parameters']} / {size['weights_mb']}",
              ''), ('training time of the model [s]', size['training_time_s'], '')]
    print('| figure | measured | target / note |\n|---|---:|---|')
    for row in rows:
        print(f'| {row[0]} | {row[1]} | {row[2]} |')
    print('\n| message [ms] | ' + ' | '.join(str(ms) for ms in results['rtf_by_message_ms'])
          + ' |\n|---|' + '---:|' * len(results['rtf_by_message_ms']))
    print('| RTF streaming | '
          + ' | '.join(f'{rtf:.4f}' for rtf in results['rtf_by_message_ms'].values()) + ' |')
    print('\n| window [s] | hop [s] | RTF streaming | RTF naive |\n|---:|---:|---:|---:|')
    for row in results['rtf_by_window_hop']:
        print(f"| {row['window_s']} | {row['hop_s']} | {row['streaming']:.4f} | "
              f"{row['naive']:.4f} |")


if __name__ == '__main__':
    sys.exit(main())
