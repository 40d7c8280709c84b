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

"""The online HMM filter equals hmmlearn's forward pass and a hand-worked case."""

import numpy as np
import pytest
from ser_ros.core.hmm import dwell_transition_matrix, HMMParams, observations, OnlineHMMFilter
from ser_ros.training.hmm_fit import filtered_accuracy, fit_gaussian_hmm, fit_hmm, \
    out_of_fold_params, scaled_likelihood_params, to_hmmlearn


def random_params(n_states=4, n_dims=4, seed=0):
    generator = np.random.default_rng(seed)
    startprob = generator.dirichlet(np.ones(n_states))
    transmat = generator.dirichlet(np.ones(n_states) * 0.5, size=n_states) * 0.3 + \
        0.7 * np.eye(n_states)
    return HMMParams(startprob, transmat, generator.normal(size=(n_states, n_dims)),
                     generator.uniform(0.3, 2.0, size=(n_states, n_dims))).validate()


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_filtered_posterior_equals_hmmlearn_at_every_step(seed):
    params = random_params(seed=seed)
    sequence = np.random.default_rng(seed + 10).normal(size=(40, 4)) * 1.5
    reference = to_hmmlearn(params)
    hmm_filter = OnlineHMMFilter(params)
    for t, observation in enumerate(sequence):
        online = hmm_filter.update(observation)
        expected = reference.predict_proba(sequence[:t + 1])[-1]
        np.testing.assert_allclose(online, expected, rtol=1e-7, atol=1e-10)


def test_hand_worked_two_state_example():
    # Two states, 1-D unit-variance emissions at -1 and +1; observation 0 then 1.
    params = HMMParams(startprob=np.array([0.5, 0.5]),
                       transmat=np.array([[0.9, 0.1], [0.2, 0.8]]),
                       means=np.array([[-1.0], [1.0]]), covars=np.array([[1.0], [1.0]]))
    hmm_filter = OnlineHMMFilter(params)
    # t=0: x=0 is equally likely under both states: the posterior is the prior.
    np.testing.assert_allclose(hmm_filter.update(np.array([0.0])), [0.5, 0.5])
    # t=1: predicted prior [0.5*0.9 + 0.5*0.2, 0.5*0.1 + 0.5*0.8] = [0.55, 0.45];
    # likelihood ratio N(1; -1, 1) / N(1; 1, 1) = exp(-2).
    prior = np.array([0.55, 0.45])
    joint = prior * np.array([np.exp(-2.0), 1.0])
    np.testing.assert_allclose(hmm_filter.update(np.array([1.0])), joint / joint.sum())


def test_predict_without_observation_decays_toward_the_prior():
    startprob = np.array([0.25, 0.25, 0.5])
    params = HMMParams(startprob, dwell_transition_matrix(startprob, 2.0, 0.5),
                       means=np.eye(3) * 4 - 2, covars=np.ones((3, 3)))
    hmm_filter = OnlineHMMFilter(params)
    hmm_filter.update(np.array([2.0, -2.0, -2.0]))
    assert hmm_filter.posterior[0] > 0.9
    for _ in range(40):
        hmm_filter.predict()
    np.testing.assert_allclose(hmm_filter.posterior, startprob, atol=1e-4)


def test_dwell_matrix_rows_sum_to_one_and_give_the_dwell_time():
    startprob = np.full(4, 0.25)
    transmat = dwell_transition_matrix(startprob, dwell_s=4.0, hop_s=0.5)
    np.testing.assert_allclose(transmat.sum(axis=1), 1.0)
    stay = 1 - 0.5 / 4.0
    # Leaving means a redraw that lands elsewhere: expected stay = hop / P(leave).
    leave = (1 - stay) * (1 - 0.25)
    np.testing.assert_allclose(1 - transmat[0, 0], leave)
    np.testing.assert_allclose(startprob @ transmat, startprob)
    np.testing.assert_allclose(dwell_transition_matrix(startprob, 0.0, 0.5),
                               np.tile(startprob, (4, 1)))


@pytest.mark.parametrize('field, value, message', [
    ('startprob', np.array([0.5, 0.6]), 'startprob'),
    ('transmat', np.array([[0.5, 0.4], [0.5, 0.5]]), 'transmat'),
    ('covars', np.array([[1.0], [0.0]]), 'covars'),
    ('means', np.array([[np.nan], [0.0]]), 'means'),
])
def test_invalid_parameters_are_rejected_by_name(field, value, message):
    values = {'startprob': np.array([0.5, 0.5]), 'transmat': np.eye(2),
              'means': np.zeros((2, 1)), 'covars': np.ones((2, 1))}
    values[field] = value
    with pytest.raises(ValueError, match=message):
        HMMParams(**values).validate()


def test_observations_are_floored_log_posteriors():
    result = observations(np.array([[100.0, 0.0, 0.0]]))
    assert result.shape == (1, 3)
    assert result[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(result[0, 1:] == -10.0)


def test_fit_hmm_learns_labelled_sequences_and_smoothing_helps():
    generator = np.random.default_rng(0)
    n_states, sequences, labels = 3, [], []
    for _ in range(12):
        truth = np.repeat(generator.integers(0, n_states, size=6), 8)
        logits = 2.0 * np.eye(n_states)[truth] + generator.normal(scale=1.5, size=(48, n_states))
        sequences.append(observations(logits))
        labels.append(truth)
    params, report = fit_hmm(sequences, labels, n_states, dwell_s=4.0, hop_s=0.5,
                             em_iterations=5)
    params.validate()
    raw_accuracy = np.mean(np.concatenate(sequences).argmax(axis=1) == np.concatenate(labels))
    assert report['kept'] in ('scaled_T1', 'scaled_T1.5', 'scaled_T2', 'scaled_T3', 'gaussian')
    assert report[report['kept']] == max(v for k, v in report.items() if k != 'kept')
    assert filtered_accuracy(params, sequences, labels) > raw_accuracy + 0.05
    gaussian = fit_gaussian_hmm(sequences, labels, n_states, 4.0, 0.5, em_iterations=5)
    assert filtered_accuracy(gaussian, sequences, labels) > raw_accuracy + 0.05


def test_out_of_fold_emissions_never_saw_the_sequence_they_filter():
    generator = np.random.default_rng(1)
    n_states, sequences, labels = 3, [], []
    for _ in range(6):
        truth = np.repeat(generator.integers(0, n_states, size=4), 6)
        sequences.append(observations(2.0 * np.eye(n_states)[truth]
                                      + generator.normal(scale=1.5, size=(24, n_states))))
        labels.append(truth)
    per_sequence = out_of_fold_params('gaussian', sequences, labels, n_states, 4.0, 0.5,
                                      em_iterations=0)
    on_odd = fit_gaussian_hmm(sequences[1::2], labels[1::2], n_states, 4.0, 0.5,
                              em_iterations=0)
    on_even = fit_gaussian_hmm(sequences[0::2], labels[0::2], n_states, 4.0, 0.5,
                               em_iterations=0)
    for index, params in enumerate(per_sequence):
        np.testing.assert_array_equal(params.means, (on_odd if index % 2 == 0 else on_even).means)
    assert not np.allclose(on_odd.means, on_even.means)
    scaled = out_of_fold_params('scaled_T2', sequences, labels, n_states, 4.0, 0.5)
    np.testing.assert_array_equal(scaled[0].means, np.eye(n_states) / 2.0)


def test_scaled_likelihood_scores_states_by_tempered_log_posteriors():
    params = scaled_likelihood_params(4, temperature=2.0, dwell_s=3.0, hop_s=0.5)
    hmm_filter = OnlineHMMFilter(params)
    observation = observations(np.array([2.0, 0.5, -1.0, 0.0]))
    scores = hmm_filter.log_likelihoods(observation)
    np.testing.assert_allclose(scores - scores[0], (observation - observation[0]) / 2.0)
    # The first filtered posterior is the tempered classifier posterior (uniform prior).
    tempered = np.exp(observation / 2.0) / np.exp(observation / 2.0).sum()
    np.testing.assert_allclose(hmm_filter.update(observation), tempered)
