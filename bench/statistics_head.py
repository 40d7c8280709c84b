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
Give the bundles of a benchmark run a statistics head, without training their networks again.

    python bench/statistics_head.py FROM_ROOT TO_ROOT [--jobs 2] [--weight 0.3]

For every bundle folder in FROM_ROOT (as bench/generalisation.py leaves them), fit the head
as ``ser-train`` does after the network (``ser_ros.training.train.add_statistics_head``: the
bundle's own training speakers, its seed and its configuration in ``report/config.yaml``,
with ``model.statistics_head`` set to the weight) and write it to TO_ROOT under the same name.
Then ``python bench/generalisation.py --rescore --output-root TO_ROOT`` scores them.
"""

import argparse
from concurrent.futures import ProcessPoolExecutor
import os
import sys
import time

from ser_ros.training.config import load_config
from ser_ros.training.train import add_statistics_head


def add_head(source, target, weight):
    """Fit one bundle's head; return its name and the minutes it took."""
    started = time.monotonic()
    config = load_config(os.path.join(source, 'report', 'config.yaml'),
                         [f'model.statistics_head={weight}'])
    add_statistics_head(source, config, target, progress=False)
    return os.path.basename(source), (time.monotonic() - started) / 60


def main():
    """Fit the heads."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('source_root')
    parser.add_argument('target_root')
    parser.add_argument('--weight', type=float, default=0.3)
    parser.add_argument('--jobs', type=int, default=2)
    args = parser.parse_args()
    names = sorted(name for name in os.listdir(args.source_root)
                   if os.path.isfile(os.path.join(args.source_root, name, 'manifest.json')))
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(add_head, os.path.join(args.source_root, name),
                               os.path.join(args.target_root, name), args.weight)
                   for name in names]
        for future in futures:
            name, minutes = future.result()
            print(f'{name}: head fitted ({minutes:.1f} min)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
