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
Speaker-independent cross-validation of the training recipe: the figures of the README.

    python bench/cross_validation.py ravdess      # 8 RAVDESS emotions, 6 folds of 4 actors
    python bench/cross_validation.py urdu        # 4 URDU emotions, 5 folds by speaker

Each fold trains config/train.yaml on one corpus with that fold's speakers held out (none of
their recordings is seen in training or validation) and scores them through the streaming
path, in both normalisation conditions (see ser_ros.training.evaluation). Prints a table of
the folds, the mean and the spread of the unweighted accuracy, and saves it as JSON.
"""

import argparse
from concurrent.futures import ProcessPoolExecutor
import json
import os
import statistics
import sys
import time

from ser_ros.core.bundle import load_bundle
from ser_ros.training.config import load_config
from ser_ros.training.train import train

PROTOCOLS = {
    'ravdess': {'folds': 6, 'overrides': [
        'corpora=[{kind: ravdess, root: ../shared/data/ravdess}]',
        'labels=[neutral, calm, happy, sad, angry, fearful, disgust, surprised]',
        'label_map={}']},
    'urdu': {'folds': 5, 'overrides': [
        'corpora=[{kind: manifest, root: ../shared/data/urdu/manifest.csv, '
        'normalise_by: corpus}]',
        'labels=[neutral, happy, sad, angry]', 'label_map={}']},
}


def run_fold(corpus, fold, output_root, extra):
    """Train and test one fold; return its test scores."""
    protocol = PROTOCOLS[corpus]
    output = os.path.join(output_root, f'{corpus}_fold{fold}')
    config = load_config('config/train.yaml', [
        *protocol['overrides'], 'split.test_speakers=null', f'split.folds={protocol["folds"]}',
        f'split.fold={fold}', f'name=cv_{corpus}_fold{fold}', f'output={output}', *extra])
    started = time.monotonic()
    bundle = train(config, progress=False)
    return {'fold': fold, 'test_speakers': bundle.metadata['split']['test'],
            'adapted_ua': bundle.metadata['test_ua']['adapted'],
            'cold_ua': bundle.metadata['test_ua']['cold'],
            'epochs': bundle.metadata['epochs_run'],
            'minutes': round((time.monotonic() - started) / 60, 1),
            'parameters': load_bundle(output).metadata['parameters']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('corpus', choices=sorted(PROTOCOLS))
    parser.add_argument('--output-root', default='runs/cv')
    parser.add_argument('--jobs', type=int, default=2, help='folds trained at once')
    parser.add_argument('overrides', nargs='*', help='extra key=value config overrides')
    args = parser.parse_args()
    folds = range(PROTOCOLS[args.corpus]['folds'])
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_fold, [args.corpus] * len(folds), folds,
                             [args.output_root] * len(folds), [args.overrides] * len(folds)))
    print('| fold | test speakers | UA adapted | UA cold | epochs | minutes |')
    print('|---:|---|---:|---:|---:|---:|')
    for row in rows:
        print(f"| {row['fold']} | {' '.join(row['test_speakers'])} | {row['adapted_ua']:.1%} | "
              f"{row['cold_ua']:.1%} | {row['epochs']} | {row['minutes']} |")
    summary = {}
    for key in ('adapted_ua', 'cold_ua'):
        values = [row[key] for row in rows]
        summary[key] = {'mean': statistics.mean(values), 'stdev': statistics.stdev(values),
                        'min': min(values), 'max': max(values)}
        print(f"{key}: mean {summary[key]['mean']:.1%}, sd {summary[key]['stdev']:.1%}, "
              f"range {summary[key]['min']:.1%}-{summary[key]['max']:.1%}")
    os.makedirs(args.output_root, exist_ok=True)
    with open(os.path.join(args.output_root, f'{args.corpus}.json'), 'w') as stream:
        json.dump({'folds': rows, 'summary': summary}, stream, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
