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
Training data: labelled audio in memory, speaker-disjoint splits, augmented window crops.

Training imitates what the node does with a stream. Each epoch every utterance gives one crop
of exactly one streaming window, taken around its speech, passed through a random "channel"
(room reverberation, gain, spectral tilt, noise; the same for all of a speaker's crops in the
epoch, as one robot microphone in one room would be), a random speed change and, at random,
an mp3 round trip (audio_capture sends mp3); at random, too, a crop reaches past its utterance
across a pause into a neighbouring recording, as most stream windows do. The crops are framed
by the shared
:class:`~ser_ros.core.features.FrameFeaturizer`, gated by the shared VAD, and standardised with
their speaker's statistics over speech frames under that channel: the statistics the node's
adaptive normaliser converges to for a speaker in a room.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
import logging

import librosa
import numpy as np
from scipy.signal import fftconvolve, lfilter
from ser_ros.core.audio import AudioFormat, load_audio, Mp3Encoder, StreamDecoder
from ser_ros.core.errors import SerError
from ser_ros.core.features import model_input
from ser_ros.core.normalization import NormStats
from ser_ros.core.vad import speech_frames_of
from ser_ros.training.corpora import read_corpus
import soxr
from tqdm import tqdm

LOGGER = logging.getLogger(__name__)
#: The level below the peak that counts as silence when trimming utterances [dB].
TRIM_TOP_DB = 30.0


class DatasetError(SerError):
    """A dataset or split that cannot be used for training; the message says why."""


@dataclass
class LabelledAudio:
    """
    Utterances in memory, with labels mapped onto the model's label set.

    Attributes
    ----------
    signals : list of numpy.ndarray, each shape (n_samples_i,), float32
        Mono audio at the model rate.
    label_indices : numpy.ndarray, shape (n_utterances,), int
        Index into ``labels``.
    speakers, corpora, paths : list of str
    norm_groups : list of str
        The group whose statistics standardise each utterance: its speaker, or its whole
        corpus for corpora whose speakers each speak in one emotion only (where speaker
        statistics would erase the emotion itself).
    labels : list of str

    """

    signals: list
    label_indices: np.ndarray
    speakers: list
    corpora: list
    paths: list
    norm_groups: list
    labels: list

    def subset(self, indices):
        """Return the utterances at ``indices`` as a new LabelledAudio."""
        return LabelledAudio([self.signals[i] for i in indices], self.label_indices[indices],
                             [self.speakers[i] for i in indices],
                             [self.corpora[i] for i in indices],
                             [self.paths[i] for i in indices],
                             [self.norm_groups[i] for i in indices], self.labels)

    def of_speakers(self, speakers):
        """Return the utterances of the given speakers."""
        wanted = set(speakers)
        return self.subset(np.array([i for i, s in enumerate(self.speakers) if s in wanted],
                                    dtype=int))

    def __len__(self):
        return len(self.signals)


def map_labels(utterances, labels, label_map):
    """
    Keep the utterances whose emotion maps onto one of ``labels``.

    Parameters
    ----------
    utterances : list of ser_ros.training.corpora.Utterance
        Recordings with emotions from the shared vocabulary.
    labels : list of str
        The model's labels.
    label_map : dict of str to str or None
        Corpus emotion -> model label; None drops the emotion. Emotions that are model labels
        themselves map to themselves unless listed.

    Returns
    -------
    list of (Utterance, int)
        Each kept utterance with its label index.

    """
    kept = []
    for utterance in utterances:
        target = label_map.get(utterance.emotion, utterance.emotion)
        if target is None:
            continue
        if target not in labels:
            if utterance.emotion in label_map:
                raise DatasetError(f'label_map sends {utterance.emotion!r} to {target!r}, '
                                   f'which is not one of the labels {labels}')
            continue
        kept.append((utterance, labels.index(target)))
    return kept


def load_labelled_audio(corpora, labels, label_map, sample_rate_hz, progress=True):
    """
    Read the configured corpora and load their audio at the model rate.

    Parameters
    ----------
    corpora : list of dict
        Each ``{'kind': reader name, 'root': folder or manifest}``, optionally with
        ``'normalise_by': 'speaker' | 'corpus'`` (default speaker).
    labels : list of str
        The model's labels.
    label_map : dict
        See :func:`map_labels`.
    sample_rate_hz : int
        The model's sample rate [Hz].
    progress : bool
        Show a progress bar.

    Returns
    -------
    LabelledAudio

    """
    pairs, groups = [], []
    for corpus in corpora:
        found = read_corpus(corpus['kind'], corpus['root'])
        mapped = map_labels(found, labels, label_map)
        LOGGER.info('%s: %d recordings, %d with a model label', corpus['root'], len(found),
                    len(mapped))
        normalise_by = corpus.get('normalise_by', 'speaker')
        if normalise_by not in ('speaker', 'corpus'):
            raise DatasetError(f'normalise_by {normalise_by!r} is neither speaker nor corpus')
        pairs.extend(mapped)
        groups.extend(u.speaker if normalise_by == 'speaker' else f'{u.corpus}:*'
                      for u, _ in mapped)
    if not pairs:
        raise DatasetError('no recording has one of the labels ' + ', '.join(labels))
    signals = [load_audio(utterance.path, sample_rate_hz)
               for utterance, _ in tqdm(pairs, desc='loading audio', disable=not progress)]
    return LabelledAudio(signals, np.array([index for _, index in pairs]),
                         [u.speaker for u, _ in pairs], [u.corpus for u, _ in pairs],
                         [u.path for u, _ in pairs], groups, list(labels))


def speaker_split(speakers, corpora, seed, test_fraction=0.15, validation_fraction=0.15,
                  test_speakers=None, folds=None, fold=None):
    """
    Split speakers into disjoint train, validation and test sets, corpus by corpus.

    Parameters
    ----------
    speakers, corpora : list of str
        Speaker and corpus of every utterance.
    seed : int
        Seeds the random choice of validation (and test) speakers.
    test_fraction, validation_fraction : float
        Shares of each corpus's speakers (at least one speaker each when the corpus has three
        or more).
    test_speakers : list of str, optional
        Explicit test speakers (``corpus:id``), instead of a fraction or a fold.
    folds, fold : int, optional
        Cross-validation: sorted speakers of each corpus cut into ``folds`` contiguous groups;
        group ``fold`` is the test set.

    Returns
    -------
    dict with keys 'train', 'validation', 'test'
        Sorted speaker lists, pairwise disjoint.

    """
    generator = np.random.default_rng(seed)
    by_corpus = defaultdict(set)
    for speaker, corpus in zip(speakers, corpora):
        by_corpus[corpus].add(speaker)
    split = {'train': [], 'validation': [], 'test': []}
    for corpus in sorted(by_corpus):
        members = sorted(by_corpus[corpus])
        if test_speakers is not None:
            test = [speaker for speaker in members if speaker in set(test_speakers)]
        elif folds:
            test = list(np.array_split(members, folds)[fold])
        else:
            test = list(generator.choice(members, _share(len(members), test_fraction),
                                         replace=False))
        rest = [speaker for speaker in members if speaker not in set(test)]
        validation = list(generator.choice(rest, _share(len(members), validation_fraction),
                                           replace=False)) if len(rest) > 1 else []
        split['test'] += test
        split['validation'] += validation
        split['train'] += [speaker for speaker in rest if speaker not in set(validation)]
    unknown = sorted(set(test_speakers or ()) - set(speakers))
    if unknown:
        raise DatasetError(f"test speakers {unknown} have no recordings with the model's "
                           'labels in the corpora')
    split = {part: sorted(str(speaker) for speaker in members)
             for part, members in split.items()}
    if not split['train']:
        raise DatasetError('the split leaves no training speakers')
    return split


def _share(count, fraction):
    if count < 3 or fraction <= 0:
        return 0
    return max(1, int(round(count * fraction)))


def trimmed(signal: np.ndarray) -> np.ndarray:
    """Return ``signal`` without leading and trailing silence (all of it if little is left)."""
    speech, _ = librosa.effects.trim(signal, top_db=TRIM_TOP_DB)
    return speech if len(speech) >= 2048 else signal


def group_standardised(features: np.ndarray, groups: list[str]) -> np.ndarray:
    """
    Standardise each row within its normalisation group.

    Parameters
    ----------
    features : numpy.ndarray, shape (n_utterances, n_features)
        One row per utterance.
    groups : list of str
        The normalisation group of each row.

    Returns
    -------
    numpy.ndarray, shape (n_utterances, n_features)

    """
    members = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    standardised = np.empty_like(features)
    for indices in members.values():
        block = features[indices]
        standardised[indices] = (block - block.mean(axis=0)) / (block.std(axis=0) + 1e-8)
    return standardised


def balancing_weights(label_indices, corpora, n_labels):
    """
    Per-utterance loss weights that balance classes within each corpus, and corpora.

    Returns
    -------
    numpy.ndarray, shape (n_utterances,), float32
        Mean 1; every (corpus, class) pair carries the same total weight.

    """
    counts = Counter(zip(corpora, label_indices))
    weights = np.array([1.0 / counts[(corpus, label)]
                        for corpus, label in zip(corpora, label_indices)])
    return (weights * len(weights) / weights.sum()).astype(np.float32)


@dataclass
class Augmentation:
    """
    Random changes applied to training crops (see the module docstring).

    Attributes
    ----------
    gain_db : tuple of float
        Range of the per-speaker gain [dB].
    tilt : tuple of float
        Range of the per-speaker first-order spectral tilt coefficient (a microphone).
    noise_probability : float
        Chance that a speaker's channel in an epoch is noisy.
    snr_db : tuple of float
        Range of the signal-to-noise ratio of that noise [dB].
    speed_probability : float
        Chance that a crop is sped up or slowed down (tempo and pitch together).
    speed : tuple of float
        Range of the speed factor.
    time_masks : int
        Stretches of each crop's model input set to the speaker's mean (0 after
        standardisation), as SpecAugment masks time.
    time_mask_s : float
        Longest such stretch [s]; each is drawn uniformly from 0 to it.
    feature_masks : int
        Bands of consecutive input features (cepstral coefficients) set to 0 in each crop.
    feature_mask_width : int
        Widest such band [features].
    reverb_probability : float
        Chance that a speaker's channel in an epoch is a reverberant room.
    rt60_s : tuple of float
        Range of that room's reverberation time [s].
    codec_probability : float
        Chance that a crop goes through the mp3 encoder the bag tools publish with and the
        decoder the node reads with (:func:`mp3_round_trip`).
    codec_kbps : tuple of float
        Range of that encoder's bit rate [kbit/s]; LAME takes the nearest rate it has.
    prior_probability : float
        Chance that a crop is standardised as the node does before it knows the speaker well:
        with the speaker's statistics pooled with the training prior (the node's warm start,
        worth ``streaming.norm_prior_s`` of speech) instead of the speaker's alone.
    heard_s : tuple of float
        Range of the speech [s] the node has heard of the speaker by then.
    context_probability : float
        Chance that a crop reaches past its utterance's speech, across a pause, into another
        recording of the same normalisation group, as stream windows do; the utterance keeps
        the larger share of the crop's speech, and so its label (:func:`context_crop`).
    context_pause_s : tuple of float
        Range of that pause [s]: silence, which the speaker's channel fills with its noise.

    """

    gain_db: tuple[float, float] = (-10.0, 6.0)
    tilt: tuple[float, float] = (-0.6, 0.6)
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    speed_probability: float = 0.5
    speed: tuple[float, float] = (0.9, 1.1)
    time_masks: int = 0
    time_mask_s: float = 0.2
    feature_masks: int = 0
    feature_mask_width: int = 4
    reverb_probability: float = 0.0
    rt60_s: tuple[float, float] = (0.2, 0.8)
    codec_probability: float = 0.0
    codec_kbps: tuple[float, float] = (24.0, 64.0)
    prior_probability: float = 0.0
    heard_s: tuple[float, float] = (0.0, 30.0)
    context_probability: float = 0.0
    context_pause_s: tuple[float, float] = (0.3, 1.5)

    def channel(self, generator, sample_rate_hz):
        """Draw one speaker's recording chain for one epoch; return a :class:`Channel`."""
        gain = 10 ** (generator.uniform(*self.gain_db) / 20)
        tilt = generator.uniform(*self.tilt)
        noisy = generator.random() < self.noise_probability
        snr_db = generator.uniform(*self.snr_db) if noisy else None
        room = None
        # No draw at probability 0: the random stream of a configuration without it stays.
        if self.reverb_probability > 0 and generator.random() < self.reverb_probability:
            room = room_response(generator.uniform(*self.rt60_s), sample_rate_hz, generator)
        return Channel(gain, tilt, snr_db, room)


@dataclass
class Channel:
    """
    One speaker's recording chain in one epoch.

    Attributes
    ----------
    gain : float
        Linear gain.
    tilt : float
        First-order spectral tilt coefficient.
    snr_db : float or None
        Signal-to-noise ratio of added white noise [dB]; None for none.
    room : numpy.ndarray, shape (n_taps,), float32, or None
        Room impulse response (direct path first); None for none.

    """

    gain: float
    tilt: float
    snr_db: float | None
    room: np.ndarray | None


def room_response(rt60_s, sample_rate_hz, generator):
    """
    Draw a synthetic room impulse response: a direct path and an exponentially decaying tail.

    Parameters
    ----------
    rt60_s : float
        Reverberation time: the tail falls by 60 dB in this long [s].
    sample_rate_hz : int
        Rate of the audio it will be convolved with [Hz].
    generator : numpy.random.Generator
        Source of the tail and its level.

    Returns
    -------
    numpy.ndarray, shape (round(rt60_s * sample_rate_hz),), float32
        Peak 1 at sample 0; the tail carries 0.3-3 times the direct path's energy (a talker
        1-3 m from the microphone).

    """
    n_taps = max(2, int(round(rt60_s * sample_rate_hz)))
    time_s = np.arange(1, n_taps) / sample_rate_hz
    tail = generator.standard_normal(n_taps - 1) * np.exp(-6.9 * time_s / rt60_s)
    tail *= np.sqrt(generator.uniform(0.3, 3.0) / np.sum(tail ** 2))
    return np.concatenate([[1.0], tail]).astype(np.float32)


def mp3_round_trip(crop_signal, sample_rate_hz, bitrate_bps):
    """
    Encode one crop as an mp3 stream and decode it again, as a stream reaches the node.

    The encoder is the one audio_capture's stream is imitated with
    (:class:`~ser_ros.core.audio.Mp3Encoder`, LAME) and the decoder the node's own
    (:class:`~ser_ros.core.audio.StreamDecoder`), so the crop also carries the codec's delay
    (about 70 ms at 16 kHz) as the node hears it.

    Parameters
    ----------
    crop_signal : numpy.ndarray, shape (n_samples,), float32
        Mono audio at ``sample_rate_hz``.
    sample_rate_hz : int
        Its rate [Hz].
    bitrate_bps : int
        The encoder's bit rate [bit/s].

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float32
        The decoded audio, cut or zero-padded to the crop's length.

    """
    encoder = Mp3Encoder(sample_rate_hz, bitrate_bps)
    decoder = StreamDecoder(AudioFormat(coding_format='mp3'), sample_rate_hz)
    decoded = decoder.decode(encoder.encode(crop_signal) + encoder.flush())
    return to_length(decoded, len(crop_signal))


def to_length(signal, length):
    """
    Return the first ``length`` samples of ``signal``, zero-padded at the end when shorter.

    Returns
    -------
    numpy.ndarray, shape (length,), float32

    """
    output = np.zeros(length, np.float32)
    output[:min(length, len(signal))] = signal[:length]
    return output


def speech_bounds(signal, featurizer, vad_config):
    """
    Return the first and last speech sample of ``signal`` as the VAD sees it.

    Returns
    -------
    tuple of int
        ``(start, end)`` sample indices; the whole signal when no frame is speech.

    """
    config = featurizer.config
    _, energy_db = featurizer.frames(signal)
    speech = np.flatnonzero(speech_frames_of(vad_config, config, signal, energy_db))
    if len(speech) == 0:
        return 0, len(signal)
    return speech[0] * config.hop_length, speech[-1] * config.hop_length + config.frame_length


def crop(signal, bounds, length, generator, speed=1.0):
    """
    Cut ``length`` output samples from around the speech in ``signal``.

    The crop's start is uniform over the positions that keep it overlapping the speech; a
    ``speed`` factor reads ``speed * length`` source samples and resamples them to ``length``.
    Signals that are too short are zero-padded at the end.

    Returns
    -------
    numpy.ndarray, shape (length,), float32

    """
    source_length = int(round(length * speed))
    start_low = max(0, min(bounds[0], len(signal) - source_length))
    start_high = max(start_low, min(bounds[1] - source_length, len(signal) - source_length))
    start = int(generator.integers(start_low, start_high + 1))
    piece = signal[start:start + source_length]
    if speed != 1.0 and len(piece) > 1:
        piece = soxr.resample(piece, 1.0, 1.0 / speed, quality='HQ')
    return to_length(piece, length)


def context_crop(main, main_bounds, neighbour, neighbour_bounds, pause_length, main_first,
                 length, generator, speed=1.0, min_main_share=0.25, step=160):
    """
    Cut ``length`` output samples that reach from one recording across a pause into another.

    The two recordings are joined as a stream joins them: ``main``'s last samples, a silent
    pause and the neighbour's first samples (or the neighbour first when ``main_first`` is
    False). The crop's start is uniform, on a grid of ``step`` samples, over the positions
    where the crop reaches past ``main``'s speech into the pause, holds at least
    ``min_main_share`` of its length of ``main``'s speech, and more of it than of the
    neighbour's, so that ``main``'s label stays the crop's.

    Parameters
    ----------
    main, neighbour : numpy.ndarray, shape (n_samples_i,), float32
        The labelled recording and its neighbour.
    main_bounds, neighbour_bounds : tuple of int
        Their speech bounds (:func:`speech_bounds`) [samples].
    pause_length : int
        Samples of silence between them (before any speed change).
    main_first : bool
        Whether ``main`` comes before the pause.
    length : int
        Output samples.
    generator : numpy.random.Generator
        Source of the crop's start.
    speed : float
        The crop reads ``speed * length`` joined samples and is resampled to ``length``.
    min_main_share : float
        Least share of the crop that ``main``'s speech fills.
    step : int
        Grid of the start positions [samples].

    Returns
    -------
    numpy.ndarray, shape (length,), float32
        A crop within ``main``'s speech (:func:`crop`) when no position qualifies.

    """
    source_length = int(round(length * speed))
    if main_first:
        first, second = main[-source_length:], neighbour[:source_length]
        main_offset = len(first) - len(main)              # joined index = source index + offset
        neighbour_offset = len(first) + pause_length
    else:
        first, second = neighbour[-source_length:], main[:source_length]
        neighbour_offset = len(first) - len(neighbour)
        main_offset = len(first) + pause_length
    joined = np.concatenate([first, np.zeros(pause_length, np.float32), second])
    first_range, second_range = (0, len(first)), (len(first) + pause_length, len(joined))
    main_speech = np.clip(np.add(main_bounds, main_offset),
                          *(first_range if main_first else second_range))
    neighbour_speech = np.clip(np.add(neighbour_bounds, neighbour_offset),
                               *(second_range if main_first else first_range))
    starts = np.arange(0, max(1, len(joined) - source_length + 1), step)
    ends = starts + source_length
    main_overlap = np.minimum(ends, main_speech[1]) - np.maximum(starts, main_speech[0])
    neighbour_overlap = (np.minimum(ends, neighbour_speech[1])
                         - np.maximum(starts, neighbour_speech[0]))
    reaches_out = ends > main_speech[1] if main_first else starts < main_speech[0]
    valid = reaches_out & (main_overlap >= min_main_share * source_length) & \
        (main_overlap > np.maximum(neighbour_overlap, 0))
    if not valid.any():
        return crop(main, main_bounds, length, generator, speed)
    start = int(generator.choice(starts[valid]))
    return crop(joined, (start, start + source_length), length, generator, speed)


def mask_windows(windows, augmentation, frame_hop_s, generator):
    """
    Mask stretches of time and bands of features of each window in place (SpecAugment).

    Parameters
    ----------
    windows : numpy.ndarray, shape (n_windows, n_frames, n_features), float32
        Standardised model input; a masked value becomes 0, the speaker's mean.
    augmentation : Augmentation
        How many masks, and how large.
    frame_hop_s : float
        Frame hop [s], to turn ``time_mask_s`` into frames.
    generator : numpy.random.Generator
        Source of the masks' sizes and places.

    Returns
    -------
    numpy.ndarray
        ``windows``.

    """
    n_frames, n_features = windows.shape[1:]
    longest = min(n_frames, int(round(augmentation.time_mask_s / frame_hop_s)))
    widest = min(n_features, augmentation.feature_mask_width)
    for window in windows:
        for _ in range(augmentation.time_masks):
            length = int(generator.integers(0, longest + 1))
            start = int(generator.integers(0, n_frames - length + 1))
            window[start:start + length] = 0.0
        for _ in range(augmentation.feature_masks):
            width = int(generator.integers(0, widest + 1))
            start = int(generator.integers(0, n_features - width + 1))
            window[:, start:start + width] = 0.0
    return windows


def apply_channel(crop_signal, channel, generator):
    """Apply a speaker's :class:`Channel` (room, tilt, gain, noise at an SNR) to one crop."""
    if channel.room is not None:
        crop_signal = fftconvolve(crop_signal, channel.room)[:len(crop_signal)]
    shaped = lfilter([1.0, channel.tilt], [1.0], crop_signal).astype(np.float32) * channel.gain
    if channel.snr_db is not None:
        power = float(np.mean(shaped ** 2)) + 1e-12
        noise = generator.standard_normal(len(shaped)).astype(np.float32)
        shaped += noise * np.sqrt(power / 10 ** (channel.snr_db / 10))
    return np.clip(shaped, -1.0, 1.0)


class CropMaker:
    """
    Turn utterances into normalised model-input windows, the way the node will see them.

    Parameters
    ----------
    featurizer : ser_ros.core.features.FrameFeaturizer
    vad_config : ser_ros.core.vad.VadConfig
    window_s : float
        Crop length: the streaming window [s].
    augmentation : Augmentation or None
        None makes clean crops (at random positions, nothing else changed).
    prior : ser_ros.core.normalization.NormStats, optional
        The training statistics the node starts from (needed for
        ``augmentation.prior_probability``).
    prior_s : float
        Seconds of speech the node takes the prior to be worth (``streaming.norm_prior_s``).

    """

    def __init__(self, featurizer, vad_config, window_s, augmentation=None, prior=None,
                 prior_s=10.0):
        self.featurizer = featurizer
        self.vad_config = vad_config
        self.config = featurizer.config
        self.length = int(round(window_s * self.config.sample_rate_hz))
        self.augmentation = augmentation
        self.prior = prior
        self.prior_s = prior_s
        if augmentation and augmentation.prior_probability > 0 and prior is None:
            raise ValueError('augmentation.prior_probability needs the prior statistics')
        self._bounds = {}

    def windows(self, data, generator):
        """
        Make one window per utterance.

        Parameters
        ----------
        data : LabelledAudio
            The utterances, with their normalisation groups.
        generator : numpy.random.Generator
            Source of the crop positions and augmentations.

        Returns
        -------
        numpy.ndarray, shape (n_utterances, n_frames, n_features), float32

        """
        rate = self.config.sample_rate_hz
        channels = {group: self.augmentation.channel(generator, rate) if self.augmentation
                    else None
                    for group in sorted(set(data.norm_groups))}
        members = defaultdict(list)
        for index, group in enumerate(data.norm_groups):
            members[group].append(index)
        cepstra, speech = [], []
        for index, (signal, group) in enumerate(zip(data.signals, data.norm_groups)):
            augmentation = self.augmentation
            speed = 1.0
            if augmentation and generator.random() < augmentation.speed_probability:
                speed = generator.uniform(*augmentation.speed)
            # No draw at probability 0: the random stream of a configuration without it stays.
            if augmentation and augmentation.context_probability > 0 and \
                    len(members[group]) > 1 and \
                    generator.random() < augmentation.context_probability:
                piece = self._context_piece(data, index, members[group], speed, generator)
            else:
                piece = crop(signal, self._speech_bounds(data, index), self.length, generator,
                             speed)
            if channels[group] is not None:
                piece = apply_channel(piece, channels[group], generator)
            if augmentation and augmentation.codec_probability > 0 and \
                    generator.random() < augmentation.codec_probability:
                kbps = generator.uniform(*augmentation.codec_kbps)
                piece = mp3_round_trip(piece, rate, int(round(kbps * 1000)))
            frames, energy_db = self.featurizer.frames(piece)
            cepstra.append(frames)
            speech.append(speech_frames_of(self.vad_config, self.config, piece, energy_db))
        stats = group_statistics(cepstra, speech, data.norm_groups)
        windows = np.stack([model_input(self._statistics(stats[group], generator).apply(frames),
                                        self.config)
                            for frames, group in zip(cepstra, data.norm_groups)])
        if self.augmentation:
            mask_windows(windows, self.augmentation, self.config.frame_hop_s, generator)
        return windows

    def _speech_bounds(self, data, index):
        """Return the speech bounds of utterance ``index`` of ``data`` (cached by path)."""
        path = data.paths[index]
        if path not in self._bounds:
            self._bounds[path] = speech_bounds(data.signals[index], self.featurizer,
                                               self.vad_config)
        return self._bounds[path]

    def _context_piece(self, data, index, group_members, speed, generator):
        """Crop utterance ``index`` with a pause and a random recording of its group beside it."""
        neighbour = index
        while neighbour == index:
            neighbour = group_members[int(generator.integers(len(group_members)))]
        pause_s = generator.uniform(*self.augmentation.context_pause_s)
        return context_crop(data.signals[index], self._speech_bounds(data, index),
                            data.signals[neighbour], self._speech_bounds(data, neighbour),
                            int(round(pause_s * self.config.sample_rate_hz)),
                            bool(generator.random() < 0.5), self.length, generator, speed,
                            self.vad_config.min_speech_ratio, self.config.hop_length)

    def _statistics(self, group_stats, generator):
        """Return the statistics to standardise a crop with (see ``prior_probability``)."""
        augmentation = self.augmentation
        if not augmentation or augmentation.prior_probability == 0 or \
                generator.random() >= augmentation.prior_probability:
            return group_stats
        heard_s = generator.uniform(*augmentation.heard_s)
        return group_stats.blend(self.prior, self.prior_s / (self.prior_s + heard_s))


def group_statistics(cepstra, speech, groups):
    """
    Return each normalisation group's statistics over its speech frames.

    Parameters
    ----------
    cepstra : list of numpy.ndarray, each shape (n_frames_i, n_cepstra)
        Frames of each utterance.
    speech : list of numpy.ndarray, each shape (n_frames_i,), bool
        VAD decision of each frame.
    groups : list of str
        The group of each utterance (see ``LabelledAudio.norm_groups``).

    Returns
    -------
    dict of str to NormStats

    """
    frames = defaultdict(list)
    for cepstrum, mask, group in zip(cepstra, speech, groups):
        frames[group].append(cepstrum[mask] if mask.any() else cepstrum)
    return {group: NormStats.of(np.concatenate(parts)) for group, parts in frames.items()}


def utterance_frames(data, featurizer, vad_config):
    """
    Frame every whole, clean utterance and gate its frames.

    Returns
    -------
    cepstra : list of numpy.ndarray, each shape (n_frames_i, n_cepstra)
    speech : list of numpy.ndarray, each shape (n_frames_i,), bool

    """
    cepstra, speech = [], []
    for signal in data.signals:
        frames, energy_db = featurizer.frames(signal)
        cepstra.append(frames)
        speech.append(speech_frames_of(vad_config, featurizer.config, signal, energy_db))
    return cepstra, speech
