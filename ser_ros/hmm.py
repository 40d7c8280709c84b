"""
HMM smoothing of the window-by-window emotion estimates, filtered online without look-ahead.

One hidden state per emotion. A window's observation is the BiLSTM's log-posterior vector;
each state emits it from a diagonal Gaussian. :func:`fit_hmm` chooses the emissions on
labelled held-out streams: per-state Gaussians fitted with hmmlearn (supervised start, then
Baum-Welch), or the classifier's own tempered posteriors written as Gaussians (the hybrid
"scaled likelihood"); the transition matrix comes from a dwell time:

    A = p * I + (1 - p) * 1 pi^T,   p = 1 - hop / dwell

("stay, or redraw from the prior pi"), so the expected stay in a state is ``dwell`` seconds and
pi is the stationary distribution. hmmlearn only decodes whole sequences, so
:class:`OnlineHMMFilter` runs the forward recursion itself, in log space, one window at a time.
Windows without speech only apply the transition (:meth:`OnlineHMMFilter.predict`): the belief
decays toward pi and no evidence is invented from silence.
"""

from dataclasses import dataclass, replace
import logging

import numpy as np
from scipy.special import log_softmax, logsumexp

LOGGER = logging.getLogger(__name__)

#: Log-posteriors are floored here before they become observations (probability 4.5e-5):
#: beyond it a classifier's confidence carries no information, only overconfidence.
LOG_PROB_FLOOR = -10.0
#: Smallest emission variance.
COVARIANCE_FLOOR = 1e-3
#: Tolerance when checking that probabilities sum to 1.
SUM_TOLERANCE = 1e-6
#: Temperatures tried for the scaled-likelihood emissions.
TEMPERATURES = (1.0, 1.5, 2.0, 3.0)


def observations(logits):
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


def dwell_transition_matrix(startprob, dwell_s, hop_s):
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

    def validate(self):
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

    def with_dwell(self, dwell_s, hop_s):
        """Return a copy whose transition matrix gives a mean stay of ``dwell_s`` seconds."""
        return replace(self, transmat=dwell_transition_matrix(self.startprob, dwell_s, hop_s))

    def to_hmmlearn(self):
        """Return an hmmlearn GaussianHMM with exactly these parameters."""
        # Imported here: hmmlearn brings scikit-learn, which the node never needs.
        from hmmlearn.hmm import GaussianHMM
        model = GaussianHMM(n_components=len(self.startprob), covariance_type='diag',
                            init_params='', params='')
        model.n_features = self.means.shape[1]
        model.startprob_ = self.startprob
        model.transmat_ = self.transmat
        model.means_ = self.means
        model.covars_ = self.covars
        return model

    def to_dict(self):
        """Return the parameters as nested lists."""
        return {name: getattr(self, name).tolist()
                for name in ('startprob', 'transmat', 'means', 'covars')}

    @classmethod
    def from_dict(cls, values):
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

    """

    def __init__(self, params):
        self.params = params.validate()
        self._log_start = np.log(np.maximum(params.startprob, 1e-300))
        self._log_transmat = np.log(np.maximum(params.transmat, 1e-300))
        self._inverse_covars = 1.0 / params.covars
        self._log_norm = -0.5 * (params.means.shape[1] * np.log(2 * np.pi)
                                 + np.log(params.covars).sum(axis=1))
        self.reset()

    def reset(self):
        """Forget the past: the next observation is weighed against the prior."""
        self._log_belief = None

    def with_params(self, params):
        """Return a filter with other parameters (e.g. another dwell) and this belief."""
        successor = OnlineHMMFilter(params)
        if self._log_belief is not None and len(self._log_belief) == len(params.startprob):
            successor._log_belief = self._log_belief.copy()
        return successor

    @property
    def has_evidence(self):
        """Return whether any observation has been folded in since the last reset."""
        return self._log_belief is not None

    @property
    def posterior(self):
        """Return the current belief over states, shape (n_states,); the prior before any."""
        if self._log_belief is None:
            return self.params.startprob.copy()
        return np.exp(self._log_belief)

    def log_likelihoods(self, observation):
        """Return log p(observation | state) for every state, shape (n_states,)."""
        difference = np.asarray(observation, np.float64)[None, :] - self.params.means
        return self._log_norm - 0.5 * (difference ** 2 * self._inverse_covars).sum(axis=1)

    def predict(self):
        """Advance one hop without an observation (a window without speech)."""
        if self._log_belief is not None:
            self._log_belief = self._propagate(self._log_belief)

    def update(self, observation):
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
        joint = prior + self.log_likelihoods(observation)
        self._log_belief = joint - logsumexp(joint)
        return np.exp(self._log_belief)

    def _propagate(self, log_belief):
        return logsumexp(log_belief[:, None] + self._log_transmat, axis=0)


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
    model = supervised.to_hmmlearn()
    model.params, model.n_iter, model.random_state = 'mc', em_iterations, seed
    model.fit(stacked, [len(sequence) for sequence in observation_sequences])
    refined = replace(supervised, means=model.means_.copy(),
                      covars=np.maximum(np.diagonal(model.covars_, axis1=1, axis2=2),
                                        COVARIANCE_FLOOR)).validate()
    better = filtered_accuracy(refined, observation_sequences, label_sequences) >= \
        filtered_accuracy(supervised, observation_sequences, label_sequences)
    return refined if better else supervised


def fit_hmm(observation_sequences, label_sequences, n_states, dwell_s, hop_s, em_iterations=10,
            seed=0, temperatures=TEMPERATURES):
    """
    Choose and fit the emission model on labelled held-out window sequences.

    Candidates: the scaled likelihood at each temperature (:func:`scaled_likelihood_params`)
    and per-state Gaussians fitted with hmmlearn (:func:`fit_gaussian_hmm`). Each is scored by
    the filtered accuracy on sequences it was not fitted on (two folds over the sequences),
    the best is kept and refitted on all of them. Fitted Gaussians describe the validation
    speakers' outputs closely and can transfer worse to new speakers than the classifier's own
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
    def gaussian(sequences, labels):
        return fit_gaussian_hmm(sequences, labels, n_states, dwell_s, hop_s, em_iterations,
                                seed)

    def scaled(temperature):
        return lambda sequences, labels: scaled_likelihood_params(n_states, temperature,
                                                                  dwell_s, hop_s)
    candidates = {f'scaled_T{t:g}': scaled(t) for t in temperatures}
    candidates['gaussian'] = gaussian
    folds = [list(range(0, len(observation_sequences), 2)),
             list(range(1, len(observation_sequences), 2))]
    if not folds[1]:
        folds = [folds[0], folds[0]]
    report = {}
    for name, fit in candidates.items():
        accuracies = []
        for fit_on, score_on in (folds, folds[::-1]):
            params = fit([observation_sequences[i] for i in fit_on],
                         [label_sequences[i] for i in fit_on])
            accuracies.append(filtered_accuracy(params, [observation_sequences[i]
                                                         for i in score_on],
                                                [label_sequences[i] for i in score_on]))
        report[name] = float(np.mean(accuracies))
    kept = max(report, key=report.get)
    report['kept'] = kept
    LOGGER.info('HMM fit: %s', report)
    return candidates[kept](observation_sequences, label_sequences), report


def filter_sequence(params, sequence):
    """
    Run the online filter over one sequence.

    Returns
    -------
    numpy.ndarray, shape (n_windows, n_states)
        Filtered posterior after each window.

    """
    hmm_filter = OnlineHMMFilter(params)
    return np.array([hmm_filter.update(observation) for observation in sequence])


def filtered_accuracy(params, observation_sequences, label_sequences):
    """Return the share of windows whose filtered arg-max state is their label."""
    hits = sum(int(np.sum(filter_sequence(params, sequence).argmax(axis=1) == labels))
               for sequence, labels in zip(observation_sequences, label_sequences))
    return hits / sum(len(labels) for labels in label_sequences)
