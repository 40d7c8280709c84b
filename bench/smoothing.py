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
What the HMM filter buys on streams of speakers the model never heard, one or several at a time.

    python bench/smoothing.py [--model models/default] [--bag runs/heldout.bag] [--snr-db 20]
                              [--speakers ravdess:21,urdu:SM1] [--corpus kind:root]
                              [--output figures.json]

Makes (once) two bags of the model's held-out test speakers, turns of 1-3 utterances of one
speaker and emotion with pauses: ``--bag`` with the speakers' turns shuffled together (several
people in turn), and ``<bag stem>_sequential.bag`` with each speaker's turns together, one
speaker after the other. Runs the core over them offline and prints accuracy, unweighted
accuracy, label changes per minute, change delay and calibration (ECE, mean confidence) of
the raw BiLSTM stream and of the smoothed stream, and the raw windows scored one by one (each
against the utterance it overlaps most; all labels, and the corpus's labels as the benchmarks
score them), which separates what the network gets wrong from what the stream's timing costs:

- one speaker at a time: the sequential bag, told when the speaker changes (as the node's
  ``speaker_topic`` would be): each speaker starts from the training statistics, as in a bag
  of their own;
- several speakers in turn: the shuffled bag, nobody told who speaks (the default node);
- several speakers in turn, told who speaks at each utterance (an ideal diariser);
- the shuffled bag at several dwell times (the model's emission weight);
- a calibrated model also without its calibration, at its own dwell.

``--corpus`` draws the speakers from a corpus the model was not trained on (all its speakers,
or those in ``--speakers``) instead of the model's test speakers: the leave-one-corpus-out
models of bench/generalisation.py on the corpus each never heard.

Writes the figures as JSON, ``--output`` (default ``<bag stem>_smoothing.json``), and a
reliability diagram, ``<output stem>_reliability.png`` (default ``<bag stem>_reliability.png``):
two models scored on the same bags keep their figures apart.
Offline and live runs give the same estimates (test/test_bags.py); ``ser-bag evaluate`` runs
the node live.
"""

import argparse
from dataclasses import replace
import json
import os
import sys

import numpy as np
from ser_ros.core.audio import AudioFormat
from ser_ros.core.bundle import calibration_text, load_bundle
from ser_ros.core.recognizer import limit_threads, StreamingRecognizer
from ser_ros.resources import default_model_path
from ser_ros.tools.bags import read_truth, run_offline, write_bag
from ser_ros.tools.scoring import (estimates_as_published, score_stream, score_table,
                                   score_windows, window_table)
from ser_ros.tools.streams import compose_stream, corpus_items, plan_turns
from ser_ros.training.calibration import plot_reliability
from ser_ros.training.corpora import parse_corpus

#: Dwell times [s] of the sweep on the shuffled bag.
DWELLS_S = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def make_heldout_bags(bundle, path, snr_db, speakers=None, corpus=None, seed=0):
    """
    Write the bags of the bundle's test speakers, or of ``corpus`` (all, or ``speakers``).

    Returns
    -------
    shuffled, sequential : str
        The bag with all speakers' turns shuffled together, and the one with each speaker's
        turns together, one speaker after the other.

    """
    if corpus is None:
        test_speakers = bundle.metadata['split']['test']
        unknown = sorted(set(speakers or ()) - set(test_speakers))
        if unknown:
            raise SystemExit(f'smoothing: {unknown} are not test speakers of {bundle.name}')
        items = corpus_items(bundle.metadata['corpora'], bundle.labels,
                             bundle.metadata['label_map'], speakers or test_speakers)
    else:
        items = corpus_items([corpus], bundle.labels, bundle.metadata['label_map'], speakers)
    if not items:
        raise SystemExit('smoothing: no recording of those speakers has one of the labels')
    sequential_path = os.path.splitext(os.path.normpath(path))[0] + '_sequential.bag'
    for bag, sequential in ((path, False), (sequential_path, True)):
        if os.path.exists(bag):
            continue
        generator = np.random.default_rng(seed)
        if sequential:
            order = [item for speaker in sorted({item[2] for item in items})
                     for item in plan_turns([i for i in items if i[2] == speaker], generator)]
        else:
            order = plan_turns(items, generator)
        signal, segments = compose_stream(order, 16000, generator, snr_db=snr_db)
        write_bag(bag, signal, segments, AudioFormat())
    return path, sequential_path


def speaker_changes(truth):
    """Return (start time, speaker) of every utterance whose speaker differs from the last's."""
    changes = []
    for segment in truth:
        if not changes or changes[-1][1] != segment.speaker:
            changes.append((segment.start_s, segment.speaker))
    return changes


def scored(bag, truth, recognizer, labels, name, told_speakers=False):
    """
    Return the raw and smoothed rows of one offline run over ``bag``, and its windows' row.

    Returns
    -------
    rows : list of (str, dict)
        The raw and the smoothed stream (:func:`score_stream`).
    windows : (str, dict)
        The raw speech windows one by one (:func:`score_windows`).

    """
    estimates = run_offline(bag, recognizer,
                            speaker_changes=speaker_changes(truth) if told_speakers else None)
    rows = [(f'{name}: raw BiLSTM', score_stream(
                estimates_as_published(estimates, labels, smoothed=False), truth)),
            (f'{name}: smoothed, dwell {recognizer.dwell_s:g} s',
             score_stream(estimates_as_published(estimates, labels), truth))]
    return rows, (name, score_windows(estimates, truth, labels, recognizer.window_s))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=default_model_path())
    parser.add_argument('--bag', default='runs/heldout.bag')
    parser.add_argument('--snr-db', type=float, default=None)
    parser.add_argument('--speakers', type=lambda text: text.split(','),
                        help='comma-separated test speakers for new bags (default: all)')
    parser.add_argument('--corpus', type=parse_corpus,
                        help='kind:root of a corpus the model never heard, instead of its test '
                        'speakers')
    parser.add_argument('--output', help='where the figures go as JSON (default: '
                        '<bag stem>_smoothing.json); the reliability diagram goes beside it')
    args = parser.parse_args()
    limit_threads(1)
    bundle = load_bundle(args.model)
    labels = bundle.labels
    shuffled, sequential = make_heldout_bags(bundle, args.bag, args.snr_db, args.speakers,
                                             args.corpus)
    truth, sequential_truth = read_truth(shuffled), read_truth(sequential)
    runs = [scored(sequential, sequential_truth, StreamingRecognizer(bundle), labels,
                   'one speaker at a time', told_speakers=True),
            scored(shuffled, truth, StreamingRecognizer(bundle), labels, 'speakers in turn'),
            scored(shuffled, truth, StreamingRecognizer(bundle), labels,
                   'speakers in turn, told who speaks', told_speakers=True)]
    rows = [row for run_rows, _ in runs for row in run_rows]
    windows = [window_row for _, window_row in runs]
    for dwell_s in DWELLS_S:
        rows += scored(shuffled, truth, StreamingRecognizer(bundle, dwell_s=dwell_s), labels,
                       'speakers in turn')[0][1:]
    if bundle.calibrated:
        rows += scored(shuffled, truth, StreamingRecognizer(replace(bundle, calibration=None)),
                       labels, 'speakers in turn, uncalibrated')[0]
    minutes = (truth[-1].end_s - truth[0].start_s) / 60
    print(f'{shuffled} and {sequential}: {len(truth)} utterances, {minutes:.1f} min, '
          f'{len({s.speaker for s in truth})} speakers never heard; {bundle.name}, '
          f'{calibration_text(bundle)}\n')
    print(score_table(rows))
    print('\nThe raw windows one by one, each against the utterance it overlaps most:\n')
    print(window_table(windows))
    bag_stem = os.path.splitext(os.path.normpath(shuffled))[0]
    output = args.output or bag_stem + '_smoothing.json'
    diagram = os.path.splitext(args.output)[0] if args.output else bag_stem
    diagram += '_reliability.png'
    os.makedirs(os.path.dirname(output) or '.', exist_ok=True)
    with open(output, 'w') as out:
        json.dump(dict(rows) | {f'{name}: raw windows': score for name, score in windows},
                  out, indent=1)
    plot_reliability(rows[:6], diagram, os.path.basename(shuffled))
    print(f'\n{output}, {diagram}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
