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
HMM smoothing of the window-by-window emotion estimates, filtered online without look-ahead.

One hidden state per emotion. A window's observation is the BiLSTM's log-posterior vector;
each state emits it from a diagonal Gaussian (the trainer chooses and fits the emissions:
:mod:`ser_ros.training.hmm_fit`); the transition matrix comes from a dwell time:

    A = p * I + (1 - p) * 1 pi^T,   p = 1 - hop / dwell

("stay, or redraw from the prior pi"), so the expected stay in a state is ``dwell`` seconds and
pi is the stationary distribution. hmmlearn only decodes whole sequences, so
:class:`OnlineHMMFilter` runs the forward recursion itself, in log space, one window at a time.
Windows without speech only apply the transition (:meth:`OnlineHMMFilter.predict`): the belief
decays toward pi and no evidence is invented from silence.
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import log_softmax

#: Log-posteriors are floored here before they become observations (probability 4.5e-5):
#: beyond it a classifier's confidence carries no information, only overconfidence.
LOG_PROB_FLOOR = -10.0
#: Tolerance when checking that probabilities sum to 1.
SUM_TOLERANCE = 1e-6


def observations(logits: np.ndarray) -> np.ndarray:
    """
    Turn classifier logits into HMM observations.

    Parameters
    ----------
    logits : numpy.ndarray, shape (..., n_labels)
        The classifier's output.

    Returns
    -------
    numpy.ndarray, shape (..., n_labels), float64
        Log-posteriors floored at :data:`LOG_PROB_FLOOR`.

    """
    return np.maximum(log_softmax(np.asarray(logits, np.float64), axis=-1), LOG_PROB_FLOOR)


def dwell_transition_matrix(startprob: np.ndarray, dwell_s: float, hop_s: float) -> np.ndarray:
    """
    Build the transition matrix for a mean stay of ``dwell_s`` seconds per state.

    Parameters
    ----------
    startprob : numpy.ndarray, shape (n_states,)
        Prior over states; also the stationary distribution of the result.
    dwell_s : float
        Mean time spent in a state before a redraw [s]; <= ``hop_s`` means no smoothing.
    hop_s : float
        Time between windows [s].

    Returns
    -------
    numpy.ndarray, shape (n_states, n_states)
        Rows sum to 1.

    """
    stay = max(0.0, 1.0 - hop_s / dwell_s) if dwell_s > 0 else 0.0
    startprob = np.asarray(startprob, np.float64)
    return stay * np.eye(len(startprob)) + (1.0 - stay) * startprob[None, :]


@dataclass(frozen=True)
class HMMParams:
    """
    Parameters of the emotion HMM.

    Attributes
    ----------
    startprob : numpy.ndarray, shape (n_states,)
    transmat : numpy.ndarray, shape (n_states, n_states)
        Row i: probabilities of going from state i to each state, one hop later.
    means, covars : numpy.ndarray, shape (n_states, n_labels)
        Diagonal Gaussian emission of each state over the observation vector.

    """

    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    covars: np.ndarray

    def validate(self) -> 'HMMParams':
        """
        Check shapes, positivity and that the distributions sum to 1.

        Raises
        ------
        ValueError
            Naming the parameter at fault.

        """
        n_states = len(self.startprob)
        expected = {'startprob': (n_states,), 'transmat': (n_states, n_states),
                    'means': (n_states, self.means.shape[-1]),
                    'covars': (n_states, self.means.shape[-1])}
        for name, shape in expected.items():
            value = getattr(self, name)
            if value.shape != shape:
                raise ValueError(f'HMM {name} has shape {value.shape}, expected {shape}')
            if not np.all(np.isfinite(value)):
                raise ValueError(f'HMM {name} has non-finite values')
        if np.any(self.startprob < 0) or abs(self.startprob.sum() - 1.0) > SUM_TOLERANCE:
            raise ValueError('HMM startprob must be non-negative and sum to 1')
        if np.any(self.transmat < 0) or np.any(
                np.abs(self.transmat.sum(axis=1) - 1.0) > SUM_TOLERANCE):
            raise ValueError('HMM transmat rows must be non-negative and sum to 1')
        if np.any(self.covars <= 0):
            raise ValueError('HMM covars must be positive')
        return self

    def with_dwell(self, dwell_s: float, hop_s: float) -> 'HMMParams':
        """Return a copy whose transition matrix gives a mean stay of ``dwell_s`` seconds."""
        return replace(self, transmat=dwell_transition_matrix(self.startprob, dwell_s, hop_s))

    def to_dict(self) -> dict[str, list]:
        """Return the parameters as nested lists."""
        return {name: getattr(self, name).tolist()
                for name in ('startprob', 'transmat', 'means', 'covars')}

    @classmethod
    def from_dict(cls, values: dict) -> 'HMMParams':
        """Build and validate parameters from :meth:`to_dict` output."""
        try:
            arrays = {name: np.asarray(values[name], np.float64)
                      for name in ('startprob', 'transmat', 'means', 'covars')}
        except KeyError as missing:
            raise ValueError(f'HMM parameters lack {missing}') from None
        return cls(**arrays).validate()


class OnlineHMMFilter:
    """
    Forward filtering, one observation at a time, in log space.

    After each :meth:`update` the posterior equals hmmlearn's
    ``predict_proba(X[:t + 1])[-1]`` for the same parameters (tested).

    Parameters
    ----------
    params : HMMParams
    emission_weight : float
        Exponent of the emission likelihoods, in (0, 1]: overlapping windows are not
        independent evidence (see :class:`ser_ros.core.bundle.Calibration`).

    """

    def __init__(self, params: HMMParams, emission_weight: float = 1.0) -> None:
        if not 0.0 < emission_weight <= 1.0:
            raise ValueError(f'emission_weight {emission_weight} outside (0, 1]')
        self.params = params.validate()
        self.emission_weight = float(emission_weight)
        self._log_start = np.log(np.maximum(params.startprob, 1e-300))
        self._log_transmat = np.log(np.maximum(params.transmat, 1e-300))
        self._inverse_covars = 1.0 / params.covars
        self._log_norm = -0.5 * (params.means.shape[1] * np.log(2 * np.pi)
                                 + np.log(params.covars).sum(axis=1))
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next observation is weighed against the prior."""
        self._log_belief = None

    def with_params(self, params: HMMParams) -> 'OnlineHMMFilter':
        """Return a filter with other parameters (e.g. another dwell) and this belief."""
        successor = OnlineHMMFilter(params, self.emission_weight)
        if self._log_belief is not None and len(self._log_belief) == len(params.startprob):
            successor._log_belief = self._log_belief.copy()
        return successor

    @property
    def has_evidence(self) -> bool:
        """Return whether any observation has been folded in since the last reset."""
        return self._log_belief is not None

    @property
    def posterior(self) -> np.ndarray:
        """Return the current belief over states, shape (n_states,); the prior before any."""
        if self._log_belief is None:
            return self.params.startprob.copy()
        return np.exp(self._log_belief)

    def log_likelihoods(self, observation: np.ndarray) -> np.ndarray:
        """Return log p(observation | state) for every state, shape (n_states,)."""
        difference = np.asarray(observation, np.float64)[None, :] - self.params.means
        return self._log_norm - 0.5 * (difference ** 2 * self._inverse_covars).sum(axis=1)

    def predict(self) -> None:
        """Advance one hop without an observation (a window without speech)."""
        if self._log_belief is not None:
            self._log_belief = self._propagate(self._log_belief)

    def update(self, observation: np.ndarray) -> np.ndarray:
        """
        Fold in one window's observation.

        Parameters
        ----------
        observation : numpy.ndarray, shape (n_labels,)
            See :func:`observations`.

        Returns
        -------
        numpy.ndarray, shape (n_states,)
            The filtered posterior over states.

        """
        prior = self._log_start if self._log_belief is None else self._propagate(self._log_belief)
        joint = prior + self.emission_weight * self.log_likelihoods(observation)
        log_belief = joint - log_sum_exp(joint, axis=0)
        self._log_belief = log_belief
        return np.exp(log_belief)

    def _propagate(self, log_belief):
        return log_sum_exp(log_belief[:, None] + self._log_transmat, axis=0)


def log_sum_exp(values: np.ndarray, axis: int) -> np.ndarray:
    """
    Return ``log(sum(exp(values), axis))`` without overflow, for finite ``values``.

    scipy's ``logsumexp`` does the same with more checks, at 20 times the cost for the few
    states here: the filter runs it twice per window, the trainer's smoothing choice millions
    of times.
    """
    peak = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.sum(np.exp(values - peak), axis=axis))


def filter_sequence(params: HMMParams, sequence: np.ndarray) -> np.ndarray:
    """
    Run the online filter (:class:`OnlineHMMFilter`) over one sequence of observations.

    Returns
    -------
    numpy.ndarray, shape (n_windows, n_states)
        Filtered posterior after each window.

    """
    hmm_filter = OnlineHMMFilter(params)
    return np.array([hmm_filter.update(observation) for observation in sequence])
