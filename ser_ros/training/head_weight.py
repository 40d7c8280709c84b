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
The encoder head's weight, chosen on the validation speakers.

How much the encoder head should count against the network depends on what both were trained
on: many speakers of several languages, or 16 actors of one corpus.
``training.choose_encoder_head`` lets the validation speakers say, as they choose the
calibration: their recordings are
streamed through the recogniser at two weights, and since the model's output is affine in the
weight (``(1 - v) * rest + v * head`` in log probability), every weight of :data:`WEIGHTS` is
scored from those two runs. The one with the best unweighted accuracy over the recordings,
averaged over the cold and adapted normalisation, is kept; 0 takes the head (and the encoder)
off the bundle.
"""

from dataclasses import replace

import numpy as np
from ser_ros.core.model import BiLSTMClassifier
from ser_ros.training.evaluation import adapted_statistics, CONDITIONS, predictions_among, \
    scores, stream_probabilities
from ser_ros.training.statistics_head import without_linear_head

#: The weights scored, 0 (no head) to 0.9.
WEIGHTS = tuple(round(0.1 * step, 1) for step in range(10))
#: The two weights the recordings are streamed at.
PROBES = (0.5, 0.9)


def with_head_weight(model: BiLSTMClassifier, weight: float) -> BiLSTMClassifier:
    """
    Return a copy of ``model`` whose encoder head counts ``weight``; none at 0.

    Parameters
    ----------
    model : BiLSTMClassifier
        A model with an encoder head; not changed.
    weight : float
        In [0, 1).

    Returns
    -------
    BiLSTMClassifier
        In evaluation mode.

    """
    config, state = (replace(model.config, encoder_head=weight), model.state_dict()) \
        if weight > 0 else without_linear_head(model.config, model.state_dict(), 'encoder_head')
    copy = BiLSTMClassifier(config)
    copy.load_state_dict(state)
    return copy.eval()


def weight_scores(bundle, model, data) -> dict[float, float]:
    """
    Score every weight of :data:`WEIGHTS` on ``data``.

    Parameters
    ----------
    bundle : ser_ros.core.bundle.ModelBundle
        Its features (with the encoder), normalisation and streaming settings.
    model : BiLSTMClassifier
        The network with its encoder head.
    data : ser_ros.training.dataset.LabelledAudio
        The validation speakers' recordings.

    Returns
    -------
    dict of float to float
        For each weight, the utterance unweighted accuracy, mean of the two conditions.

    """
    stats = adapted_statistics(bundle, data)
    totals = dict.fromkeys(WEIGHTS, 0.0)
    for condition in CONDITIONS:
        window_logs = []
        for probe in PROBES:
            _, windows, owners = stream_probabilities(bundle, data, condition,
                                                      with_head_weight(model, probe),
                                                      progress=False, stats=stats)
            window_logs.append(np.log(np.maximum(windows, 1e-12)))
        for weight in WEIGHTS:
            share = (weight - PROBES[0]) / (PROBES[1] - PROBES[0])
            mixed = (1 - share) * window_logs[0] + share * window_logs[1]
            # An utterance's decision: the labels' mean log probability over its windows
            # (each window's normalisation shifts every label alike).
            summed = np.zeros((len(data), len(bundle.labels)))
            np.add.at(summed, owners, mixed)
            heard = np.isin(np.arange(len(data)), owners)
            relative = np.exp(summed - summed.max(axis=1, keepdims=True))
            probabilities = np.where(heard[:, None], relative, 0.0)
            totals[weight] += scores(data.label_indices, predictions_among(probabilities),
                                     bundle.labels)['unweighted_accuracy'] / len(CONDITIONS)
    return totals


def chosen_weight(totals: dict[float, float]) -> float:
    """Return the best-scoring weight of :func:`weight_scores`; the smaller one in a tie."""
    return max(sorted(totals), key=lambda weight: (round(totals[weight], 6), -weight))
