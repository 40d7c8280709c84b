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
Does the voice-activity gate know speech from what a robot hears all day? Both gates compared.

    python bench/vad.py [--utterances 50] [--data ../shared/data]

Windows as the node cuts them (2 s every 0.5 s, speech when at least 25 % of their 10 ms frames
are), for the Silero network and for the energy gate:

- non-speech windows called speech, on 30 s each of generated sound: white, pink and brown
  noise, a 440 Hz tone, beeps, a DC offset, music-like chords with a beat (each at -6 and
  -26 dBFS), and recorded room tone (the 0.3 s before each RAVDESS sentence, joined);
- speech windows kept: one 2 s window centred on each of ``--utterances`` recordings per
  shared corpus, after 1 s of the same background, clean and with white, pink or brown noise
  at 10 dB and 0 dB SNR (to the recording's mean power);
- cost: compute time per 2 s of audio, arriving in 0.128 s messages, decided every 0.5 s (as
  the recogniser does), one thread.

Prints a table and writes bench/vad.json.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy.signal import lfilter
from ser_ros.core.audio import load_audio
from ser_ros.core.features import FeatureConfig, FrameFeaturizer
from ser_ros.core.recognizer import limit_threads
from ser_ros.core.vad import make_vad, speech_frames_of, VadConfig
from ser_ros.resources import shared_data_folder
from ser_ros.tools.streams import corpus_items

RATE_HZ = 16000
FEATURES = FeatureConfig()
GATES = {'silero': VadConfig(kind='silero'), 'energy': VadConfig(kind='energy')}
WINDOW_FRAMES, HOP_FRAMES = 200, 50
CORPORA = [{'kind': 'ravdess', 'root': 'ravdess'},
           {'kind': 'manifest', 'root': 'urdu/manifest.csv'},
           {'kind': 'manifest', 'root': 'nemo/manifest.csv'},
           {'kind': 'manifest', 'root': 'ased/manifest.csv'}]
LABELS = ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised',
          'boredom']


def coloured_noise(kind, n_samples, generator):
    """Return white, pink or brown noise of unit power, shape (n_samples,)."""
    white = generator.standard_normal(n_samples)
    if kind == 'pink':  # Paul Kellet's economy filter, -3 dB/octave
        noise = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                        [1, -2.494956002, 2.017265875, -0.522189400], white)
    elif kind == 'brown':
        noise = lfilter([1.0], [1.0, -0.995], white)
    else:
        noise = white
    return noise / np.sqrt(np.mean(noise ** 2))


def non_speech_sounds(generator, duration_s=30.0):
    """Return named generated sounds of ``duration_s`` at peak 1 (scaled later)."""
    n_samples = int(duration_s * RATE_HZ)
    time_s = np.arange(n_samples) / RATE_HZ
    beat = (np.sin(2 * np.pi * 2.0 * time_s) > 0.3).astype(float)
    chord = sum(np.sin(2 * np.pi * f * time_s) for f in (261.6, 329.6, 392.0, 523.3))
    melody = np.sin(2 * np.pi * 440 * 2 ** (np.floor(time_s * 4) % 8 / 12) * time_s)
    sounds = {f'{kind} noise': coloured_noise(kind, n_samples, generator)
              for kind in ('white', 'pink', 'brown')}
    sounds.update({'440 Hz tone': np.sin(2 * np.pi * 440 * time_s),
                   'beeps (1 kHz, 0.2 s every s)': np.sin(2 * np.pi * 1000 * time_s)
                   * ((time_s % 1.0) < 0.2),
                   'DC offset': np.ones(n_samples),
                   'music-like (chords, melody, beat)': chord * (0.5 + 0.5 * beat) + melody})
    return {name: sound / np.max(np.abs(sound)) for name, sound in sounds.items()}


def window_decisions(gate, signal):
    """Return the speech decision of every 2 s window (every 0.5 s) of ``signal``."""
    _, energy_db = FrameFeaturizer(FEATURES).frames(signal)
    frames = speech_frames_of(gate, FEATURES, signal, energy_db)
    vad = make_vad(gate, FEATURES)
    return np.array([vad.is_speech(frames[end - WINDOW_FRAMES:end])
                     for end in range(WINDOW_FRAMES, len(frames) + 1, HOP_FRAMES)])


def room_tone(items, limit_s=30.0):
    """Join the first 0.3 s of RAVDESS recordings (silence before the sentence), ``limit_s``."""
    pieces, total = [], 0
    for path, _, speaker in items:
        if not speaker.startswith('ravdess:'):
            continue
        piece = load_audio(path, RATE_HZ)[:int(0.3 * RATE_HZ)]
        pieces.append(piece)
        total += len(piece)
        if total >= limit_s * RATE_HZ:
            break
    return np.concatenate(pieces)


def speech_trials(items, generator):
    """Return (name, signal) pairs: 1 s of background, then a 2 s window of a recording."""
    trials = {'clean': [], **{f'{kind} noise {snr} dB': [] for kind in ('white', 'pink', 'brown')
                              for snr in (10, 0)}}
    for path, _, _ in items:
        audio = load_audio(path, RATE_HZ)
        if len(audio) > 2 * RATE_HZ:
            start = (len(audio) - 2 * RATE_HZ) // 2
            audio = audio[start:start + 2 * RATE_HZ]
        # 30 ms more of background after it, so that a window ends exactly on its end.
        signal = np.concatenate([np.zeros(RATE_HZ, np.float32), audio,
                                 np.zeros(480, np.float32)])
        power = np.mean(audio ** 2)
        trials['clean'].append(signal)
        for kind in ('white', 'pink', 'brown'):
            noise = coloured_noise(kind, len(signal), generator)
            for snr in (10, 0):
                noisy = signal + noise * np.sqrt(power / 10 ** (snr / 10))
                trials[f'{kind} noise {snr} dB'].append(
                    np.clip(noisy, -1, 1).astype(np.float32))
    return trials


def cost_ms_per_2s(gate, signal, chunk_s=0.128, hop_s=0.5):
    """
    Return the gate's compute time per 2 s of audio [ms], used as the recogniser uses it.

    Audio arrives in ``chunk_s`` messages; the frames of each ``hop_s`` are decided at once.
    """
    vad = make_vad(gate, FEATURES)
    _, energy_db = FrameFeaturizer(FEATURES).frames(signal)
    chunk, hop = int(chunk_s * RATE_HZ), int(hop_s * RATE_HZ)
    decided, spent = 0, 0.0
    for end in range(chunk, len(signal) + 1, chunk):
        started = time.perf_counter()
        vad.add_samples(signal[end - chunk:end])
        if end // hop > (end - chunk) // hop:
            complete = FEATURES.frames_in(end)
            vad.speech_frames(energy_db[decided:complete])
            decided = complete
        spent += time.perf_counter() - started
    return 1000 * spent / (len(signal) / RATE_HZ / 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--utterances', type=int, default=50, help='per corpus')
    parser.add_argument('--data', default=shared_data_folder())
    parser.add_argument('--output', default='bench/vad.json')
    args = parser.parse_args()
    if not args.data:
        raise SystemExit('vad: the shared corpora are not here (--data)')
    limit_threads(1)
    generator = np.random.default_rng(0)
    items = []
    for corpus in CORPORA:
        found = corpus_items([{**corpus, 'root': os.path.join(args.data, corpus['root'])}],
                             LABELS, {})
        items += [found[i] for i in generator.choice(len(found), args.utterances, False)]
    results = {'non_speech': {}, 'speech_kept': {}, 'cost_ms_per_2s': {}}
    sounds = non_speech_sounds(generator)
    for name, sound in sounds.items():
        for level_dbfs in (-6, -26):
            signal = (sound * 10 ** (level_dbfs / 20)).astype(np.float32)
            results['non_speech'][f'{name}, {level_dbfs} dBFS'] = {
                gate: float(window_decisions(config, signal).mean())
                for gate, config in GATES.items()}
    results['non_speech']['room tone (recorded)'] = {
        gate: float(window_decisions(config, room_tone(items)).mean())
        for gate, config in GATES.items()}
    for name, signals in speech_trials(items, generator).items():
        # The last window of each trial covers the recording's (last) 2 s.
        results['speech_kept'][name] = {
            gate: float(np.mean([window_decisions(config, signal)[-1] for signal in signals]))
            for gate, config in GATES.items()}
    speech = np.concatenate([load_audio(path, RATE_HZ) for path, _, _ in items[:40]])
    results['cost_ms_per_2s'] = {gate: cost_ms_per_2s(config, speech)
                                 for gate, config in GATES.items()}
    print(f'{len(items)} recordings of 4 corpora; windows of 2 s every 0.5 s\n')
    print('| non-speech windows called speech | silero | energy |\n|---|---:|---:|')
    for name, row in results['non_speech'].items():
        print(f"| {name} | {row['silero']:.1%} | {row['energy']:.1%} |")
    print('\n| speech windows kept | silero | energy |\n|---|---:|---:|')
    for name, row in results['speech_kept'].items():
        print(f"| {name} | {row['silero']:.1%} | {row['energy']:.1%} |")
    cost = results['cost_ms_per_2s']
    print(f"\ncost per 2 s of audio: silero {cost['silero']:.2f} ms, energy "
          f"{cost['energy']:.2f} ms")
    with open(args.output, 'w') as out:
        json.dump(results, out, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
