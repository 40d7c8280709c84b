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
Labelled speech corpora: read each corpus's own layout into one list of utterances.

Every reader returns :class:`Utterance` records with an emotion from one shared vocabulary
(:data:`EMOTIONS`) and a speaker id prefixed with the corpus name, so that several corpora can
be mixed. The trainer's ``label_map`` then maps that vocabulary onto the model's labels.

Readers work on the layouts as published, with ``.wav`` or ``.flac`` files:

- RAVDESS: ``Actor_NN/03-01-EE-II-SS-RR-NN.wav``
- TESS: ``OAF_angry/OAF_back_angry.wav`` (the emotion is read from the file name)
- CREMA-D: ``1001_DFA_ANG_XX.wav``
- Emo-DB: ``03a01Fa.wav``
- any other data: a CSV manifest with ``path,label,speaker`` (paths relative to the CSV).
"""

import csv
from dataclasses import dataclass
import os
import re

from ser_ros.core.errors import SerError

#: The shared emotion vocabulary of all readers.
EMOTIONS = ('neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised',
            'boredom')
AUDIO_SUFFIXES = ('.wav', '.flac')

RAVDESS_EMOTIONS = {'01': 'neutral', '02': 'calm', '03': 'happy', '04': 'sad', '05': 'angry',
                    '06': 'fearful', '07': 'disgust', '08': 'surprised'}
TESS_EMOTIONS = {'angry': 'angry', 'disgust': 'disgust', 'fear': 'fearful', 'happy': 'happy',
                 'neutral': 'neutral', 'ps': 'surprised', 'sad': 'sad'}
CREMAD_EMOTIONS = {'ANG': 'angry', 'DIS': 'disgust', 'FEA': 'fearful', 'HAP': 'happy',
                   'NEU': 'neutral', 'SAD': 'sad'}
EMODB_EMOTIONS = {'W': 'angry', 'L': 'boredom', 'E': 'disgust', 'A': 'fearful', 'F': 'happy',
                  'T': 'sad', 'N': 'neutral'}
#: Spellings found in manifests, mapped onto the vocabulary.
LABEL_SYNONYMS = {'anger': 'angry', 'fear': 'fearful', 'happiness': 'happy', 'sadness': 'sad',
                  'disgusted': 'disgust', 'surprise': 'surprised', 'ps': 'surprised',
                  'pleasant_surprise': 'surprised', 'bored': 'boredom'}

RAVDESS_NAME = re.compile(r'^03-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$')
TESS_NAME = re.compile(r'^(OAF|YAF)_(.+)_([a-z]+)$', re.IGNORECASE)
CREMAD_NAME = re.compile(r'^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$')
EMODB_NAME = re.compile(r'^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$')


class CorpusError(SerError):
    """A corpus folder or manifest that cannot be read; the message says what and where."""


@dataclass(frozen=True)
class Utterance:
    """
    One labelled recording.

    Attributes
    ----------
    path : str
        Audio file.
    emotion : str
        One of :data:`EMOTIONS`.
    speaker : str
        ``corpus:speaker`` (unique across corpora).
    corpus : str

    """

    path: str
    emotion: str
    speaker: str
    corpus: str


def canonical_emotion(label):
    """Map a label's spelling onto :data:`EMOTIONS`; raise CorpusError when it is unknown."""
    name = label.strip().lower().replace(' ', '_')
    name = LABEL_SYNONYMS.get(name, name)
    if name not in EMOTIONS:
        raise CorpusError(f'unknown emotion label {label!r}; known: {EMOTIONS}')
    return name


def _audio_files(root):
    if not os.path.isdir(root):
        raise CorpusError(f'corpus folder {root} does not exist')
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in AUDIO_SUFFIXES:
                yield os.path.join(folder, name), stem


def _read_named(root, corpus, pattern, emotion_group, emotions, speaker_group):
    """
    Read the files under ``root`` whose stem matches ``pattern``.

    Parameters
    ----------
    root : str
        Corpus folder (searched recursively).
    corpus : str
        Corpus name, the prefix of the speaker ids.
    pattern : re.Pattern
        Matches a file stem; files that do not match are not part of the corpus.
    emotion_group, speaker_group : int
        Groups of ``pattern`` holding the emotion code and the speaker id.
    emotions : dict of str to str
        Emotion code (as in the file name, case-insensitive) -> :data:`EMOTIONS` entry;
        codes not in it are skipped.

    Returns
    -------
    list of Utterance

    """
    emotions = {code.lower(): emotion for code, emotion in emotions.items()}
    utterances = []
    for path, stem in _audio_files(root):
        match = pattern.match(stem)
        if match and match.group(emotion_group).lower() in emotions:
            utterances.append(Utterance(path, emotions[match.group(emotion_group).lower()],
                                        f'{corpus}:{match.group(speaker_group)}', corpus))
    return utterances


def read_ravdess(root):
    """Read RAVDESS speech (``03-01-*``); the speaker is the actor number."""
    return _read_named(root, 'ravdess', RAVDESS_NAME, 1, RAVDESS_EMOTIONS, 5)


def read_tess(root):
    """Read TESS; the emotion comes from the file name, whatever the folder is called."""
    return _read_named(root, 'tess', TESS_NAME, 3, TESS_EMOTIONS, 1)


def read_cremad(root):
    """Read CREMA-D (``actor_sentence_emotion_level``); the speaker is the actor id."""
    return _read_named(root, 'cremad', CREMAD_NAME, 3, CREMAD_EMOTIONS, 1)


def read_emodb(root):
    """Read Emo-DB (``speaker text emotion version``); the speaker is the 2-digit id."""
    return _read_named(root, 'emodb', EMODB_NAME, 3, EMODB_EMOTIONS, 1)


def read_manifest(csv_path, corpus=None):
    """
    Read a CSV manifest with columns ``path,label,speaker``.

    Parameters
    ----------
    csv_path : str
        The manifest; relative paths in it are relative to its folder.
    corpus : str, optional
        Name used to prefix speakers; the manifest's folder name by default.

    """
    corpus = corpus or os.path.basename(os.path.dirname(os.path.abspath(csv_path)))
    base = os.path.dirname(os.path.abspath(csv_path))
    if not os.path.isfile(csv_path):
        raise CorpusError(f'manifest {csv_path} does not exist')
    utterances = []
    with open(csv_path, newline='') as stream:
        reader = csv.DictReader(stream)
        missing = {'path', 'label', 'speaker'} - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(f'manifest {csv_path} lacks the column(s) {sorted(missing)}')
        for line, row in enumerate(reader, start=2):
            try:
                emotion = canonical_emotion(row['label'])
            except CorpusError as error:
                raise CorpusError(f'{csv_path}:{line}: {error}') from None
            utterances.append(Utterance(os.path.join(base, row['path']), emotion,
                                        f'{corpus}:{row["speaker"]}', corpus))
    return utterances


READERS = {'ravdess': read_ravdess, 'tess': read_tess, 'cremad': read_cremad,
           'emodb': read_emodb, 'manifest': read_manifest}


def read_corpus(kind, root):
    """
    Read one corpus with the reader named ``kind`` (see :data:`READERS`).

    Raises
    ------
    CorpusError
        For an unknown kind, a missing folder, or a folder without any matching file.

    """
    if kind not in READERS:
        raise CorpusError(f'unknown corpus kind {kind!r}; known: {sorted(READERS)}')
    utterances = READERS[kind](root)
    if not utterances:
        raise CorpusError(f'no {kind} recordings found under {root}')
    return utterances


def parse_corpus(text):
    """Parse ``kind:path`` (e.g. ``ravdess:../shared/data/ravdess``)."""
    kind, separator, root = text.partition(':')
    if not separator:
        raise CorpusError(f'{text!r} is not kind:path')
    return {'kind': kind, 'root': root}
