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
What the HMM filter buys on streams of speakers the model never heard: the dwell-time sweep.

    python bench/smoothing.py [--model models/default] [--bag runs/heldout.bag] [--snr-db 20]
                              [--speakers ravdess:21,urdu:SM1]

Makes (once) a bag of the model's held-out test speakers, in turns of 1-3 utterances per
speaker and emotion with pauses, then runs the core over it offline for several dwell times
and prints accuracy, unweighted accuracy, label changes per minute and change delay of the
smoothed stream next to the raw BiLSTM stream, with the calibration of each (ECE, and a
reliability diagram beside the bag). A calibrated model is also run without its calibration
(temperature 1, emission weight 1) at its default dwell, to show what the calibration does.
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
from ser_ros.core.bundle import load_bundle
from ser_ros.core.recognizer import configure_torch, StreamingRecognizer
from ser_ros.resources import default_model_path
from ser_ros.tools.bags import read_truth, run_offline, write_bag
from ser_ros.tools.scoring import estimates_as_published, score_stream, score_table
from ser_ros.tools.streams import compose_stream, corpus_items, plan_turns
from ser_ros.training.calibration import plot_reliability

DWELLS_S = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def make_heldout_bag(bundle, path, snr_db, speakers=None, seed=0):
    """Write a bag of the bundle's test speakers (all, or those in ``speakers``)."""
    test_speakers = bundle.metadata['split']['test']
    unknown = sorted(set(speakers or ()) - set(test_speakers))
    if unknown:
        raise SystemExit(f'smoothing: {unknown} are not test speakers of {bundle.name}')
    items = corpus_items(bundle.metadata['corpora'], bundle.labels,
                         bundle.metadata['label_map'], speakers or test_speakers)
    generator = np.random.default_rng(seed)
    signal, segments = compose_stream(plan_turns(items, generator), 16000, generator,
                                      snr_db=snr_db)
    write_bag(path, signal, segments, AudioFormat())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=default_model_path())
    parser.add_argument('--bag', default='runs/heldout.bag')
    parser.add_argument('--snr-db', type=float, default=None)
    parser.add_argument('--speakers', type=lambda text: text.split(','),
                        help='comma-separated test speakers for a new bag (default: all)')
    args = parser.parse_args()
    configure_torch(1)
    bundle = load_bundle(args.model)
    if not os.path.exists(args.bag):
        make_heldout_bag(bundle, args.bag, args.snr_db, args.speakers)
    truth = read_truth(args.bag)
    rows = []
    for dwell_s in DWELLS_S:
        estimates = run_offline(args.bag, StreamingRecognizer(bundle, dwell_s=dwell_s))
        if not rows:
            rows.append(('raw BiLSTM', score_stream(
                estimates_as_published(estimates, bundle.labels, smoothed=False), truth)))
        rows.append((f'smoothed, dwell {dwell_s:g} s',
                     score_stream(estimates_as_published(estimates, bundle.labels), truth)))
    if bundle.calibrated:
        estimates = run_offline(args.bag, StreamingRecognizer(replace(bundle, calibration=None)))
        rows.append(('raw BiLSTM, uncalibrated', score_stream(
            estimates_as_published(estimates, bundle.labels, smoothed=False), truth)))
        rows.append((f'smoothed, dwell {bundle.streaming.dwell_s:g} s, uncalibrated',
                     score_stream(estimates_as_published(estimates, bundle.labels), truth)))
    minutes = (truth[-1].end_s - truth[0].start_s) / 60
    print(f'{args.bag}: {len(truth)} utterances, {minutes:.1f} min, '
          f'{len({s.speaker for s in truth})} held-out speakers\n')
    print(score_table(rows))
    stem = os.path.splitext(os.path.normpath(args.bag))[0]
    with open(stem + '_smoothing.json', 'w') as out:
        json.dump(dict(rows), out, indent=1)
    plot_reliability(rows, stem + '_reliability.png', os.path.basename(args.bag))
    print(f'\n{stem}_smoothing.json, {stem}_reliability.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
