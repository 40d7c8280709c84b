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
Do the published confidences mean what they say? Measure it, and fit what makes them.

A behaviour that acts on ``score > 0.8`` needs estimates that are right 8 times in 10 when they
say 0.8. The top label's confidences are cut into equal-width bins; in each, the share of right
estimates (accuracy) is compared with the mean confidence. The expected calibration error (ECE)
is the mean gap, weighted by the bin's share of estimates.

The temperature fit (:func:`fit_temperature`) minimises the negative log-likelihood of the
true labels; :mod:`ser_ros.training.smoothing` uses it on the validation speakers' streams and
writes the results into the bundle (:class:`ser_ros.core.bundle.Calibration`).
"""

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from ser_ros.core.bundle import TEMPERATURE_LIMITS


#: Equal-width confidence bins over [0, 1].
BINS = 10


def reliability(confidences: np.ndarray, correct: np.ndarray,
                bins: int = BINS) -> list[dict]:
    """
    Return the reliability table: one row per non-empty confidence bin.

    Parameters
    ----------
    confidences : numpy.ndarray, shape (n,)
        Confidence of each estimate's top label, in [0, 1].
    correct : numpy.ndarray, shape (n,), bool
        Whether that label was right.
    bins : int
        Equal-width bins over [0, 1].

    Returns
    -------
    list of dict
        ``low``, ``high`` (the bin), ``count``, ``confidence`` (mean), ``accuracy``.

    """
    confidences = np.asarray(confidences, float)
    correct = np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for which in range(bins):
        members = index == which
        if members.any():
            rows.append({'low': float(edges[which]), 'high': float(edges[which + 1]),
                         'count': int(members.sum()),
                         'confidence': float(confidences[members].mean()),
                         'accuracy': float(correct[members].mean())})
    return rows


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               bins: int = BINS) -> float:
    """Return the ECE of top-label confidences (see :func:`reliability`); NaN when empty."""
    rows = reliability(confidences, correct, bins)
    total = sum(row['count'] for row in rows)
    if not total:
        return float('nan')
    return sum(row['count'] * abs(row['accuracy'] - row['confidence']) for row in rows) / total


def calibration_summary(confidences: np.ndarray, correct: np.ndarray) -> dict:
    """Return ``ece``, ``mean_confidence``, ``accuracy``, ``count`` and the reliability rows."""
    confidences = np.asarray(confidences, float)
    correct = np.asarray(correct, bool)
    return {'ece': expected_calibration_error(confidences, correct),
            'mean_confidence': float(confidences.mean()) if len(confidences) else float('nan'),
            'accuracy': float(correct.mean()) if len(correct) else float('nan'),
            'count': int(len(confidences)), 'reliability': reliability(confidences, correct)}


def plot_reliability(summaries: list[tuple[str, dict]], path: str, title: str = '') -> None:
    """
    Draw reliability diagrams (accuracy against confidence, per bin) into a PNG.

    Parameters
    ----------
    summaries : list of (name, summary)
        Each from :func:`calibration_summary`; one curve each.
    path : str
        PNG to write.
    title : str
        Title of the plot.

    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    figure, axes = pyplot.subplots(figsize=(4.6, 4.4))
    axes.plot([0, 1], [0, 1], color='grey', linestyle='--', linewidth=1, label='calibrated')
    for name, summary in summaries:
        rows = summary['reliability']
        axes.plot([row['confidence'] for row in rows], [row['accuracy'] for row in rows],
                  marker='o', label=f"{name} (ECE {summary['ece']:.2f})")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel('confidence of the top label')
    axes.set_ylabel('share right')
    axes.set_title(title, fontsize=10)
    axes.legend(loc='upper left', fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def fit_temperature(log_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """
    Return the temperature T that makes ``softmax(log_probabilities / T)`` fit the labels best.

    Parameters
    ----------
    log_probabilities : numpy.ndarray, shape (n_windows, n_labels)
        The classifier's log-posteriors (or logits: the softmax ignores a shift per row).
    labels : numpy.ndarray, shape (n_windows,), int
        The true label of each window.

    Returns
    -------
    float
        Within :data:`ser_ros.core.bundle.TEMPERATURE_LIMITS`.

    """
    log_probabilities = np.asarray(log_probabilities, np.float64)
    labels = np.asarray(labels, int)
    rows = np.arange(len(labels))

    def loss(log_temperature):
        tempered = log_softmax(log_probabilities / np.exp(log_temperature), axis=1)
        return -tempered[rows, labels].mean()
    low, high = TEMPERATURE_LIMITS
    result = minimize_scalar(loss, bounds=(np.log(low), np.log(high)), method='bounded')
    return float(np.exp(result.x))
