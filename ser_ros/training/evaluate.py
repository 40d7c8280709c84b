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
``ser-evaluate``: score a model on speakers it never heard, and write the results table.

    ser-evaluate --model models/default          # the test speakers recorded in the bundle
    ser-evaluate --corpus ravdess:../shared/data/ravdess --speakers ravdess:24

The corpora and test speakers default to those in the bundle's training metadata; the table
(``results.md``, ``results.json``) and the confusion matrices (PNG) go to ``--output-dir``.
"""

import argparse
import logging
import os
import sys

from ser_ros.core.bundle import load_bundle
from ser_ros.core.errors import run_cli, SerError
from ser_ros.core.recognizer import limit_threads
from ser_ros.resources import default_model_path
from ser_ros.training.corpora import parse_corpus
from ser_ros.training.dataset import load_labelled_audio
from ser_ros.training.evaluation import evaluate_bundle, test_set_of


def run(argv=None):
    """Parse the command line and evaluate."""
    parser = argparse.ArgumentParser(
        prog='ser-evaluate', description='Score a model on speakers it never saw and write '
        'the results table (markdown) and confusion matrices (PNG).')
    parser.add_argument('--model', default=default_model_path(), help='model bundle folder')
    parser.add_argument('--corpus', action='append', type=parse_corpus,
                        help='kind:path of a test corpus (repeatable); default: the corpora '
                        'the model was trained from')
    parser.add_argument('--speakers', nargs='+', help='test speakers (corpus:id); default: the '
                        "model's held-out test speakers")
    parser.add_argument('--output-dir', default='assets', help='where results.md, results.json '
                        'and the PNGs go (default: assets)')
    parser.add_argument('--threads', type=int, default=2, help='torch and BLAS threads')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    limit_threads(args.threads)
    bundle = load_bundle(args.model)
    corpora, speakers = test_set_of(bundle, args.corpus, args.speakers)
    training = bundle.metadata
    data = load_labelled_audio(corpora, bundle.labels, training.get('label_map', {}),
                               bundle.feature_config.sample_rate_hz).of_speakers(speakers)
    if len(data) == 0:
        raise SerError('no test recordings found for those speakers')
    evaluate_bundle(bundle, data, args.output_dir, f'{bundle.name} on held-out speakers')
    with open(os.path.join(args.output_dir, 'results.md')) as stream:
        print(stream.read())
    return 0


def main(argv=None):
    """Run ``ser-evaluate``: user errors print ``ser-evaluate: message`` and exit 2."""
    return run_cli('ser-evaluate', run, argv)


if __name__ == '__main__':
    sys.exit(main())
