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
The statistics head: a linear classifier on window statistics, fitted beside the network.

An SVM on utterance statistics of the model's own frames is level with the BiLSTM across
corpora, and the two err differently: mixing their log probabilities scored 2-3 points above
either. The head brings that second opinion into the model itself (one code path on the robot):
multinomial logistic regression on :func:`ser_ros.core.model.window_statistics` of crops of
the training speakers, with the network's corpus- and class-balancing weights, fitted once
after the network (it never sees the network's gradients, which keeps it a different
classifier). Its crops are clean but for one lever: half are standardised as the node does
before it knows a speaker well. On the network's fully augmented crops (noise, channels,
speed, context) the head added nothing across corpora; on clean crops it added 1.5 points
there but cost 4 points on new speakers from a cold start; keeping the prior crops kept the
cold start (README). Its input standardisation is folded into its weights.
"""

from dataclasses import replace

import numpy as np
from ser_ros.core.model import BiLSTMClassifier, window_statistics
from sklearn.linear_model import LogisticRegression
import torch

#: Inverse L2 strength of the logistic regression (on standardised statistics).
REGULARISATION_C = 0.1
#: Bias of a label no training crop has: never predicted by the head.
ABSENT_LABEL_BIAS = -30.0


def fit_statistics_head(model: BiLSTMClassifier, weight: float, windows: np.ndarray,
                        label_indices: np.ndarray,
                        sample_weights: np.ndarray) -> BiLSTMClassifier:
    """
    Return ``model`` with a statistics head fitted on training windows, mixed in at ``weight``.

    Parameters
    ----------
    model : BiLSTMClassifier
        The trained network, without a head; its weights are copied, not changed.
    weight : float
        The head's share ``w`` in (0, 1) (see :class:`ser_ros.core.model.ModelConfig`).
    windows : numpy.ndarray, shape (n_windows, n_frames, n_features), float32
        Normalised model input of training crops.
    label_indices : numpy.ndarray, shape (n_windows,), int
        The label of each crop.
    sample_weights : numpy.ndarray, shape (n_windows,), float
        Balancing weight of each crop (as in the network's loss).

    Returns
    -------
    BiLSTMClassifier
        In evaluation mode.

    """
    with torch.inference_mode():
        statistics = window_statistics(torch.from_numpy(windows)).numpy().astype(np.float64)
    mean, scale = statistics.mean(axis=0), statistics.std(axis=0) + 1e-6
    coefficients, bias = linear_classifier((statistics - mean) / scale, label_indices,
                                           sample_weights, model.config.n_labels)
    # Fold the standardisation in: w . (s - mean) / scale + b = (w / scale) . s + b'.
    folded = coefficients / scale
    return with_linear_head(model, replace(model.config, statistics_head=weight),
                            'statistics_head', folded, bias - folded @ mean)


def with_linear_head(model: BiLSTMClassifier, config, name: str, coefficients: np.ndarray,
                     bias: np.ndarray) -> BiLSTMClassifier:
    """
    Return a copy of ``model`` built with ``config`` and the linear head ``name`` set.

    Parameters
    ----------
    model : BiLSTMClassifier
        Its weights are copied, not changed.
    config : ser_ros.core.model.ModelConfig
        The copy's configuration: the model's, with the head.
    name : str
        The head's module (``'statistics_head'``, ``'encoder_head'``).
    coefficients : numpy.ndarray, shape (n_labels, n_inputs)
        The head's weights.
    bias : numpy.ndarray, shape (n_labels,)
        The head's bias.

    Returns
    -------
    BiLSTMClassifier
        In evaluation mode.

    """
    with_head = BiLSTMClassifier(config)
    state = dict(model.state_dict())
    state[f'{name}.weight'] = torch.from_numpy(coefficients.astype(np.float32))
    state[f'{name}.bias'] = torch.from_numpy(bias.astype(np.float32))
    with_head.load_state_dict(state)
    return with_head.eval()


def without_linear_head(config, state_dict: dict, name: str) -> tuple:
    """
    Return a model configuration and weights with the linear head ``name`` taken off.

    Parameters
    ----------
    config : ser_ros.core.model.ModelConfig
        A configuration with or without the head.
    state_dict : dict of str to torch.Tensor
        Its weights; not changed.
    name : str
        The head (``'statistics_head'``, ``'encoder_head'``; the latter's input width goes too).

    Returns
    -------
    config : ser_ros.core.model.ModelConfig
    state_dict : dict of str to torch.Tensor

    """
    widths = {'encoder_width': 0} if name == 'encoder_head' else {}
    return (replace(config, **{name: 0.0}, **widths),
            {key: value for key, value in state_dict.items() if not key.startswith(f'{name}.')})


def linear_classifier(inputs: np.ndarray, label_indices: np.ndarray,
                      sample_weights: np.ndarray,
                      n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """
    Fit multinomial logistic regression; return it as a linear layer over every label.

    Parameters
    ----------
    inputs : numpy.ndarray, shape (n_samples, n_inputs)
        Standardised inputs.
    label_indices : numpy.ndarray, shape (n_samples,), int
        The label of each sample, in 0..n_labels-1.
    sample_weights : numpy.ndarray, shape (n_samples,), float
        Weight of each sample in the loss.
    n_labels : int
        Labels of the layer; one no sample has gets bias :data:`ABSENT_LABEL_BIAS`.

    Returns
    -------
    coefficients : numpy.ndarray, shape (n_labels, n_inputs)
    bias : numpy.ndarray, shape (n_labels,)

    """
    regression = LogisticRegression(C=REGULARISATION_C, max_iter=2000)
    regression.fit(inputs, label_indices, sample_weight=sample_weights)
    coefficients = np.zeros((n_labels, inputs.shape[1]))
    bias = np.full(n_labels, ABSENT_LABEL_BIAS)
    rows, intercepts = regression.coef_, regression.intercept_
    if len(regression.classes_) == 2:
        # sklearn keeps one row for two classes: the second's logit against the first's 0.
        rows = np.vstack([np.zeros_like(rows), rows])
        intercepts = np.concatenate([[0.0], intercepts])
    coefficients[regression.classes_], bias[regression.classes_] = rows, intercepts
    return coefficients, bias
