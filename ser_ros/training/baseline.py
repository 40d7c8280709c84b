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
The simple baseline every accuracy claim is measured against: an RBF SVM on MFCC statistics.

Each utterance, trimmed of leading and trailing silence, becomes the mean and standard deviation
of 40 MFCCs and the standard deviation of their deltas (120 numbers); these are standardised
within the utterance's normalisation group (its speaker, or its corpus where speakers each speak
one emotion, as the recipe does) and classified by an RBF SVM with balanced class weights.
"""

import librosa
import numpy as np
from ser_ros.training.dataset import group_standardised, LabelledAudio, trimmed
from ser_ros.training.evaluation import predictions_among, scores
from sklearn.svm import SVC

#: MFCCs of the baseline.
N_MFCC = 40


def coefficient_statistics(coefficients: np.ndarray) -> np.ndarray:
    """
    Return the mean and standard deviation of each coefficient and of its deltas' std.

    Parameters
    ----------
    coefficients : numpy.ndarray, shape (n_coefficients, n_frames)
        One utterance's cepstra (or any frame features).

    Returns
    -------
    numpy.ndarray, shape (3 * n_coefficients,)
        Means, standard deviations, delta standard deviations.

    """
    n_frames = coefficients.shape[1]
    width = min(9, n_frames - (1 - n_frames % 2))
    deltas = librosa.feature.delta(coefficients, width=max(3, width)) if n_frames >= 3 else \
        np.zeros_like(coefficients)
    return np.concatenate([coefficients.mean(axis=1), coefficients.std(axis=1),
                           deltas.std(axis=1)])


def utterance_statistics(signal: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """
    Return the baseline's description of one utterance.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_samples,), float32
        Mono audio.
    sample_rate_hz : int
        Its rate [Hz].

    Returns
    -------
    numpy.ndarray, shape (3 * N_MFCC,)
        MFCC means, MFCC standard deviations, delta standard deviations.

    """
    return coefficient_statistics(
        librosa.feature.mfcc(y=trimmed(signal), sr=sample_rate_hz, n_mfcc=N_MFCC))


class SvmBaseline:
    """
    The baseline classifier on a dataset's label indices.

    Parameters
    ----------
    sample_rate_hz : int
        Rate of the audio it is given [Hz].

    """

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.model = SVC(kernel='rbf', C=1.0, gamma='scale', class_weight='balanced')

    def features(self, data: LabelledAudio) -> np.ndarray:
        """Return the group-standardised statistics of every utterance, shape (n, 120)."""
        raw = np.stack([utterance_statistics(signal, self.sample_rate_hz)
                        for signal in data.signals])
        return group_standardised(raw, data.norm_groups)

    def fit(self, features: np.ndarray, label_indices: np.ndarray) -> 'SvmBaseline':
        """Fit on standardised features (see :meth:`features`) and their label indices."""
        self.model.fit(features, label_indices)
        return self

    def scores(self, features: np.ndarray, n_labels: int) -> np.ndarray:
        """
        Return one-vs-rest scores per label index, shape (n_utterances, n_labels).

        Labels the training data did not have score -inf (never predicted).
        """
        decision = self.model.decision_function(features)
        if decision.ndim == 1:
            decision = np.stack([-decision, decision], axis=1)
        scores = np.full((len(features), n_labels), -np.inf)
        scores[:, self.model.classes_] = decision
        return scores

    def unweighted_accuracy(self, features: np.ndarray, label_indices: np.ndarray,
                            labels: list) -> float:
        """
        Score the fitted SVM as the benchmarks score every model.

        Parameters
        ----------
        features : numpy.ndarray, shape (n_utterances, n_statistics)
            Standardised features of the test utterances (see :meth:`features`).
        label_indices : numpy.ndarray, shape (n_utterances,), int
            Their true labels; predictions are restricted to the labels among them (those of
            the test corpus).
        labels : list of str
            The label set the indices refer to.

        Returns
        -------
        float
            Unweighted accuracy (mean recall over the labels present), 0..1.

        """
        allowed = sorted(set(label_indices.tolist()))
        predicted = predictions_among(self.scores(features, len(labels)), allowed)
        return scores(label_indices, predicted, labels)['unweighted_accuracy']
