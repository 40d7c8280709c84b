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
``ser-predict``: the emotion of one recording, or of many.

    ser-predict --file speech.wav [--json]
    ser-predict --input recordings/ --output predictions.csv
    ser-predict --input 'recordings/**/*.mp3' --output predictions.json
    ser-predict --input manifest.csv --output predictions.csv

Any wav, flac, ogg or mp3, at any sample rate, mono or stereo. Each recording is streamed
through the same recogniser as on the robot (:func:`ser_ros.core.recognizer.predict_utterance`);
the label is the arg-max of the geometric mean of the window probabilities over the windows
with speech, and the smoothed (HMM) probabilities after the last window are reported too.
"""

import argparse
import csv
import glob
import json
import os
import sys

from ser_ros.core.audio import audio_blocks, AudioFormatError
from ser_ros.core.bundle import calibration_text, load_bundle, UNCALIBRATED_WARNING
from ser_ros.core.errors import run_cli, SerError
from ser_ros.core.recognizer import limit_threads, predict_utterance, StreamingRecognizer
from ser_ros.resources import default_model_path
from tqdm import tqdm

AUDIO_SUFFIXES = ('.wav', '.flac', '.ogg', '.mp3')


def predict_file(recognizer, path):
    """
    Classify one recording.

    Returns
    -------
    dict
        ``path``, ``label`` (None when no speech was heard), ``confidence``,
        ``probabilities`` and ``smoothed`` (label -> probability), ``duration_s``,
        ``windows`` and ``speech_windows``.

    """
    rate = recognizer.config.sample_rate_hz
    samples = 0

    def counted(blocks):
        nonlocal samples
        for block in blocks:
            samples += len(block)
            yield block
    # Block by block: memory stays bounded for recordings of hours.
    result = predict_utterance(recognizer, counted(audio_blocks(path, rate)),
                               keep_estimates=False)
    return {
        'path': str(path), 'label': result.label, 'confidence': round(result.confidence, 4),
        'probabilities': {label: round(float(p), 4)
                          for label, p in zip(recognizer.labels, result.probabilities)},
        'smoothed': {label: round(float(p), 4)
                     for label, p in zip(recognizer.labels, result.smoothed_probabilities)},
        'duration_s': round(samples / rate, 3),
        'windows': result.windows,
        'speech_windows': result.speech_windows,
    }


def expand_inputs(spec):
    """
    List the recordings named by a folder, a glob pattern or a CSV manifest (``path`` column).

    Returns
    -------
    list of str

    """
    if os.path.isdir(spec):
        return sorted(os.path.join(folder, name) for folder, _, names in os.walk(spec)
                      for name in names if name.lower().endswith(AUDIO_SUFFIXES))
    if spec.lower().endswith('.csv') and os.path.isfile(spec):
        base = os.path.dirname(os.path.abspath(spec))
        with open(spec, newline='') as stream:
            reader = csv.DictReader(stream)
            if 'path' not in (reader.fieldnames or ()):
                raise SerError(f'manifest {spec} has no path column')
            return [os.path.join(base, row['path']) for row in reader]
    return sorted(glob.glob(spec, recursive=True))


def write_rows(rows, labels, path):
    """Write predictions as CSV (one column per label's probability) or JSON, by suffix."""
    if path.lower().endswith('.json'):
        with open(path, 'w') as stream:
            json.dump(rows, stream, indent=1)
        return
    with open(path, 'w', newline='') as stream:
        writer = csv.writer(stream)
        writer.writerow(['path', 'label', 'confidence', *labels, 'duration_s', 'speech_windows',
                         'error'])
        for row in rows:
            probabilities = row.get('probabilities', {})
            writer.writerow([row['path'], row.get('label') or '', row.get('confidence', ''),
                             *[probabilities.get(label, '') for label in labels],
                             row.get('duration_s', ''), row.get('speech_windows', ''),
                             row.get('error', '')])


def format_result(result):
    """Return a readable summary of one prediction."""
    lines = [f"{result['path']}: {result['label'] or 'no speech detected'}"
             + (f" ({result['confidence']:.0%})" if result['label'] else '')]
    for label, probability in sorted(result['probabilities'].items(), key=lambda kv: -kv[1]):
        lines.append(f'  {label:<10} {probability:6.1%} {"#" * int(round(probability * 40))}')
    return '\n'.join(lines)


def run(argv=None):
    """Parse the command line and predict."""
    parser = argparse.ArgumentParser(prog='ser-predict', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n')[1])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--file', help='one recording')
    source.add_argument('--input', help='a folder, a glob pattern or a CSV manifest')
    parser.add_argument('--output', help='batch results file, .csv or .json (default: stdout '
                        'as JSON lines)')
    parser.add_argument('--json', action='store_true', help='print JSON instead of text')
    parser.add_argument('--model', default=default_model_path(), help='model bundle folder')
    parser.add_argument('--threads', type=int, default=1, help='torch and BLAS threads')
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    bundle = load_bundle(args.model)
    if not bundle.calibrated:
        print(f'ser-predict: note: model {bundle.name} is {calibration_text(bundle)}: '
              f'{UNCALIBRATED_WARNING}', file=sys.stderr)
    recognizer = StreamingRecognizer(bundle)
    if args.file:
        result = predict_file(recognizer, args.file)
        print(json.dumps(result, indent=1) if args.json else format_result(result))
        return 0
    paths = expand_inputs(args.input)
    if not paths:
        raise SerError(f'no recordings match {args.input}')
    rows = []
    for path in tqdm(paths, desc='predicting', file=sys.stderr):
        try:
            rows.append(predict_file(recognizer, path))
        except (AudioFormatError, OSError) as error:
            rows.append({'path': path, 'error': str(error)})
    if args.output:
        write_rows(rows, recognizer.labels, args.output)
    else:
        for row in rows:
            print(json.dumps(row))
    failures = sum('error' in row for row in rows)
    print(f'{len(rows) - failures} recordings classified, {failures} unreadable',
          file=sys.stderr)
    return 1 if failures == len(rows) else 0


def main(argv=None):
    """Run ``ser-predict``: user errors print ``ser-predict: message`` and exit 2."""
    return run_cli('ser-predict', run, argv)


if __name__ == '__main__':
    sys.exit(main())
