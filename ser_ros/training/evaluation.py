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
Speaker-independent evaluation of a model bundle, and the results table of the README.

Every test recording is classified with the same streaming path as the node
(:func:`ser_ros.core.recognizer.predict_utterance`); the scores make a markdown table
(per-class precision, recall, F1; unweighted and weighted accuracy) and a confusion-matrix PNG.
The trainer's report and ``ser-evaluate`` (:mod:`ser_ros.training.evaluate`) both use it.

Two normalisation conditions are scored, because a node meets a new speaker cold:

- ``adapted``: standardised with the statistics of the recording's normalisation group (its
  speaker, or its corpus where speakers each speak one emotion) over all its speech: what the
  node's adaptive normaliser converges to after a while (and how the model trains);
- ``cold``: each recording alone from the training statistics, adapting within it, what the
  node does in the first seconds with a new speaker and microphone.
"""

import json
import logging
import os

import matplotlib
import numpy as np
from ser_ros.core.bundle import calibration_text
from ser_ros.core.errors import SerError
from ser_ros.core.features import FrameFeaturizer
from ser_ros.core.recognizer import predict_utterance, StreamingRecognizer
from ser_ros.training.calibration import calibration_summary, plot_reliability
from ser_ros.training.dataset import group_statistics, utterance_frames
from ser_ros.training.encoder_head import group_embedding_statistics
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from tqdm import tqdm

matplotlib.use('Agg')
LOGGER = logging.getLogger(__name__)
CONDITIONS = ('adapted', 'cold')


def adapted_statistics(bundle, data):
    """
    Return the statistics of each normalisation group of ``data`` over its speech frames.

    Returns
    -------
    dict of str to ser_ros.core.normalization.NormStats

    """
    featurizer = FrameFeaturizer(bundle.feature_config)
    return group_statistics(*utterance_frames(data, featurizer, bundle.vad), data.norm_groups)


def utterance_probabilities(bundle, data, condition, model=None, progress=True, stats=None):
    """
    Stream every recording of ``data`` through the recogniser; return its label probabilities.

    Parameters are those of :func:`stream_probabilities`.

    Returns
    -------
    numpy.ndarray, shape (n_utterances, n_labels)
        Normalised geometric mean of the speech windows' probabilities; all zeros where no
        window had speech.

    """
    return stream_probabilities(bundle, data, condition, model, progress, stats)[0]


def stream_probabilities(bundle, data, condition, model=None, progress=True, stats=None):
    """
    Stream every recording of ``data`` through the recogniser; return utterance and windows.

    Parameters
    ----------
    bundle : ser_ros.core.bundle.ModelBundle
        The model and its streaming settings.
    data : ser_ros.training.dataset.LabelledAudio
        Recordings to classify.
    condition : str
        ``'adapted'`` or ``'cold'`` (see the module docstring).
    model : ser_ros.core.model.BiLSTMClassifier, optional
        Weights to use instead of the bundle's.
    progress : bool
        Show a progress bar.
    stats : dict of str to NormStats, optional
        :func:`adapted_statistics` of ``data``, when already computed (``'adapted'`` only).

    Returns
    -------
    utterances : numpy.ndarray, shape (n_utterances, n_labels)
        Normalised geometric mean of each recording's speech windows' probabilities; all zeros
        where no window had speech.
    windows : numpy.ndarray, shape (n_windows, n_labels)
        The raw (unsmoothed) probabilities of every speech window, what the node publishes
        before its HMM filter, in recording order.
    window_utterances : numpy.ndarray, shape (n_windows,), int
        The recording each window belongs to.

    """
    if condition not in CONDITIONS:
        raise ValueError(f'condition {condition!r} not in {CONDITIONS}')
    recognizer = StreamingRecognizer(bundle, adapt_normalisation=condition == 'cold',
                                     model=model)
    encoder_stats = {}
    if condition == 'cold':
        stats = {}
    else:
        if stats is None:
            stats = adapted_statistics(bundle, data)
        if recognizer.encoder is not None:
            encoder_stats = group_embedding_statistics(
                recognizer.encoder, data.signals, data.norm_groups, recognizer.window_samples,
                recognizer.featurizer, bundle.vad)
    n_labels = len(bundle.labels)
    utterances = np.zeros((len(data), n_labels))
    windows, window_utterances = [], []
    for index, (signal, group) in enumerate(tqdm(list(zip(data.signals, data.norm_groups)),
                                                 desc=condition, disable=not progress,
                                                 leave=False)):
        result = predict_utterance(recognizer, signal, stats.get(group, bundle.norm),
                                   encoder_norm=encoder_stats.get(group))
        if result.label is not None:
            utterances[index] = result.probabilities
        speech = [estimate.raw_probabilities for estimate in result.estimates
                  if estimate.raw_probabilities is not None]
        windows.extend(speech)
        window_utterances.extend([index] * len(speech))
    return (utterances, np.array(windows).reshape(-1, n_labels),
            np.array(window_utterances, dtype=int))


def predictions_among(probabilities, allowed=None):
    """
    Return the most probable label of each utterance among the ``allowed`` label indices.

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (n_utterances, n_labels)
        See :func:`utterance_probabilities`; a row of zeros (no speech) gives -1, a miss.
    allowed : sequence of int, optional
        The labels a corpus has; all when None. A label the corpus lacks is never predicted
        (and so never counts against it).

    Returns
    -------
    numpy.ndarray, shape (n_utterances,), int

    """
    masked = np.full(probabilities.shape, -np.inf)
    columns = list(range(probabilities.shape[1])) if allowed is None else list(allowed)
    masked[:, columns] = probabilities[:, columns]
    predictions = masked.argmax(axis=1)
    predictions[probabilities.sum(axis=1) == 0] = -1
    return predictions


def classify(bundle, data, condition, model=None, progress=True, stats=None):
    """
    Classify every recording of ``data`` through the streaming path.

    Parameters are those of :func:`utterance_probabilities`.

    Returns
    -------
    numpy.ndarray, shape (n_utterances,), int
        Predicted label index; -1 where no window had speech (counted as an error).

    """
    return predictions_among(utterance_probabilities(bundle, data, condition, model, progress,
                                                     stats))


def window_unweighted_accuracy(truth, windows, window_utterances, labels, allowed=None):
    """
    Return the unweighted accuracy of the speech windows, each taken alone.

    Parameters
    ----------
    truth : numpy.ndarray, shape (n_utterances,), int
        Label index of each recording.
    windows, window_utterances
        See :func:`stream_probabilities`.
    labels : list of str
        Names of the label indices.
    allowed : sequence of int, optional
        See :func:`predictions_among`.

    Returns
    -------
    float
        Mean per-class recall over windows: what the node's raw output gets right, where the
        utterance figure pools a recording's windows first.

    """
    return scores(np.asarray(truth)[window_utterances], predictions_among(windows, allowed),
                  labels)['unweighted_accuracy']


def scores(truth, predictions, labels):
    """
    Compute the figures of the results table.

    Parameters
    ----------
    truth, predictions : numpy.ndarray, shape (n_utterances,), int
        Label indices; a prediction of -1 is a miss.
    labels : list of str
        Names of the label indices.

    Returns
    -------
    dict
        ``unweighted_accuracy`` (mean per-class recall), ``weighted_accuracy`` (share
        correct), ``per_class`` (precision, recall, f1, support per label), ``confusion``
        (rows: truth, columns: prediction, counts), ``count``.

    """
    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predictions, labels=indices, zero_division=0)
    present = support > 0
    return {
        'unweighted_accuracy': float(recall[present].mean()),
        'weighted_accuracy': float(np.mean(truth == predictions)),
        'per_class': {label: {'precision': float(precision[i]), 'recall': float(recall[i]),
                              'f1': float(f1[i]), 'support': int(support[i])}
                      for i, label in enumerate(labels)},
        'confusion': confusion_matrix(truth, predictions, labels=indices).tolist(),
        'count': int(len(truth)),
    }


def markdown_table(result):
    """Return the per-class table and the accuracies as markdown."""
    lines = ['| emotion | precision | recall | F1 | n |', '|---|---:|---:|---:|---:|']
    for label, row in result['per_class'].items():
        lines.append(f"| {label} | {row['precision']:.2f} | {row['recall']:.2f} | "
                     f"{row['f1']:.2f} | {row['support']} |")
    lines.append(f"| **unweighted accuracy** | | **{result['unweighted_accuracy']:.1%}** | | "
                 f"{result['count']} |")
    lines.append(f"| weighted accuracy | | {result['weighted_accuracy']:.1%} | | |")
    return '\n'.join(lines)


def plot_confusion(result, labels, path, title):
    """Write the confusion matrix (rows normalised to recall) as a PNG."""
    from matplotlib import pyplot
    counts = np.array(result['confusion'], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = pyplot.subplots(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.7 * len(labels)))
    axes.imshow(rates, cmap='Blues', vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha='right')
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel('predicted')
    axes.set_ylabel('true')
    axes.set_title(title, fontsize=10)
    for (row, column), rate in np.ndenumerate(rates):
        axes.text(column, row, f'{rate:.2f}', ha='center', va='center', fontsize=8,
                  color='white' if rate > 0.5 else 'black')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def evaluate_bundle(bundle, data, output_dir, title, progress=True):
    """
    Score ``bundle`` on ``data`` in both conditions and write the report files.

    Writes ``results.md``, ``results.json``, ``confusion_<condition>.png`` and
    ``reliability.png`` (the calibration of the utterance confidences) into ``output_dir`` and
    returns the scores of each condition.

    """
    os.makedirs(output_dir, exist_ok=True)
    results = {}
    for condition in CONDITIONS:
        probabilities, windows, window_utterances = stream_probabilities(
            bundle, data, condition, progress=progress)
        predictions = predictions_among(probabilities)
        results[condition] = scores(data.label_indices, predictions, bundle.labels)
        results[condition]['window_unweighted_accuracy'] = window_unweighted_accuracy(
            data.label_indices, windows, window_utterances, bundle.labels)
        results[condition]['calibration'] = calibration_summary(
            probabilities.max(axis=1), predictions == data.label_indices)
        plot_confusion(results[condition], bundle.labels,
                       os.path.join(output_dir, f'confusion_{condition}.png'),
                       f'{title}\n({condition} normalisation)')
    plot_reliability([(condition, results[condition]['calibration'])
                      for condition in CONDITIONS],
                     os.path.join(output_dir, 'reliability.png'), f'{title}: utterances')
    speakers = sorted(set(data.speakers))
    text = [f'# {title}', '',
            f'{len(data)} recordings of {len(speakers)} speakers the model never heard: '
            + ', '.join(speakers), '',
            '## Adapted normalisation (the node after it has heard the speaker a while)', '',
            markdown_table(results['adapted']), '', '![confusion](confusion_adapted.png)', '',
            '## Cold start (each recording alone, from the training statistics)', '',
            markdown_table(results['cold']), '', '![confusion](confusion_cold.png)', '',
            '## Speech windows, each alone (what the node publishes before its HMM)', '',
            '| normalisation | window unweighted accuracy | utterance unweighted accuracy |',
            '|---|---:|---:|',
            *(f"| {condition} | {results[condition]['window_unweighted_accuracy']:.1%} | "
              f"{results[condition]['unweighted_accuracy']:.1%} |" for condition in CONDITIONS),
            '',
            '## Calibration of the utterance confidences (top label, 10 bins)', '',
            f'The model is {calibration_text(bundle)}.', '',
            '| normalisation | ECE | mean confidence | accuracy |', '|---|---:|---:|---:|',
            *(f"| {condition} | {results[condition]['calibration']['ece']:.3f} | "
              f"{results[condition]['calibration']['mean_confidence']:.2f} | "
              f"{results[condition]['calibration']['accuracy']:.1%} |"
              for condition in CONDITIONS),
            '', '![reliability](reliability.png)', '']
    with open(os.path.join(output_dir, 'results.md'), 'w') as stream:
        stream.write('\n'.join(text))
    with open(os.path.join(output_dir, 'results.json'), 'w') as stream:
        json.dump(results, stream, indent=1)
    return results


def test_set_of(bundle, corpora=None, speakers=None):
    """
    Return the corpora and speakers to test ``bundle`` on.

    Defaults come from the bundle's training metadata: its corpora and its test speakers.

    """
    training = bundle.metadata
    corpora = corpora or training.get('corpora')
    speakers = speakers or training.get('split', {}).get('test')
    if not corpora or not speakers:
        raise SerError('the bundle does not record its corpora and test speakers: '
                       'give --corpus and --speakers')
    return corpora, speakers
