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
Labelled streams: recordings joined into what a robot would hear, with their ground truth.

The bag maker, the demo, the smoothing benchmark and the trainer's validation streams are
built here: recordings of the chosen corpora and speakers (:func:`corpus_items`), ordered into
turns where one speaker keeps one emotion for a few utterances (:func:`plan_turns`), and joined
with pauses (:func:`compose_stream` from files, :func:`join_recordings` from memory), which
also returns where each utterance lies (:class:`Segment`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from ser_ros.core.audio import load_audio
from ser_ros.training.corpora import read_corpus
from ser_ros.training.dataset import map_labels

#: A labelled recording: (path, label, speaker).
Item = tuple[str, str, str]


def corpus_items(corpora: Iterable[dict], labels: Sequence[str], label_map: dict,
                 speakers: Iterable[str] | None = None) -> list[Item]:
    """
    List the recordings of ``corpora`` whose emotion maps onto one of ``labels``.

    Parameters
    ----------
    corpora : iterable of dict
        ``{'kind': reader, 'root': folder or manifest}`` each.
    labels : sequence of str
        The model's labels.
    label_map : dict
        Corpus emotion -> model label (see :func:`ser_ros.training.dataset.map_labels`).
    speakers : iterable of str, optional
        Only these speakers (``corpus:id``); all when None or empty.

    Returns
    -------
    list of (path, label, speaker)

    """
    wanted = set(speakers or ())
    items = []
    for corpus in corpora:
        found = read_corpus(corpus['kind'], corpus['root'])
        items += [(u.path, labels[index], u.speaker)
                  for u, index in map_labels(found, list(labels), label_map)
                  if not wanted or u.speaker in wanted]
    return items


@dataclass(frozen=True)
class Segment:
    """
    One utterance in a stream.

    Attributes
    ----------
    start_s, end_s : float
        Bag time of its first and last sample [s].
    label : str
    speaker, path : str

    """

    start_s: float
    end_s: float
    label: str
    speaker: str = ''
    path: str = ''


def plan_turns(items, generator, max_repeats=3):
    """
    Order labelled recordings into turns: one speaker keeps one emotion for 1-3 utterances.

    Emotions in conversation last longer than one sentence; a stream where every sentence
    changes emotion would reward no smoothing at all.

    Parameters
    ----------
    items : list of (path, label, speaker)
        Labelled recordings.
    generator : numpy.random.Generator
        Source of the order and of the turn lengths.
    max_repeats : int
        Most utterances in one turn.

    Returns
    -------
    list of (path, label, speaker)

    """
    groups = {}
    for item in items:
        groups.setdefault((item[2], item[1]), []).append(item)
    turns = []
    for members in groups.values():
        members = [members[i] for i in generator.permutation(len(members))]
        while members:
            size = int(generator.integers(1, max_repeats + 1))
            turns.append(members[:size])
            members = members[size:]
    return [item for index in generator.permutation(len(turns)) for item in turns[index]]


def compose_stream(items, rate_hz, generator, pause_s=(0.4, 1.5), snr_db=None):
    """
    Join recordings into one stream with pauses and optional background noise.

    Parameters
    ----------
    items : list of (path, label, speaker)
        In playing order.
    rate_hz : int
        Rate of the stream [Hz].
    generator : numpy.random.Generator
        Source of the pause lengths and the noise.
    pause_s : tuple of float
        Range of the pause before each utterance [s].
    snr_db : float, optional
        Background noise (brownish, steady) at this ratio to the mean speech power [dB].

    Returns
    -------
    signal : numpy.ndarray, shape (n_samples,), float32
    segments : list of Segment
        Times relative to the start of the stream [s].

    """
    recordings = ((load_audio(path, rate_hz), label, speaker, path)
                  for path, label, speaker in items)
    signal, segments = join_recordings(recordings, rate_hz, generator, pause_s)
    if snr_db is not None:
        speech = np.concatenate([signal[int(s.start_s * rate_hz):int(s.end_s * rate_hz)]
                                 for s in segments])
        noise = lfilter([1.0], [1.0, -0.9], generator.standard_normal(len(signal)))
        noise *= np.sqrt(np.mean(speech ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
        signal = np.clip(signal + noise.astype(np.float32), -1.0, 1.0)
    return signal, segments


def join_recordings(recordings, rate_hz, generator, pause_s=(0.4, 1.5)):
    """
    Join audio into one stream, a silent pause before each recording and one at the end.

    Parameters
    ----------
    recordings : iterable of (signal, label, speaker, path)
        In playing order; each signal mono float32 at ``rate_hz``.
    rate_hz : int
        Rate of the signals [Hz].
    generator : numpy.random.Generator
        Source of the pause lengths.
    pause_s : tuple of float
        Range of the pause before each recording [s].

    Returns
    -------
    signal : numpy.ndarray, shape (n_samples,), float32
    segments : list of Segment
        Times relative to the start of the stream [s].

    """
    pieces, segments, position = [], [], 0
    for audio, label, speaker, path in recordings:
        pause = np.zeros(int(generator.uniform(*pause_s) * rate_hz), np.float32)
        pieces += [pause, audio]
        start = position + len(pause)
        segments.append(Segment(start / rate_hz, (start + len(audio)) / rate_hz, label, speaker,
                                path))
        position = start + len(audio)
    pieces.append(np.zeros(int(pause_s[1] * rate_hz), np.float32))
    return np.concatenate(pieces).astype(np.float32), segments
