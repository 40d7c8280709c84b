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
The streaming real-time factor of two checkouts of ser_ros, measured in turns.

    python bench/compare_rtf.py BEFORE AFTER [--rounds 5] [--model models/default]
                                [--output FILE]

This machine's speed drifts by half within an hour (the feature stage alone, plain numpy, has
measured 0.0010 and 0.0015 of real time on the same code), so one run of a checkout says little
about a change. Each round runs BEFORE, then AFTER, each in a fresh process that imports that
checkout's ``ser_ros`` and its ``bench/benchmarks.py`` (any checkout from 4fcbe9d on): the
median of three passes of 120 s of synthetic speech in 128 ms and in 32 ms messages, and of the
recorded RAVDESS utterances with pauses (when the shared corpora are there). Prints each run,
then the median and range of each figure per checkout and AFTER's change against BEFORE's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

#: What a child process runs, in the checkout given as its argument.
MEASURE = """
import json, sys
sys.path.insert(0, sys.argv[1] + '/bench')
from benchmarks import limit_threads, load_bundle, recorded_speech, speech_like, streaming_rtf
from ser_ros.resources import shared_data_folder
limit_threads(1)
bundle = load_bundle(sys.argv[2])
audio = speech_like(120.0)
figures = {'synthetic, 128 ms messages': streaming_rtf(bundle, audio),
           'synthetic, 32 ms messages': streaming_rtf(bundle, audio, chunk_s=0.032)}
recorded = recorded_speech(shared_data_folder())
if recorded is not None:
    figures['recorded utterances, 128 ms messages'] = streaming_rtf(bundle, recorded)
print(json.dumps(figures))
"""


def measure(checkout, model):
    """Return the figures of one run of ``checkout`` on the bundle ``model``, by name."""
    environment = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    # -P: the working directory (this checkout, perhaps) must not shadow the one under test.
    completed = subprocess.run([sys.executable, '-P', '-c', MEASURE, os.path.abspath(checkout),
                                os.path.abspath(model)], env=environment, check=True,
                               capture_output=True, text=True)
    return json.loads(completed.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('before', help='a checkout of ser_ros (the repository root)')
    parser.add_argument('after', help='another checkout')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--model', default='models/default',
                        help='the bundle both run (default: models/default)')
    parser.add_argument('--output', help='JSON of every run')
    args = parser.parse_args()
    runs = {'before': [], 'after': []}
    for round_index in range(args.rounds):
        for name in runs:
            runs[name].append(measure(getattr(args, name), args.model))
            print(f'round {round_index + 1}, {name}:', ', '.join(
                f'{figure} {value:.4f}' for figure, value in runs[name][-1].items()), flush=True)
    print('\n| real-time factor | before: median (range) | after: median (range) | change |')
    print('|---|---:|---:|---:|')
    for figure in runs['before'][0]:
        values = {name: [run[figure] for run in runs[name]] for name in runs}
        medians = {name: statistics.median(values[name]) for name in runs}
        print(f'| {figure} | ' + ' | '.join(
            f'{medians[name]:.4f} ({min(values[name]):.4f}-{max(values[name]):.4f})'
            for name in runs) + f" | {medians['after'] / medians['before'] - 1:+.0%} |")
    if args.output:
        with open(args.output, 'w') as stream:
            json.dump({'before': args.before, 'after': args.after, 'runs': runs}, stream,
                      indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
