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
Does the recipe generalise to people and languages it never heard? Measured against a baseline.

    python bench/generalisation.py [--quick] [--epochs N] [--jobs 2] [--only loco|ravdess8]
                                   [--rescore [--output-root A,B]] [key=value config overrides ...]

In one run, on the four shared corpora (RAVDESS English, URDU Urdu, nEMO Polish, ASED Amharic):

- leave one corpus out: train config/train.yaml on three corpora (7 labels, calm merged into
  neutral; validation speakers drawn from them), test on every speaker of the fourth, with
  predictions restricted to the labels that corpus has (a label it lacks never counts against
  it); unweighted accuracy (UA) with adapted and with cold normalisation, of the utterances
  and of their 2 s speech windows each alone (what the node publishes before its HMM);
- RAVDESS alone, 8 classes (calm kept), 6 folds of 4 actors;
- the SVM baseline on MFCC statistics (ser_ros.training.baseline) on exactly the same training
  and test speakers, so that every figure has its ratio to it.

Prints progress as the folds finish, then markdown tables; writes the figures as JSON
(``--output``, rewritten after every fold so that a stopped run keeps what it measured).
``--quick`` trains 5 epochs and 2 RAVDESS folds, for development; ``--epochs`` sets the
epochs of every split (the one-cycle schedule anneals over them); ``--rescore`` scores the
bundles an earlier run of the same overrides left in ``--output-root`` (a new figure for old
models) instead of training them; given several roots (runs of other seeds), it scores their
ensemble: the normalised geometric mean of the models' probabilities, window by window.
"""

import argparse
from concurrent.futures import as_completed, ProcessPoolExecutor
import json
import os
import statistics
import sys
import time

import numpy as np

from ser_ros.core.bundle import load_bundle
from ser_ros.core.recognizer import limit_threads
from ser_ros.resources import shared_data_folder
from ser_ros.training.baseline import SvmBaseline
from ser_ros.training.config import load_config
from ser_ros.training.dataset import load_labelled_audio
from ser_ros.training.evaluation import CONDITIONS, predictions_among, scores, \
    stream_probabilities, window_unweighted_accuracy
from ser_ros.training.train import train

LABELS_7 = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised']
LABEL_MAP_7 = {'calm': 'neutral', 'boredom': None}
LABELS_8 = ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised']
RAVDESS_FOLDS = 6
QUICK = {'epochs': 5, 'ravdess_folds': 2}


def corpora(data_root):
    """Return the four shared corpora as the trainer's corpus entries, by name."""
    return {
        'ravdess': {'kind': 'ravdess', 'root': os.path.join(data_root, 'ravdess')},
        'urdu': {'kind': 'manifest', 'root': os.path.join(data_root, 'urdu', 'manifest.csv'),
                 'normalise_by': 'corpus'},
        'nemo': {'kind': 'manifest', 'root': os.path.join(data_root, 'nemo', 'manifest.csv')},
        'ased': {'kind': 'manifest', 'root': os.path.join(data_root, 'ased', 'manifest.csv')},
    }


def comparison_arguments(doc, program):
    """
    Parse ``--data`` and ``--output`` of a comparison on the shared corpora.

    Returns the arguments, or None (with the reason on stderr) when the corpora are not found.
    """
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    parser.add_argument('--data', default=shared_data_folder(), help='the shared corpora')
    parser.add_argument('--output', default=f'bench/{program}.json')
    args = parser.parse_args()
    if not args.data:
        print(f'{program}: the shared corpora are not in ../shared/data; give --data',
              file=sys.stderr)
        return None
    return args


def leave_one_corpus_out(features, label_indices, corpus_of, sample_rate_hz):
    """
    Return the baseline SVM's unweighted accuracy on each held-out corpus, by name.

    ``features`` (n_utterances, n_features) are standardised per group; ``corpus_of``
    (n_utterances,) names each utterance's corpus; the audio was read at ``sample_rate_hz``;
    predictions are restricted to the held-out corpus's labels (of LABELS_7).
    """
    results = {}
    for corpus in sorted(set(corpus_of)):
        train, test = corpus_of != corpus, corpus_of == corpus
        baseline = SvmBaseline(sample_rate_hz).fit(features[train], label_indices[train])
        results[corpus] = baseline.unweighted_accuracy(features[test], label_indices[test],
                                                       LABELS_7)
    return results


def print_comparison(first_column, results):
    """Print a table of {row name: {held-out corpus: UA}} with each row's mean."""
    held_out = sorted(next(iter(results.values())))
    print(f"\n| {first_column} | {' | '.join(held_out)} | mean |")
    print('|---|' + '---:|' * (len(held_out) + 1))
    for name, row in results.items():
        print(f'| {name} | ' + ' | '.join(f'{row[c]:.1%}' for c in held_out)
              + f' | {np.mean(list(row.values())):.1%} |')


def flow(corpus_entries):
    """Return the YAML flow text of a list of corpus entries (for a config override)."""
    return '[' + ', '.join('{' + ', '.join(f'{k}: {v}' for k, v in entry.items()) + '}'
                           for entry in corpus_entries) + ']'


def ensemble_probabilities(bundles, data, condition):
    """
    Stream ``data`` through every bundle; return the normalised geometric mean of their outputs.

    Returns
    -------
    utterances, windows, window_utterances
        As :func:`ser_ros.training.evaluation.stream_probabilities` (one bundle: its own).

    """
    outputs = [stream_probabilities(bundle, data, condition, progress=False)
               for bundle in bundles]
    window_utterances = outputs[0][2]
    if any(not np.array_equal(output[2], window_utterances) for output in outputs[1:]):
        raise SystemExit('generalisation: the models gate different windows; an ensemble '
                         'needs the same voice-activity gate')

    def geometric_mean(probabilities):
        log_mean = np.mean(np.log(np.maximum(probabilities, 1e-12)), axis=0)
        mean = np.exp(log_mean - log_mean.max(axis=-1, keepdims=True))
        mean /= mean.sum(axis=-1, keepdims=True)
        return np.where(probabilities.sum(axis=(0, 2))[:, None] > 0, mean, 0.0)

    return (geometric_mean(np.stack([output[0] for output in outputs])),
            geometric_mean(np.stack([output[1] for output in outputs])), window_utterances)


def run_task(task, data_root, output_roots, epochs, extra, rescore=False):
    """
    Train and score one split (recipe and SVM); return its figures.

    Parameters
    ----------
    task : tuple
        ``('loco', held_out_corpus)`` or ``('ravdess8', fold)``.
    data_root : str
        Folder of the shared corpora.
    output_roots : list of str
        Where the trained bundles go (the first); with ``rescore``, where the bundles to score
        are (several: their ensemble).
    epochs : int or None
        Training epochs (None: the configuration's).
    extra : list of str
        Further ``key=value`` overrides (the levers under test).
    rescore : bool
        Score the bundles an earlier run left in ``output_roots`` instead of training one.

    """
    limit_threads(1)
    started = time.monotonic()
    everything = corpora(data_root)
    protocol, which = task
    name = f'{protocol}_{which}'
    if protocol == 'loco':
        training_corpora = [entry for key, entry in everything.items() if key != which]
        labels, label_map = LABELS_7, LABEL_MAP_7
        split = ['split.test_speakers=[]']
    else:
        training_corpora = [everything['ravdess']]
        labels, label_map = LABELS_8, {}
        split = ['split.test_speakers=null', f'split.folds={RAVDESS_FOLDS}',
                 f'split.fold={which}']
    overrides = [f'corpora={flow(training_corpora)}', f'labels=[{", ".join(labels)}]',
                 'label_map={' + ', '.join(f'{k}: {v or "null"}'
                                           for k, v in label_map.items()) + '}',
                 *split, f'name=gen_{name}', f'output={os.path.join(output_roots[0], name)}']
    if epochs:
        overrides += [f'training.epochs={epochs}', f'training.patience={epochs}']
    config = load_config('config/train.yaml', overrides + list(extra))
    rate = config.features.sample_rate_hz
    data = load_labelled_audio(config.corpus_dicts(), labels, label_map, rate, progress=False)
    bundles = ([load_bundle(os.path.join(root, name)) for root in output_roots] if rescore
               else [train(config, progress=False, data=data)])
    bundle = bundles[0]
    split_speakers = bundle.metadata['split']
    if any(other.metadata['split']['test'] != split_speakers['test'] for other in bundles[1:]):
        raise SystemExit(f'generalisation: the bundles of {name} hold out other speakers')
    if protocol == 'loco':
        test = load_labelled_audio([everything[which]], labels, label_map, rate, progress=False)
    else:
        test = data.of_speakers(split_speakers['test'])
    allowed = sorted(set(test.label_indices.tolist()))
    result = {'task': name, 'test_utterances': len(test),
              'test_speakers': len(set(test.speakers)),
              'labels': [labels[index] for index in allowed],
              'epochs': bundle.metadata['epochs_run']}
    for condition in CONDITIONS:
        utterances, windows, window_utterances = ensemble_probabilities(bundles, test,
                                                                        condition)
        result[f'ua_{condition}'] = scores(
            test.label_indices, predictions_among(utterances, allowed),
            labels)['unweighted_accuracy']
        result[f'window_ua_{condition}'] = window_unweighted_accuracy(
            test.label_indices, windows, window_utterances, labels, allowed)
    seen = data.of_speakers(split_speakers['train'] + split_speakers['validation'])
    baseline = SvmBaseline(rate)
    baseline.fit(baseline.features(seen), seen.label_indices)
    result['ua_svm'] = baseline.unweighted_accuracy(baseline.features(test),
                                                    test.label_indices, labels)
    result['minutes'] = round((time.monotonic() - started) / 60, 1)
    return result


def table(rows, first_column):
    """Return a markdown table of task rows, with their mean."""
    lines = [f'| {first_column} | labels | n | UA adapted | UA cold | windows UA cold | SVM UA '
             '| adapted - SVM |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        lines.append(f"| {row['task'].split('_', 1)[1]} | {len(row['labels'])} | "
                     f"{row['test_utterances']} | {row['ua_adapted']:.1%} | "
                     f"{row['ua_cold']:.1%} | {row['window_ua_cold']:.1%} | {row['ua_svm']:.1%} | "
                     f"{100 * (row['ua_adapted'] - row['ua_svm']):+.1f} |")
    means = {key: statistics.mean(row[key] for row in rows)
             for key in ('ua_adapted', 'ua_cold', 'window_ua_cold', 'ua_svm')}
    lines.append(f"| **mean** | | | **{means['ua_adapted']:.1%}** | {means['ua_cold']:.1%} | "
                 f"{means['window_ua_cold']:.1%} | {means['ua_svm']:.1%} | "
                 f"{100 * (means['ua_adapted'] - means['ua_svm']):+.1f} |")
    return '\n'.join(lines), means


def main():
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='5 epochs, 2 RAVDESS folds')
    parser.add_argument('--epochs', type=int, help='epochs of every split (default: the '
                        "configuration's; 5 with --quick)")
    parser.add_argument('--jobs', type=int, default=2, help='splits trained at once')
    parser.add_argument('--data', default=shared_data_folder(), help='the shared corpora')
    parser.add_argument('--output-root', default='runs/generalisation',
                        type=lambda text: text.split(','),
                        help='where the bundles go; with --rescore, comma-separated roots of '
                        'runs to score as an ensemble')
    parser.add_argument('--output', default='bench/generalisation.json')
    parser.add_argument('--only', choices=['loco', 'ravdess8'], help='one protocol only')
    parser.add_argument('--rescore', action='store_true', help='score the bundles an earlier '
                        'run left in --output-root (same overrides) instead of training')
    parser.add_argument('overrides', nargs='*', help='extra key=value config overrides')
    args = parser.parse_args()
    if not args.data:
        print('generalisation: the shared corpora are not in ../shared/data; give --data',
              file=sys.stderr)
        return 2
    folds = QUICK['ravdess_folds'] if args.quick else RAVDESS_FOLDS
    tasks = [('loco', name) for name in corpora(args.data) if args.only in (None, 'loco')]
    tasks += [('ravdess8', fold) for fold in range(folds) if args.only in (None, 'ravdess8')]
    epochs = args.epochs or (QUICK['epochs'] if args.quick else None)
    started = time.monotonic()
    rows = []
    if len(args.output_root) > 1 and not args.rescore:
        parser.error('several --output-root are an ensemble to --rescore')
    report = {'quick': args.quick, 'epochs': epochs, 'overrides': args.overrides,
              'rescored': args.rescore, 'output_roots': args.output_root, 'rows': rows}
    os.makedirs(os.path.dirname(args.output) or '.', exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_task, task, args.data, args.output_root, epochs,
                               args.overrides, args.rescore) for task in tasks]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            print(f"[{(time.monotonic() - started) / 60:5.1f} min] {row['task']}: UA adapted "
                  f"{row['ua_adapted']:.1%}, cold {row['ua_cold']:.1%} (windows "
                  f"{row['window_ua_cold']:.1%}), SVM {row['ua_svm']:.1%}"
                  f" ({row['epochs']} epochs, {row['minutes']} min)", flush=True)
            with open(args.output, 'w') as stream:
                json.dump(report, stream, indent=1)
    for protocol, title in (('loco', 'held-out corpus'), ('ravdess8', 'RAVDESS fold')):
        chosen = sorted((row for row in rows if row['task'].startswith(protocol)),
                        key=lambda row: row['task'])
        if chosen:
            text, report[protocol] = table(chosen, title)
            print(f'\n{text}')
    with open(args.output, 'w') as stream:
        json.dump(report, stream, indent=1)
    print(f'\n{args.output}; {(time.monotonic() - started) / 60:.0f} min')
    return 0


if __name__ == '__main__':
    sys.exit(main())
