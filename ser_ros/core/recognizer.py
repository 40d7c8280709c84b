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
The streaming recogniser: audio chunks in, one emotion estimate per hop out.

The path every caller shares (node, CLI, trainer's evaluation, bag scorer)::

    float32 mono chunks -> frames (each computed once) -> voice-activity gate
      -> adaptive normalisation -> window of frames -> BiLSTM -> logits
         (with an encoder head, mixed with a linear classifier on the window audio's speech
          encoder embedding, standardised by its own running statistics)
      -> softmax(logits / temperature): raw probabilities
      -> online HMM filter (emissions weighted for overlapping windows)
      -> belief ** (1 / smoothed temperature), renormalised: published -> Estimate

Windows are ``window_s`` long and start every ``hop_s``; the first ends once ``window_s`` of
audio has arrived. Frame ``k`` covers samples ``[k * frame_hop, k * frame_hop + frame_length)``
of the stream, so the estimates do not depend on how the stream was cut into chunks. A hop's
frames are computed and gated at once, when its window is due (the features and the Silero
network then run once per hop, not per message: small messages cost no more than large ones).
The BiLSTM and the Silero network run traced (:mod:`ser_ros.core.traced`). Memory is bounded:
the recogniser keeps one window of frames and the audio of one hop. With a speech encoder
(``feature_config.encoder_layers``) it also keeps one window of audio, and encodes a speech
window every ``encoder_hop_s`` and at onsets; the speech windows in between reuse the last
embedding.
"""

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
import itertools
import math

import numpy as np
from scipy.special import softmax
from ser_ros.core.bundle import ModelBundle
from ser_ros.core.features import FrameFeaturizer, model_input
from ser_ros.core.hmm import observations, OnlineHMMFilter
from ser_ros.core.model import BiLSTMClassifier
from ser_ros.core.normalization import AdaptiveNormalizer, NormalizerState, NormStats
from ser_ros.core.speech_encoder import node_encoder, WHISPER_BASE_SHA256, WhisperEncoder
from ser_ros.core.traced import traced
from ser_ros.core.vad import make_vad
from threadpoolctl import threadpool_limits
import torch

#: Longest piece of audio framed at once [s]: bounds memory for chunks of minutes.
MAX_SLICE_S = 10.0
#: A final, shorter window (see :meth:`StreamingRecognizer.flush`) needs this much audio [s].
MIN_FLUSH_WINDOW_S = 0.25
#: Speakers whose adapted statistics are kept (the least recently heard is forgotten first).
MAX_SPEAKERS = 64


@dataclass
class Estimate:
    """
    The recogniser's output for one window.

    Attributes
    ----------
    end_time_s : float
        Stream time at the end of the window [s].
    is_speech : bool
        Whether the voice-activity gate passed the window; if not, nothing was learnt from it.
    speech_ratio : float
        Share of the window's frames that were speech.
    label : str or None
        Arg-max of the smoothed probabilities; None until the first speech window.
    confidence : float
        Smoothed probability of ``label`` (0 when ``label`` is None).
    probabilities : numpy.ndarray, shape (n_labels,)
        Smoothed (HMM-filtered) probabilities, calibrated by the bundle's smoothed
        temperature; the prior until the first speech window.
    raw_probabilities : numpy.ndarray, shape (n_labels,), or None
        The BiLSTM's own probabilities for this window, calibrated by the bundle's
        temperature; None for non-speech windows.

    """

    end_time_s: float
    is_speech: bool
    speech_ratio: float
    label: str | None
    confidence: float
    probabilities: np.ndarray
    raw_probabilities: np.ndarray | None


@dataclass
class _Window:
    end_time_s: float
    is_speech: bool
    speech_ratio: float
    frames: np.ndarray | None
    embedding: np.ndarray | None = None


def limit_threads(threads: int) -> None:
    """
    Limit the threads of torch and of the BLAS and OpenMP pools that numpy and scipy use.

    A robot's CPU is shared with many other nodes, and processes that each keep a pool per core
    oversubscribe it: two training jobs on this project's two cores made their crops 3.5 times
    slower with numpy's OpenBLAS at its default (a thread per core) than with one thread each.

    Parameters
    ----------
    threads : int
        Threads per pool; 0 or less leaves every pool as it is.

    """
    if threads > 0:
        torch.set_num_threads(int(threads))
        threadpool_limits(int(threads))


class StreamingRecognizer:
    """
    Emotion estimates from a stream of audio chunks.

    Parameters
    ----------
    bundle : ser_ros.core.bundle.ModelBundle
    window_s, hop_s, dwell_s : float, optional
        Window, hop and HMM dwell time [s]; the bundle's streaming defaults when None.
    adapt_normalisation : bool
        Adapt the feature statistics to the speaker and channel as speech arrives.
    norm : ser_ros.core.normalization.NormStats, optional
        Statistics to start from instead of the bundle's (e.g. a known speaker's).
    norm_prior_s, norm_horizon_s : float, optional
        See :class:`~ser_ros.core.normalization.AdaptiveNormalizer`; the bundle's when None.
    model : ser_ros.core.model.BiLSTMClassifier, optional
        A model in evaluation mode to use instead of the bundle's weights (the trainer's).
    encoder_norm : ser_ros.core.normalization.NormStats, optional
        Speech encoder statistics to start from instead of the bundle's (with ``norm``).

    Raises
    ------
    ser_ros.core.speech_encoder.SpeechEncoderError
        When the bundle has an encoder head and its encoder weights are not installed.

    """

    def __init__(self, bundle: ModelBundle, window_s: float | None = None,
                 hop_s: float | None = None, dwell_s: float | None = None,
                 adapt_normalisation: bool = True, norm: NormStats | None = None,
                 norm_prior_s: float | None = None, norm_horizon_s: float | None = None,
                 model: BiLSTMClassifier | None = None,
                 encoder_norm: NormStats | None = None) -> None:
        defaults = bundle.streaming
        self.bundle = bundle
        self.labels = list(bundle.labels)
        self.config = bundle.feature_config
        self.window_s = defaults.window_s if window_s is None else float(window_s)
        self.hop_s = defaults.hop_s if hop_s is None else float(hop_s)
        self.dwell_s = defaults.dwell_s if dwell_s is None else float(dwell_s)
        window_samples = round(self.window_s * self.config.sample_rate_hz)
        self.window_frames = self.config.frames_in(window_samples)
        self.hop_frames = round(self.hop_s / self.config.frame_hop_s)
        if self.window_frames < 1:
            raise ValueError(f'window_s {self.window_s} is shorter than one frame')
        if not 0 < self.hop_s <= self.window_s or self.hop_frames < 1 or not math.isclose(
                self.hop_frames * self.config.frame_hop_s, self.hop_s, abs_tol=1e-6):
            raise ValueError(f'hop_s {self.hop_s} must be a whole number of '
                             f'{self.config.frame_hop_s} s frames, at most the window')
        self.featurizer = FrameFeaturizer(self.config)
        self.model = bundle.build_model() if model is None else model
        self._traced_model: torch.jit.ScriptModule | None = None
        self.vad = make_vad(bundle.vad, self.config)
        self.normalizer = AdaptiveNormalizer(
            bundle.norm if norm is None else norm, self.config.frame_hop_s,
            defaults.norm_prior_s if norm_prior_s is None else norm_prior_s,
            defaults.norm_horizon_s if norm_horizon_s is None else norm_horizon_s,
            adapt=adapt_normalisation)
        self.encoder: WhisperEncoder | None = None
        if self.config.encoder_layers:
            self.encoder = node_encoder(self.config.encoder_layers,
                                        self.config.encoder_sha256 or WHISPER_BASE_SHA256)
            self._encoder_every = round(self.config.encoder_hop_s / self.hop_s)
            if self._encoder_every < 1 or not math.isclose(
                    self._encoder_every * self.hop_s, self.config.encoder_hop_s, abs_tol=1e-6):
                raise ValueError(f'the bundle encodes every {self.config.encoder_hop_s} s: '
                                 f'hop_s {self.hop_s} must divide it')
            encoder_prior = bundle.encoder_norm if encoder_norm is None else encoder_norm
            if encoder_prior is None:
                raise ValueError('the bundle has a speech encoder and no encoder statistics')
            self.encoder_normalizer = AdaptiveNormalizer(
                encoder_prior, self.config.encoder_hop_s,
                defaults.norm_prior_s if norm_prior_s is None else norm_prior_s,
                defaults.norm_horizon_s if norm_horizon_s is None else norm_horizon_s,
                adapt=adapt_normalisation)
        self.window_samples = window_samples
        self.calibration = bundle.calibration_in_use
        self.hmm_filter = OnlineHMMFilter(bundle.hmm.with_dwell(self.dwell_s, self.hop_s),
                                          self.calibration.emission_weight)
        self._max_slice = int(MAX_SLICE_S * self.config.sample_rate_hz)
        self.speaker = ''
        self._speaker_states: OrderedDict[str, list[NormalizerState]] = OrderedDict()
        self.reset()

    def reset(self, norm: NormStats | None = None,
              encoder_norm: NormStats | None = None) -> None:
        """
        Start a new stream: forget audio, noise floor, every adapted statistic and HMM belief.

        Parameters
        ----------
        norm : ser_ros.core.normalization.NormStats, optional
            Statistics to start from from now on (e.g. a known speaker's).
        encoder_norm : ser_ros.core.normalization.NormStats, optional
            The same for the speech encoder's embeddings (ignored without an encoder).

        """
        if norm is not None:
            self.normalizer.prior = norm
        if self.encoder is not None:
            if encoder_norm is not None:
                self.encoder_normalizer.prior = encoder_norm
            self.encoder_normalizer.reset()
        self._audio = np.zeros(0, np.float32)
        self._audio_start = 0
        self._embedding: np.ndarray | None = None
        self._windows_since_encoding = 0
        self._least_speech_frames = 0
        self.samples_seen = 0
        self._anchor = (0, 0.0)
        self._pending = [np.zeros(0, np.float32)]
        self._pending_count = 0
        self._frames_seen = 0
        self._frames_until_window = self.window_frames
        self._frames_since_window = 0
        self._cepstra = np.zeros((0, self.config.n_cepstra), np.float32)
        self._speech = np.zeros(0, bool)
        self._undecided: list[tuple[np.ndarray, np.ndarray]] = []
        self.vad.reset()
        self.normalizer.reset()
        self.hmm_filter.reset()
        self._speaker_states.clear()

    def set_speaker(self, speaker: str) -> bool:
        """
        Say who speaks from now on: each speaker keeps adapted statistics of their own.

        The statistics adapted so far are kept under the previous speaker's name; the new
        speaker's are taken up where they were left (the training prior for someone new), and
        the HMM belief starts again from the prior: a new voice is evidence of nothing yet.
        At most :data:`MAX_SPEAKERS` speakers are remembered. Without calls every voice shares
        the speaker ``''``.

        Parameters
        ----------
        speaker : str
            Any identifier (from a diariser, a face tracker, ...); ``''`` for unknown.

        Returns
        -------
        bool
            Whether the speaker changed.

        """
        if speaker == self.speaker:
            return False
        normalizers = [self.normalizer] + ([self.encoder_normalizer] if self.encoder else [])
        self._speaker_states[self.speaker] = [normalizer.save() for normalizer in normalizers]
        self._speaker_states.move_to_end(self.speaker)
        states = self._speaker_states.pop(speaker, None)
        for index, normalizer in enumerate(normalizers):
            if states is None:
                normalizer.reset()
            else:
                normalizer.restore(states[index])
        self._embedding = None
        while len(self._speaker_states) >= MAX_SPEAKERS:
            self._speaker_states.popitem(last=False)
        self.hmm_filter.reset()
        self.speaker = speaker
        return True

    def push(self, samples: np.ndarray, start_time_s: float | None = None) -> list[Estimate]:
        """
        Add audio and return the estimates of every window it completes.

        Parameters
        ----------
        samples : numpy.ndarray, shape (n_samples,), float32
            Mono audio at the model rate (see :class:`ser_ros.core.audio.StreamDecoder`).
        start_time_s : float, optional
            Stream time of the first sample [s]; when None, time runs on from the previous
            chunk (the stream starts at 0).

        Returns
        -------
        list of Estimate
            In time order; empty until a window is complete.

        """
        if start_time_s is not None:
            self._anchor = (self.samples_seen, float(start_time_s))
        samples = np.asarray(samples, np.float32)
        self.samples_seen += len(samples)
        estimates = []
        for begin in range(0, len(samples), self._max_slice):
            windows = self._add_samples(samples[begin:begin + self._max_slice])
            estimates.extend(self._classify(windows))
        return estimates

    def flush(self, min_window_s: float = MIN_FLUSH_WINDOW_S) -> list[Estimate]:
        """
        End the stream: classify the frames that no window has ended on yet.

        The last window ends at the last whole frame; it may be shorter than ``window_s`` when
        the stream was (a recording shorter than a window). Nothing is returned when it would
        be shorter than ``min_window_s``, or when a window already ended less than half a hop
        before the end.

        Returns
        -------
        list of Estimate

        """
        self._frame_pending()
        self._decide()
        frames = len(self._speech)
        first_window = frames < self.window_frames
        tail_too_short = self._frames_since_window < max(1, self.hop_frames // 2)
        if (tail_too_short and not first_window) or self._frames_since_window == 0 or \
                frames * self.config.frame_hop_s < min_window_s:
            return []
        return self._classify([self._cut_window()])

    def warm_up(self) -> None:
        """
        Run one window of silence through every stage, then reset.

        The first call of each stage allocates and compiles what it needs; doing it at start-up
        keeps that cost out of the first real estimate.
        """
        self.push(np.zeros(round(self.window_s * self.config.sample_rate_hz), np.float32))
        self._logits([np.zeros((self.window_frames, self.config.n_features), np.float32)],
                     [np.zeros(self.bundle.model_config.encoder_width, np.float32)])
        if self.encoder is not None:
            self.encoder.embedding(np.zeros(self.window_samples, np.float32))
        self.reset()

    def set_dwell(self, dwell_s: float) -> None:
        """Change the smoothing strength (HMM dwell time [s]) without forgetting the belief."""
        self.dwell_s = float(dwell_s)
        self.hmm_filter = self.hmm_filter.with_params(
            self.bundle.hmm.with_dwell(self.dwell_s, self.hop_s))

    def time_of_sample(self, sample_index: int) -> float:
        """Return the stream time of a sample index [s]."""
        anchor_index, anchor_time = self._anchor
        return anchor_time + (sample_index - anchor_index) / self.config.sample_rate_hz

    def _add_samples(self, samples):
        """Keep new samples; once they complete the next window, frame them and cut it."""
        if self.encoder is not None:
            # Keep what a window cut from these samples may start at: one window before the
            # first unframed frame's end (frames reach back over the pending samples).
            keep = self.window_samples + self._pending_count + self.config.frame_length
            kept = self._audio[-keep:] if keep < len(self._audio) else self._audio
            self._audio_start += len(self._audio) - len(kept)
            self._audio = np.concatenate([kept, samples])
        self.vad.add_samples(samples)
        self._pending.append(samples)
        self._pending_count += len(samples)
        if self.config.frames_in(self._pending_count) < self._frames_until_window:
            return []
        return self._frame_pending()

    def _frame_pending(self):
        """Frame the pending samples (one call per hop, whatever the chunks) and cut windows."""
        audio = np.concatenate(self._pending)
        n_frames = self.config.frames_in(len(audio))
        cepstra, energy_db = self.featurizer.frames(audio)
        rest = audio[n_frames * self.config.hop_length:]
        self._pending, self._pending_count = [rest], len(rest)
        windows = []
        index = 0
        while index < n_frames:
            take = min(n_frames - index, self._frames_until_window)
            self._undecided.append((cepstra[index:index + take], energy_db[index:index + take]))
            self._frames_seen += take
            self._frames_since_window += take
            index += take
            self._frames_until_window -= take
            if self._frames_until_window == 0:
                windows.append(self._cut_window())
                self._frames_until_window = self.hop_frames
        return windows

    def _decide(self):
        """Gate the frames heard since the last window, all at once (their audio is in)."""
        if not self._undecided:
            return
        cepstra = np.concatenate([frames for frames, _ in self._undecided])
        speech = self.vad.speech_frames(np.concatenate([energy for _, energy in self._undecided]))
        self._undecided = []
        self._cepstra = np.concatenate([self._cepstra, cepstra])[-self.window_frames:]
        self._speech = np.concatenate([self._speech, speech])[-self.window_frames:]
        self.normalizer.update(cepstra[speech])

    def _cut_window(self):
        """Gate and fold into the normaliser the frames heard since the last window; cut."""
        self._decide()
        self._frames_since_window = 0
        config = self.config
        end_sample = (self._frames_seen - 1) * config.hop_length + config.frame_length
        speech_ratio = float(np.mean(self._speech))
        is_speech = self.vad.is_speech(self._speech)
        frames = model_input(self.normalizer.apply(self._cepstra), config) if is_speech else None
        self._windows_since_encoding += 1
        embedding = (self._window_embedding(self.encoder, end_sample)
                     if is_speech and self.encoder is not None else None)
        return _Window(self.time_of_sample(end_sample), is_speech, speech_ratio, frames,
                       embedding)

    def _window_embedding(self, encoder, end_sample):
        """
        Return the standardised encoder embedding of the speech window ending at ``end_sample``.

        The audio of the window's speech frames is encoded
        (:func:`ser_ros.core.speech_encoder.speech_audio`) when there is
        no embedding since the reset or the speaker change, when the last one is
        ``encoder_hop_s`` old, or when the window holds a hop more speech than the least any
        window held since the last encoding, or is all speech and that least was not: an
        utterance's onset, after silence or a pause in the stream, is encoded again hop by hop
        until its window is full; otherwise the last embedding is reused.
        """
        speech_frames = int(self._speech.sum())
        # The least speech any window held since the last encoding: after a pause, the next
        # utterance is an onset too.
        self._least_speech_frames = min(self._least_speech_frames, speech_frames)
        onset = self._least_speech_frames < speech_frames >= min(
            self._least_speech_frames + self.hop_frames, self.window_frames)
        if (self._embedding is None or self._windows_since_encoding >= self._encoder_every
                or onset):
            begin = max(end_sample - self.window_samples, self._audio_start)
            embedding = encoder.embedding(
                self._audio[begin - self._audio_start:end_sample - self._audio_start],
                self._speech)
            self.encoder_normalizer.update(embedding[None])
            self._embedding = self.encoder_normalizer.apply(embedding).astype(np.float32)
            self._windows_since_encoding = 0
            self._least_speech_frames = speech_frames
        return self._embedding

    def _classify(self, windows):
        """Run the BiLSTM on the speech windows (batched) and the HMM filter on all, in order."""
        speech_windows = [window for window in windows if window.is_speech]
        logits = iter(self._logits([window.frames for window in speech_windows],
                                   [window.embedding for window in speech_windows]))
        estimates = []
        for window in windows:
            raw = None
            if window.is_speech:
                window_logits = next(logits)
                raw = self.calibration.raw(window_logits)
                self.hmm_filter.update(observations(window_logits))
            else:
                self.hmm_filter.predict()
            has_belief = self.hmm_filter.has_evidence
            probabilities = self.calibration.smoothed(self.hmm_filter.posterior) if has_belief \
                else self.hmm_filter.posterior
            best = int(np.argmax(probabilities))
            estimates.append(Estimate(
                end_time_s=window.end_time_s, is_speech=window.is_speech,
                speech_ratio=window.speech_ratio,
                label=self.labels[best] if has_belief else None,
                confidence=float(probabilities[best]) if has_belief else 0.0,
                probabilities=probabilities, raw_probabilities=raw))
        return estimates

    def _logits(self, window_frames, window_embeddings):
        """Return the logits of each window, shape (n_windows, n_labels)."""
        if not window_frames:
            return np.zeros((0, len(self.labels)), np.float32)
        embeddings = (None if self.encoder is None else
                      torch.from_numpy(np.stack(window_embeddings)))
        if len({len(frames) for frames in window_frames}) == 1:
            batches = [(torch.from_numpy(np.stack(window_frames)), embeddings)]
        else:
            batches = [(torch.from_numpy(frames[None]),
                        None if embeddings is None else embeddings[index:index + 1])
                       for index, frames in enumerate(window_frames)]
        return np.concatenate([self._run_model(frames, embeddings)
                               for frames, embeddings in batches])

    def _run_model(self, frames, embeddings):
        """Run the model (traced at its first call) on one batch of windows."""
        inputs = (frames,) if embeddings is None else (frames, embeddings)
        if self._traced_model is None:
            self._traced_model = traced(self.model, *inputs)
        with torch.inference_mode():
            return self._traced_model(*inputs).numpy()


@dataclass
class UtteranceResult:
    """
    The recogniser's verdict on a whole recording.

    Attributes
    ----------
    label : str or None
        Arg-max of ``probabilities``; None when no window had speech.
    confidence : float
        Probability of ``label``.
    probabilities : numpy.ndarray, shape (n_labels,)
        Normalised geometric mean of the raw window probabilities over the speech windows.
    smoothed_probabilities : numpy.ndarray, shape (n_labels,)
        The HMM-filtered probabilities after the last window (what the node would publish).
    estimates : list of Estimate
        Every window's estimate (empty unless kept).
    windows, speech_windows : int
        Windows classified, and those the speech gate passed.

    """

    label: str | None
    confidence: float
    probabilities: np.ndarray
    smoothed_probabilities: np.ndarray
    estimates: list[Estimate]
    windows: int
    speech_windows: int


def predict_utterance(recognizer: StreamingRecognizer,
                      signal: np.ndarray | Iterable[np.ndarray],
                      norm: NormStats | None = None,
                      keep_estimates: bool = True,
                      encoder_norm: NormStats | None = None) -> UtteranceResult:
    """
    Classify a whole recording by streaming it through ``recognizer``.

    The recording is one stream from a fresh start (:meth:`StreamingRecognizer.reset`): the
    same windows, gate, normalisation and model as on the robot, plus a final shorter window
    so that recordings shorter than a window are classified too. The window probabilities are
    summed as they come, so a recording given in blocks is classified in bounded memory.

    Parameters
    ----------
    recognizer : StreamingRecognizer
        Reset first; it keeps nothing of earlier recordings.
    signal : numpy.ndarray, shape (n_samples,), float32, or iterable of them
        Mono audio at the model rate, whole or in consecutive blocks
        (:func:`ser_ros.core.audio.audio_blocks`).
    norm : ser_ros.core.normalization.NormStats, optional
        Statistics to normalise with (e.g. the speaker's), passed to ``reset``.
    keep_estimates : bool
        Keep every window's estimate in the result (memory grows with the recording).
    encoder_norm : ser_ros.core.normalization.NormStats, optional
        Speech encoder statistics to normalise with, passed to ``reset``.

    Returns
    -------
    UtteranceResult

    """
    recognizer.reset(norm, encoder_norm)
    blocks = [signal] if isinstance(signal, np.ndarray) else signal
    n_labels = len(recognizer.labels)
    log_sum, kept = np.zeros(n_labels), []
    windows = speech_windows = 0
    smoothed = recognizer.hmm_filter.posterior
    # The end of the stream (None) flushes the last, shorter window.
    for index, block in enumerate(itertools.chain(blocks, [None])):
        estimates = recognizer.flush() if block is None else \
            recognizer.push(block, 0.0 if index == 0 else None)
        for estimate in estimates:
            windows += 1
            smoothed = estimate.probabilities
            if estimate.raw_probabilities is not None:
                speech_windows += 1
                log_sum += np.log(np.maximum(estimate.raw_probabilities, 1e-12))
        if keep_estimates:
            kept.extend(estimates)
    if not speech_windows:
        uniform = np.full(n_labels, 1.0 / n_labels)
        return UtteranceResult(None, 0.0, uniform, smoothed, kept, windows, 0)
    probabilities = softmax(log_sum / speech_windows)
    best = int(np.argmax(probabilities))
    return UtteranceResult(recognizer.labels[best], float(probabilities[best]), probabilities,
                           smoothed, kept, windows, speech_windows)
