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
Score a stream of published emotion estimates against the ground truth of a bag.

The published label is held from its stamp until the next estimate (at most ``hold_s``) and
sampled every ``grid_s`` over the speech time (the truth segments). Figures:

- accuracy and unweighted accuracy (mean over emotions) over speech time; time without an
  estimate counts as wrong;
- coverage: share of speech time with an estimate;
- label changes per minute of stream;
- change delay: from the start of a segment whose emotion differs from the previous one to the
  first published estimate with the new emotion (within the segment), and the share of such
  changes detected at all;
- calibration of the estimates stamped inside an utterance: expected calibration error (10
  bins, top label) and mean confidence (:mod:`ser_ros.training.calibration`).
"""

import numpy as np
from ser_ros.training.calibration import calibration_summary

#: Sampling step of the speech time [s].
GRID_S = 0.1


def score_stream(published, segments, hold_s=2.0, grid_s=GRID_S):
    """
    Score published estimates against ground-truth segments.

    Parameters
    ----------
    published : list of (time_s, label, confidence)
        Estimates in time order (same clock as the segments).
    segments : list of ser_ros.tools.bags.Segment
        Ground truth, in time order.
    hold_s : float
        Longest time an estimate stands for [s] (the window length is natural).
    grid_s : float
        Sampling step [s].

    Returns
    -------
    dict
        accuracy, unweighted_accuracy, coverage, changes_per_minute, median_delay_s,
        mean_delay_s, changes_detected, estimates, speech_minutes.

    """
    times = np.array([p[0] for p in published])
    labels = [p[1] for p in published]
    truth, held = [], []
    for segment in segments:
        for t in np.arange(segment.start_s, segment.end_s, grid_s):
            index = int(np.searchsorted(times, t, side='right')) - 1
            truth.append(segment.label)
            held.append(labels[index] if index >= 0 and t - times[index] <= hold_s else None)
    truth, held = np.array(truth), np.array(held, dtype=object)
    correct = held == truth
    per_label = [correct[truth == label].mean() for label in sorted(set(truth))]
    delays, changes = [], 0
    for previous, segment in zip(segments, segments[1:]):
        if segment.label == previous.label:
            continue
        changes += 1
        hits = [t for t, label in zip(times, labels)
                if segment.start_s <= t <= segment.end_s + hold_s and label == segment.label]
        if hits:
            delays.append(hits[0] - segment.start_s)
    span_minutes = max((segments[-1].end_s - segments[0].start_s) / 60, 1e-9)
    flips = sum(a != b for a, b in zip(labels, labels[1:]))
    calibration = calibration_of(published, segments)
    return {
        'accuracy': float(correct.mean()), 'unweighted_accuracy': float(np.mean(per_label)),
        'coverage': float(np.mean(held != None)),  # noqa: E711 (elementwise on objects)
        'changes_per_minute': flips / span_minutes,
        'median_delay_s': float(np.median(delays)) if delays else float('nan'),
        'mean_delay_s': float(np.mean(delays)) if delays else float('nan'),
        'changes_detected': len(delays) / changes if changes else float('nan'),
        'estimates': len(published), 'speech_minutes': len(truth) * grid_s / 60,
        'ece': calibration['ece'], 'mean_confidence': calibration['mean_confidence'],
        'reliability': calibration['reliability'],
    }


def calibration_of(published, segments):
    """
    Return the calibration summary of the estimates stamped inside an utterance.

    Parameters
    ----------
    published : list of (time_s, label, confidence)
        Estimates (same clock as the segments).
    segments : list of ser_ros.tools.streams.Segment
        Ground truth, in time order.

    Returns
    -------
    dict
        See :func:`ser_ros.training.calibration.calibration_summary`.

    """
    starts = np.array([segment.start_s for segment in segments])
    confidences, correct = [], []
    for time_s, label, confidence in published:
        index = int(np.searchsorted(starts, time_s, side='right')) - 1
        if index >= 0 and time_s <= segments[index].end_s:
            confidences.append(confidence)
            correct.append(label == segments[index].label)
    return calibration_summary(np.array(confidences), np.array(correct, bool))


def estimates_as_published(estimates, labels, smoothed=True):
    """
    Turn recogniser estimates into what the node publishes for speech windows.

    Parameters
    ----------
    estimates : list of ser_ros.core.recognizer.Estimate
        The recogniser's output, in time order.
    labels : list of str
        The model's labels.
    smoothed : bool
        The HMM-filtered output (``/emotion``), or the raw one (``/emotion/raw``).

    Returns
    -------
    list of (time_s, label, confidence)

    """
    published = []
    for estimate in estimates:
        if estimate.is_speech:
            probabilities = estimate.probabilities if smoothed else estimate.raw_probabilities
            best = int(np.argmax(probabilities))
            published.append((estimate.end_time_s, labels[best], float(probabilities[best])))
    return published


def score_windows(estimates, segments, labels, window_s):
    """
    Score the raw speech windows one by one, each against the utterance it overlaps most.

    Where :func:`score_stream` asks what a subscriber hears over time (an estimate stands until
    the next one, so the start of each utterance hears windows of the previous one), this asks
    what the network says about each window, as the trainer's window figures do; with the
    arg-max over all labels, and restricted to the labels the window's corpus has in the
    stream (``corpus:id`` speakers), as the benchmarks restrict them.

    Parameters
    ----------
    estimates : list of ser_ros.core.recognizer.Estimate
        The recogniser's output, in time order.
    segments : list of ser_ros.tools.streams.Segment
        Ground truth, in time order.
    labels : list of str
        The model's labels.
    window_s : float
        Window length [s]; a window ends at its estimate's stamp.

    Returns
    -------
    dict
        windows (speech windows over an utterance), inside_share (share lying within one
        utterance), accuracy, accuracy_inside, accuracy_straddling, accuracy_restricted,
        unweighted_accuracy_restricted (mean over the corpora of their mean over emotions).

    """
    starts = np.array([segment.start_s for segment in segments])
    corpus_labels = {}
    for segment in segments:
        corpus_labels.setdefault(segment.speaker.split(':')[0], set()).add(segment.label)
    allowed_of = {corpus: np.array([label in present for label in labels])
                  for corpus, present in corpus_labels.items()}
    truth, predicted, restricted, inside, corpora = [], [], [], [], []
    for estimate in estimates:
        if not estimate.is_speech:
            continue
        begin_s, end_s = estimate.end_time_s - window_s, estimate.end_time_s
        last = int(np.searchsorted(starts, end_s, side='right'))
        overlaps = [(min(end_s, segments[i].end_s) - max(begin_s, segments[i].start_s), i)
                    for i in range(int(np.searchsorted(starts, begin_s, side='right')) - 1, last)
                    if i >= 0]
        overlap_s, index = max(overlaps, default=(0.0, -1))
        if overlap_s <= 0:
            continue
        segment = segments[index]
        corpus = segment.speaker.split(':')[0]
        probabilities = np.asarray(estimate.raw_probabilities)
        truth.append(segment.label)
        predicted.append(labels[int(np.argmax(probabilities))])
        among = np.where(allowed_of[corpus], probabilities, -np.inf)
        restricted.append(labels[int(np.argmax(among))])
        inside.append(overlap_s >= window_s - 1e-6)
        corpora.append(corpus)
    truth, inside, corpora = np.array(truth), np.array(inside, dtype=bool), np.array(corpora)
    correct = np.array(predicted) == truth
    correct_restricted = np.array(restricted) == truth
    per_corpus = [np.mean([correct_restricted[(corpora == corpus) & (truth == label)].mean()
                           for label in sorted(set(truth[corpora == corpus]))])
                  for corpus in sorted(set(corpora))]
    return {
        'windows': len(truth), 'inside_share': float(inside.mean()),
        'accuracy': float(correct.mean()),
        'accuracy_inside': float(correct[inside].mean()) if inside.any() else float('nan'),
        'accuracy_straddling': (float(correct[~inside].mean()) if (~inside).any()
                                else float('nan')),
        'accuracy_restricted': float(correct_restricted.mean()),
        'unweighted_accuracy_restricted': float(np.mean(per_corpus)),
    }


#: Columns of :func:`score_table`: (header, key of the score dict, format).
STREAM_COLUMNS = (('accuracy', 'accuracy', '.1%'), ('UA', 'unweighted_accuracy', '.1%'),
                  ('coverage', 'coverage', '.0%'), ('changes/min', 'changes_per_minute', '.1f'),
                  ('median delay [s]', 'median_delay_s', '.2f'),
                  ('changes detected', 'changes_detected', '.0%'), ('ECE', 'ece', '.2f'),
                  ('mean confidence', 'mean_confidence', '.2f'))

#: Columns of :func:`window_table`.
WINDOW_COLUMNS = (('windows', 'windows', ''), ('within one utterance', 'inside_share', '.0%'),
                  ('accuracy', 'accuracy', '.1%'), ('within', 'accuracy_inside', '.1%'),
                  ('straddling', 'accuracy_straddling', '.1%'),
                  ('accuracy, corpus labels', 'accuracy_restricted', '.1%'),
                  ('UA, corpus labels', 'unweighted_accuracy_restricted', '.1%'))


def named_table(first_header, columns, rows):
    """
    Return a markdown table of named scores, one row per ``(name, score dict)`` of ``rows``.

    ``columns`` are (header, key, format spec) of the figures after the name column.
    """
    lines = ['| ' + ' | '.join([first_header, *(header for header, _, _ in columns)]) + ' |',
             '|---|' + '---:|' * len(columns)]
    for name, score in rows:
        figures = [format(score[key], spec) for _, key, spec in columns]
        lines.append('| ' + ' | '.join([name, *figures]) + ' |')
    return '\n'.join(lines)


def window_table(rows):
    """Return a markdown table of named window scores (``[(name, score_windows dict)]``)."""
    return named_table('raw windows', WINDOW_COLUMNS, rows)


def score_table(rows):
    """Return a markdown table of named scores (``[(name, score dict)]``)."""
    return named_table('stream', STREAM_COLUMNS, rows)


def plot_timeline(segments, streams, path, title=''):
    """
    Draw the truth and each published stream over time into a PNG, one panel per stream.

    In every panel the truth is a grey band on its label's row; each estimate is a dot on the
    row of its label, coloured by its confidence (the colour bar), ringed black when wrong.

    Parameters
    ----------
    segments : list of ser_ros.tools.streams.Segment
        Ground truth.
    streams : list of (name, published)
        Each published list as in :func:`score_stream`.
    path : str
        PNG to write.
    title : str
        Title of the plot.

    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    names = sorted({s.label for s in segments} | {p[1] for _, pub in streams for p in pub})
    row = {name: index for index, name in enumerate(names)}
    origin = segments[0].start_s if segments else 0.0
    starts = np.array([segment.start_s for segment in segments])
    figure, panels = pyplot.subplots(len(streams), 1, sharex=True, squeeze=False,
                                     figsize=(12, 0.6 + (0.9 + 0.3 * len(names)) * len(streams)))
    dots = None
    for axes, (name, published) in zip(panels[:, 0], streams):
        for segment in segments:
            axes.barh(row[segment.label], segment.end_s - segment.start_s,
                      left=segment.start_s - origin, height=0.8, color='0.85')
        if published:
            times = np.array([p[0] for p in published])
            index = np.searchsorted(starts, times, side='right') - 1
            wrong = [i >= 0 and t <= segments[i].end_s and p[1] != segments[i].label
                     for i, t, p in zip(index, times, published)]
            dots = axes.scatter(times - origin, [row[p[1]] for p in published], s=14,
                                c=[p[2] for p in published], cmap='viridis', vmin=0, vmax=1,
                                edgecolors=['black' if w else 'none' for w in wrong],
                                linewidths=0.6, zorder=3)
        axes.set_yticks(range(len(names)), names, fontsize=8)
        axes.set_title(name, fontsize=9, loc='left')
    panels[-1, 0].set_xlabel('time [s] (grey: truth; dots: published label, colour: '
                             'confidence, black ring: wrong)')
    if dots is not None:
        figure.colorbar(dots, ax=panels[:, 0].tolist(), label='confidence', shrink=0.8)
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
