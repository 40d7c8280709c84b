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
Choosing and fitting the emotion HMM's emissions on labelled held-out streams (training only).

Two kinds of emission compete (:func:`fit_hmm`): per-state diagonal Gaussians fitted with
hmmlearn (supervised start, then Baum-Welch), and the classifier's own tempered posteriors
written as Gaussians (the hybrid "scaled likelihood"). The runtime filter that uses the result
is :class:`ser_ros.core.hmm.OnlineHMMFilter`.
"""

from dataclasses import replace
import logging

from hmmlearn.hmm import GaussianHMM
import numpy as np
from ser_ros.core.hmm import dwell_transition_matrix, filter_sequence, HMMParams

LOGGER = logging.getLogger(__name__)

#: Smallest emission variance.
COVARIANCE_FLOOR = 1e-3
#: Temperatures tried for the scaled-likelihood emissions.
TEMPERATURES = (1.0, 1.5, 2.0, 3.0)


def to_hmmlearn(params):
    """Return an hmmlearn GaussianHMM with exactly the parameters ``params``."""
    model = GaussianHMM(n_components=len(params.startprob), covariance_type='diag',
                        init_params='', params='')
    model.n_features = params.means.shape[1]
    model.startprob_ = params.startprob
    model.transmat_ = params.transmat
    model.means_ = params.means
    model.covars_ = params.covars
    return model


def scaled_likelihood_params(n_states, temperature, dwell_s, hop_s):
    """
    Return the HMM whose emission scores are the classifier's own log-posteriors / T.

    This is the hybrid HMM/ANN "scaled likelihood" (posterior over a uniform prior, tempered by
    ``temperature``), written as a GaussianHMM: with means ``I / T`` and unit variances,
    ``log N(x; e_k / T, I) = x_k / T + (terms equal for every state)``, so the filter, the
    bundle and hmmlearn's reference all treat it like any other GaussianHMM.

    Parameters
    ----------
    n_states : int
        Number of emotions.
    temperature : float
        > 1 tempers an over-confident classifier.
    dwell_s, hop_s : float
        Mean stay in a state and time between windows [s].

    Returns
    -------
    HMMParams

    """
    startprob = np.full(n_states, 1.0 / n_states)
    return HMMParams(startprob, dwell_transition_matrix(startprob, dwell_s, hop_s),
                     np.eye(n_states) / temperature, np.ones((n_states, n_states))).validate()


def fit_gaussian_hmm(observation_sequences, label_sequences, n_states, dwell_s, hop_s,
                     em_iterations=10, seed=0):
    """
    Fit one diagonal Gaussian per state with hmmlearn, from labelled window sequences.

    The emissions start from the per-class mean and variance of the observations (supervised);
    Baum-Welch then refines means and covariances with the transition matrix held at the
    dwell-time setting. The refinement is kept only when it filters the sequences at least as
    accurately, since unsupervised EM may drift a state away from its label.

    Returns
    -------
    HMMParams

    """
    stacked = np.concatenate(observation_sequences)
    labels = np.concatenate(label_sequences)
    means = np.tile(stacked.mean(axis=0), (n_states, 1))
    covars = np.tile(np.maximum(stacked.var(axis=0), COVARIANCE_FLOOR), (n_states, 1))
    for state in range(n_states):
        members = stacked[labels == state]
        if len(members) >= 2:
            means[state] = members.mean(axis=0)
            covars[state] = np.maximum(members.var(axis=0), COVARIANCE_FLOOR)
    startprob = np.full(n_states, 1.0 / n_states)
    supervised = HMMParams(startprob, dwell_transition_matrix(startprob, dwell_s, hop_s),
                           means, covars).validate()
    if em_iterations <= 0:
        return supervised
    model = to_hmmlearn(supervised)
    model.params, model.n_iter, model.random_state = 'mc', em_iterations, seed
    model.fit(stacked, [len(sequence) for sequence in observation_sequences])
    refined = replace(supervised, means=model.means_.copy(),
                      covars=np.maximum(np.diagonal(model.covars_, axis1=1, axis2=2),
                                        COVARIANCE_FLOOR)).validate()
    better = filtered_accuracy(refined, observation_sequences, label_sequences) >= \
        filtered_accuracy(supervised, observation_sequences, label_sequences)
    return refined if better else supervised


def emission_fitters(n_states, dwell_s, hop_s, em_iterations=10, seed=0,
                     temperatures=TEMPERATURES):
    """
    Return the emission candidates of :func:`fit_hmm`, by name.

    Returns
    -------
    dict of str to callable
        ``fit(observation_sequences, label_sequences) -> HMMParams`` of each candidate:
        ``scaled_T<t>`` (nothing to fit) and ``gaussian``.

    """
    def gaussian(sequences, labels):
        return fit_gaussian_hmm(sequences, labels, n_states, dwell_s, hop_s, em_iterations,
                                seed)

    def scaled(temperature):
        return lambda sequences, labels: scaled_likelihood_params(n_states, temperature,
                                                                  dwell_s, hop_s)
    fitters = {f'scaled_T{t:g}': scaled(t) for t in temperatures}
    fitters['gaussian'] = gaussian
    return fitters


def cross_fitted(fit, observation_sequences, label_sequences):
    """
    Fit on each of two folds (even and odd sequence indices), for use on the other.

    Parameters
    ----------
    fit : callable
        ``fit(observation_sequences, label_sequences) -> HMMParams`` (:func:`emission_fitters`).
    observation_sequences, label_sequences
        As for :func:`fit_hmm`.

    Returns
    -------
    list of (HMMParams, list of int)
        The emissions fitted on one fold and the indices of the sequences they did not see;
        a single sequence is both.

    """
    n_sequences = len(observation_sequences)
    folds = [list(range(0, n_sequences, 2)), list(range(1, n_sequences, 2))]
    if not folds[1]:
        folds = [folds[0], folds[0]]
    return [(fit([observation_sequences[i] for i in fit_on],
                 [label_sequences[i] for i in fit_on]), score_on)
            for fit_on, score_on in (folds, folds[::-1])]


def fit_hmm(observation_sequences, label_sequences, n_states, dwell_s, hop_s, em_iterations=10,
            seed=0, temperatures=TEMPERATURES):
    """
    Choose and fit the emission model on labelled held-out window sequences.

    Candidates: the scaled likelihood at each temperature (:func:`scaled_likelihood_params`)
    and per-state Gaussians fitted with hmmlearn (:func:`fit_gaussian_hmm`). Each is scored by
    the filtered accuracy on sequences it was not fitted on (:func:`cross_fitted`), the best
    is kept and refitted on all of them. Fitted Gaussians describe the validation speakers'
    outputs closely and can transfer worse to new speakers than the classifier's own
    posteriors; the out-of-sample score decides.

    Parameters
    ----------
    observation_sequences : list of numpy.ndarray, each shape (n_windows_i, n_labels)
        Observations of consecutive windows (see :func:`observations`).
    label_sequences : list of numpy.ndarray, each shape (n_windows_i,), int
        True label index of each window.
    n_states : int
        Number of emotions.
    dwell_s, hop_s : float
        Mean stay in a state and time between windows [s].
    em_iterations : int
        Baum-Welch iterations of the Gaussian candidate; 0 keeps its supervised estimate.
    seed : int
        Random state for hmmlearn.
    temperatures : tuple of float
        Temperatures of the scaled-likelihood candidates.

    Returns
    -------
    params : HMMParams
    report : dict
        Out-of-sample filtered accuracy of every candidate, and the one kept.

    """
    candidates = emission_fitters(n_states, dwell_s, hop_s, em_iterations, seed, temperatures)
    report = {}
    for name, fit in candidates.items():
        report[name] = float(np.mean([
            filtered_accuracy(params, [observation_sequences[i] for i in score_on],
                              [label_sequences[i] for i in score_on])
            for params, score_on in cross_fitted(fit, observation_sequences, label_sequences)]))
    kept = max(report, key=report.get)
    report['kept'] = kept
    LOGGER.info('HMM fit: %s', report)
    return candidates[kept](observation_sequences, label_sequences), report


def out_of_fold_params(kept, observation_sequences, label_sequences, n_states, dwell_s, hop_s,
                       em_iterations=10, seed=0):
    """
    Return, for each sequence, the emissions of kind ``kept`` fitted on the other fold.

    Choosing the smoothing strength on the sequences the emissions were fitted on would
    score fitted Gaussians in-sample: they look better there than on new speakers, and slow
    smoothing looks free. Filtering each sequence with an HMM that never saw it scores them
    as the node will meet them. Emissions with nothing to fit come out the same for all; a
    single sequence is fitted on itself.

    Parameters
    ----------
    kept : str
        The emission kind :func:`fit_hmm` kept (its report's ``kept``).
    observation_sequences, label_sequences, n_states, dwell_s, hop_s, em_iterations, seed
        As for :func:`fit_hmm`.

    Returns
    -------
    list of HMMParams
        One per sequence, in order.

    """
    fit = emission_fitters(n_states, dwell_s, hop_s, em_iterations, seed)[kept]
    per_sequence = [None] * len(observation_sequences)
    for params, score_on in cross_fitted(fit, observation_sequences, label_sequences):
        for index in score_on:
            per_sequence[index] = params
    return per_sequence


def filtered_accuracy(params, observation_sequences, label_sequences):
    """Return the share of windows whose filtered arg-max state is their label."""
    hits = sum(int(np.sum(filter_sequence(params, sequence).argmax(axis=1) == labels))
               for sequence, labels in zip(observation_sequences, label_sequences))
    return hits / sum(len(labels) for labels in label_sequences)
