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
Calibration and smoothing strength, chosen on the validation speakers' streams (training only).

Each validation speaker's utterances are joined into a stream as a robot hears them: turns of
1-3 utterances of one emotion, pauses between (:func:`validation_streams`, the same turns and
joins as the bags of :mod:`ser_ros.tools.streams`). The recogniser runs over them uncalibrated;
then (:func:`fit_calibration`):

1. the temperature of the raw output is fitted on the labelled speech windows (least NLL);
2. the HMM emission weight and the dwell time are chosen together, each candidate scored by
   the bag scorer (:func:`ser_ros.tools.scoring.score_stream`) exactly as ``ser-bag evaluate``
   scores a bag: among the candidates whose window accuracy is at least the raw output's and
   within :data:`ACCURACY_TOLERANCE` of the most accurate candidate's, and whose median change
   delay is at most :data:`DELAY_ALLOWANCE_S` longer than the raw output's, the one with the
   fewest label changes per minute (the most accurate candidate when none qualifies);
3. the smoothed temperature is fitted on the filtered beliefs of that choice (least NLL).

Steps 2 and 3 filter each stream with emissions fitted on the other validation speakers
(:func:`ser_ros.training.hmm_fit.out_of_fold_params`): scored on the streams they were fitted
on, fitted Gaussian emissions looked 7-10 points better than the raw output, the rule then took
the slowest smoothing, and on test speakers it was worse than raw and over-confident.
Nothing of the test speakers is used.
"""

from dataclasses import dataclass, replace
import logging

import numpy as np
from scipy.special import softmax
from ser_ros.core.bundle import BELIEF_FLOOR, Calibration, ModelBundle
from ser_ros.core.hmm import HMMParams, observations, OnlineHMMFilter
from ser_ros.core.model import BiLSTMClassifier
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.tools.scoring import score_stream
from ser_ros.tools.streams import join_recordings, plan_turns, Segment
from ser_ros.training.calibration import expected_calibration_error, fit_temperature
from ser_ros.training.dataset import LabelledAudio

LOGGER = logging.getLogger(__name__)

#: Candidate HMM emission weights, from independent windows (1) down to a quarter of one.
EMISSION_WEIGHTS = (1.0, 0.7, 0.5, 0.35, 0.25)
#: Candidate dwell times [s].
DWELLS_S = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
#: How much later than the raw output the smoothed output may follow a change [s] (one hop).
DELAY_ALLOWANCE_S = 0.5
#: How much window accuracy the chosen smoothing may give up against the most accurate
#: candidate, for fewer label changes (about the scoring noise of the validation streams).
ACCURACY_TOLERANCE = 0.01
#: Silence between two speakers' streams on the common clock [s]: longer than the scorer holds
#: an estimate (so none stands for the next speaker), short beside a stream (so the changes per
#: minute of the whole are hardly diluted).
SPEAKER_GAP_S = 3.0
#: Scores kept in the report for every candidate.
REPORTED = ('accuracy', 'unweighted_accuracy', 'changes_per_minute', 'median_delay_s', 'ece',
            'mean_confidence')


@dataclass
class ValidationStream:
    """
    One validation speaker's stream, as the uncalibrated recogniser heard it.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_windows,)
        End of each window on the common clock of all streams [s].
    speech : numpy.ndarray, shape (n_windows,), bool
        Whether the voice-activity gate passed the window.
    observations : numpy.ndarray, shape (n_windows, n_labels)
        HMM observations (:func:`ser_ros.core.hmm.observations`) of the network's logits;
        zeros for windows without speech.
    labels : numpy.ndarray, shape (n_windows,), int
        The label covering most of the window; -1 when it covers no utterance or is no speech.
    segments : list of ser_ros.tools.streams.Segment
        The utterances, on the common clock.

    """

    times: np.ndarray
    speech: np.ndarray
    observations: np.ndarray
    labels: np.ndarray
    segments: list[Segment]


def validation_streams(bundle: ModelBundle, data: LabelledAudio, model: BiLSTMClassifier,
                       generator: np.random.Generator,
                       pause_s: tuple[float, float]) -> list[ValidationStream]:
    """
    Run each speaker's utterances, in turns and with pauses, through the recogniser.

    Parameters
    ----------
    bundle : ModelBundle
        Its features, streaming settings and HMM; its calibration is not used.
    data : LabelledAudio
        The validation speakers' utterances.
    model : BiLSTMClassifier
        The network, in evaluation mode.
    generator : numpy.random.Generator
        Source of the turns and pauses.
    pause_s : tuple of float
        Range of the pause before each utterance [s].

    Returns
    -------
    list of ValidationStream
        One per speaker, in sorted speaker order, one after the other on a common clock.

    """
    recognizer = StreamingRecognizer(replace(bundle, calibration=None), model=model)
    rate = bundle.feature_config.sample_rate_hz
    streams, offset_s = [], 0.0
    for speaker in sorted(set(data.speakers)):
        members = [(index, data.labels[data.label_indices[index]], speaker)
                   for index, owner in enumerate(data.speakers) if owner == speaker]
        signal, segments = join_recordings(
            ((data.signals[index], label, speaker, data.paths[index])
             for index, label, speaker in plan_turns(members, generator)),
            rate, generator, pause_s)
        segments = [replace(segment, start_s=segment.start_s + offset_s,
                            end_s=segment.end_s + offset_s) for segment in segments]
        recognizer.reset()
        estimates = recognizer.push(signal, offset_s)
        times = np.array([estimate.end_time_s for estimate in estimates])
        speech = np.array([estimate.is_speech for estimate in estimates], bool)
        observed = np.zeros((len(estimates), len(bundle.labels)))
        for row, estimate in enumerate(estimates):
            if estimate.is_speech:
                observed[row] = observations(np.log(estimate.raw_probabilities))
        labels = np.where(speech, window_labels(times, recognizer.window_s, segments,
                                                bundle.labels), -1)
        streams.append(ValidationStream(times, speech, observed, labels, segments))
        offset_s += len(signal) / rate + SPEAKER_GAP_S
    return streams


def window_labels(times: np.ndarray, window_s: float, segments: list[Segment],
                  labels: list[str]) -> np.ndarray:
    """
    Return the index of the label covering most of each window, -1 where none does.

    Parameters
    ----------
    times : numpy.ndarray, shape (n_windows,)
        End of each window [s].
    window_s : float
        Window length [s].
    segments : list of Segment
        The utterances.
    labels : list of str
        The model's labels.

    Returns
    -------
    numpy.ndarray, shape (n_windows,), int

    """
    starts = np.array([segment.start_s for segment in segments])[None, :]
    ends = np.array([segment.end_s for segment in segments])[None, :]
    window_ends = times[:, None]
    overlap = np.clip(np.minimum(ends, window_ends) - np.maximum(starts, window_ends - window_s),
                      0.0, None)
    covering = np.zeros((len(times), len(labels)))
    for column, segment in enumerate(segments):
        covering[:, labels.index(segment.label)] += overlap[:, column]
    return np.where(covering.max(axis=1) > 0, covering.argmax(axis=1), -1)


def labelled_windows(streams: list[ValidationStream]) -> tuple[list[np.ndarray],
                                                               list[np.ndarray]]:
    """
    Return the observations and labels of the labelled speech windows, per stream.

    Returns
    -------
    sequences : list of numpy.ndarray, each shape (n_windows_i, n_labels)
    labels : list of numpy.ndarray, each shape (n_windows_i,), int

    """
    kept = [stream.labels >= 0 for stream in streams]
    return ([stream.observations[keep] for stream, keep in zip(streams, kept)],
            [stream.labels[keep] for stream, keep in zip(streams, kept)])


def filtered_beliefs(params: HMMParams, stream: ValidationStream,
                     emission_weight: float) -> np.ndarray:
    """
    Run the online filter over a stream as the recogniser does.

    Returns
    -------
    numpy.ndarray, shape (n_speech_windows, n_labels)
        The belief after each speech window (windows without speech only move it on).

    """
    hmm_filter = OnlineHMMFilter(params, emission_weight)
    beliefs = []
    for is_speech, observation in zip(stream.speech, stream.observations):
        if is_speech:
            beliefs.append(hmm_filter.update(observation))
        else:
            hmm_filter.predict()
    return np.array(beliefs).reshape(-1, stream.observations.shape[1])


def score_streams(streams: list[ValidationStream], probabilities: list[np.ndarray],
                  labels: list[str]) -> dict:
    """
    Score published probabilities of the speech windows as the bag scorer scores a bag.

    Parameters
    ----------
    streams : list of ValidationStream
        The streams, one after the other on their common clock.
    probabilities : list of numpy.ndarray, each shape (n_speech_windows_i, n_labels)
        What would be published at each speech window of each stream.
    labels : list of str
        The model's labels.

    Returns
    -------
    dict
        See :func:`ser_ros.tools.scoring.score_stream`.

    """
    published, segments = [], []
    for stream, stream_probabilities in zip(streams, probabilities):
        best = stream_probabilities.argmax(axis=1)
        published += [(float(time), labels[label], float(row[label])) for time, label, row
                      in zip(stream.times[stream.speech], best, stream_probabilities)]
        segments += stream.segments
    return score_stream(published, segments)


def choose_smoothing(stream_params: list[HMMParams], streams: list[ValidationStream],
                     labels: list[str], hop_s: float,
                     temperature: float) -> tuple[float, float, dict]:
    """
    Choose the emission weight and dwell time (see the module's rule).

    Parameters
    ----------
    stream_params : list of HMMParams
        The HMM to filter each stream with: one whose emissions were not fitted on it
        (:func:`ser_ros.training.hmm_fit.out_of_fold_params`).
    streams : list of ValidationStream
        The validation speakers' streams.
    labels : list of str
        The model's labels.
    hop_s : float
        Time between windows [s].
    temperature : float
        The raw output's temperature (for the raw output's scores).

    Returns
    -------
    emission_weight, dwell_s : float
    report : dict
        ``raw`` and every candidate's scores (:data:`REPORTED`).

    """
    def kept(scores):
        return {name: scores[name] for name in REPORTED}
    raw_output = Calibration(temperature).raw
    raw = kept(score_streams(streams, [raw_output(stream.observations[stream.speech])
                                       for stream in streams], labels))
    candidates = []
    for weight in EMISSION_WEIGHTS:
        for dwell_s in DWELLS_S:
            beliefs = [filtered_beliefs(params.with_dwell(dwell_s, hop_s), stream, weight)
                       for params, stream in zip(stream_params, streams)]
            candidates.append({'emission_weight': weight, 'dwell_s': dwell_s,
                               **kept(score_streams(streams, beliefs, labels))})
    floor = max(raw['accuracy'], max(row['accuracy'] for row in candidates) - ACCURACY_TOLERANCE)
    eligible = [row for row in candidates if row['accuracy'] >= floor and
                row['median_delay_s'] <= raw['median_delay_s'] + DELAY_ALLOWANCE_S]
    chosen = min(eligible, key=lambda row: row['changes_per_minute']) if eligible else \
        max(candidates, key=lambda row: row['accuracy'])
    return chosen['emission_weight'], chosen['dwell_s'], {'raw': raw, 'candidates': candidates}


def fit_calibration(bundle: ModelBundle, streams: list[ValidationStream],
                    stream_params: list[HMMParams] | None = None
                    ) -> tuple[Calibration, float, dict]:
    """
    Fit the raw temperature, choose weight and dwell, fit the smoothed temperature.

    Parameters
    ----------
    bundle : ModelBundle
        With its fitted HMM and streaming settings.
    streams : list of ValidationStream
        The validation speakers' streams.
    stream_params : list of HMMParams, optional
        The HMM to filter each stream with when choosing and fitting the smoothed output
        (:func:`choose_smoothing`); the bundle's for all when its emissions were not fitted on
        these streams.

    Returns
    -------
    calibration : Calibration
    dwell_s : float
        The chosen dwell time [s] (the bundle's streaming default to write).
    report : dict
        The fits, the ECE of raw and smoothed output before and after on these streams, and
        the scores of every smoothing candidate.

    """
    sequences, truths = labelled_windows(streams)
    stacked, truth = np.concatenate(sequences), np.concatenate(truths)
    temperature = fit_temperature(stacked, truth)
    stream_params = stream_params or [bundle.hmm] * len(streams)
    hop_s = bundle.streaming.hop_s
    weight, dwell_s, choice = choose_smoothing(stream_params, streams, bundle.labels, hop_s,
                                               temperature)
    beliefs = np.concatenate([filtered_beliefs(params.with_dwell(dwell_s, hop_s), stream,
                                               weight)[stream.labels[stream.speech] >= 0]
                              for params, stream in zip(stream_params, streams)])
    smoothed_temperature = fit_temperature(np.log(np.maximum(beliefs, BELIEF_FLOOR)), truth)
    calibration = Calibration(temperature, weight, smoothed_temperature)

    def ece(probabilities):
        return expected_calibration_error(probabilities.max(axis=1),
                                          probabilities.argmax(axis=1) == truth)
    report = {'temperature': temperature, 'emission_weight': weight, 'dwell_s': dwell_s,
              'smoothed_temperature': smoothed_temperature,
              'raw_ece': {'before': ece(softmax(stacked, axis=1)),
                          'after': ece(calibration.raw(stacked))},
              'smoothed_ece': {'before': ece(beliefs),
                               'after': ece(calibration.smoothed(beliefs))},
              'smoothing': choice}
    LOGGER.info('calibration: temperature %.2f, emission weight %g, dwell %g s, smoothed '
                'temperature %.2f; validation ECE raw %.3f -> %.3f, smoothed %.3f -> %.3f',
                temperature, weight, dwell_s, smoothed_temperature,
                report['raw_ece']['before'], report['raw_ece']['after'],
                report['smoothed_ece']['before'], report['smoothed_ece']['after'])
    return calibration, dwell_s, report
