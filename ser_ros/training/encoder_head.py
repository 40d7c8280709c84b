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
The encoder head: a linear classifier on a frozen speech encoder's window embedding.

The first blocks of Whisper's encoder (:mod:`ser_ros.core.speech_encoder`) carry emotion
across languages where cepstra do not: an SVM on the mean of their frames beats the one on
MFCC statistics by 17 points when a whole corpus is left out (``bench/pretrained_features.py``).
Distilled into the BiLSTM in training it moved nothing (``training.teacher_targets``), so the
node runs the encoder itself, and this head classifies what it hears.

The head is fitted after the network, like the statistics head: multinomial logistic
regression on the embeddings of ``window_s`` crops of the training speakers' utterances (their
silent ends trimmed), standardised per normalisation group (speaker where the corpus allows) as
the recogniser's running statistics standardise them on a stream, with the network's corpus-
and class-balancing weights. A crop is embedded as the node embeds a window: the audio of the
frames the voice-activity gate passes, alone (:func:`gated_embedding`). The embeddings'
statistics over all crops are the bundle's prior.
"""

from dataclasses import replace

import numpy as np
from ser_ros.core.model import BiLSTMClassifier
from ser_ros.core.normalization import NormStats
from ser_ros.core.vad import speech_frames_of
from ser_ros.training.dataset import group_standardised, trimmed
from ser_ros.training.statistics_head import linear_classifier, with_linear_head


def random_crops(signals, crop_samples, generator):
    """
    Return one crop of each signal at a random position, after trimming its silent ends.

    Parameters
    ----------
    signals : list of numpy.ndarray, each shape (n_samples_i,), float32
        Utterances at 16 kHz.
    crop_samples : int
        Crop length [samples]; a shorter (trimmed) signal is taken whole.
    generator : numpy.random.Generator
        Draws the positions.

    Returns
    -------
    list of numpy.ndarray

    """
    crops = []
    for signal in signals:
        speech = trimmed(signal)
        start = int(generator.integers(0, max(1, len(speech) - crop_samples + 1)))
        crops.append(speech[start:start + crop_samples])
    return crops


def tiles(signal, tile_samples):
    """
    Return the signal's trimmed speech, cut into consecutive windows of ``tile_samples``.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_samples,), float32
        An utterance at 16 kHz.
    tile_samples : int
        Tile length [samples].

    Returns
    -------
    list of numpy.ndarray
        At least one tile; a tail shorter than half a tile joins the tile before it, a longer
        one is a tile of its own.

    """
    speech = trimmed(signal)
    starts = list(range(0, max(1, len(speech) - tile_samples // 2), tile_samples))
    ends = starts[1:] + [len(speech)]
    return [speech[start:end] for start, end in zip(starts, ends)]


def gated_embedding(encoder, signal, featurizer, vad_config):
    """
    Return the embedding of a window's speech, as the recogniser computes it on a stream.

    Parameters
    ----------
    encoder : ser_ros.core.speech_encoder.WhisperEncoder
        The encoder the recogniser runs.
    signal : numpy.ndarray, shape (n_samples,), float32
        A window (or crop) at 16 kHz; the samples after its last whole frame are not heard.
    featurizer : ser_ros.core.features.FrameFeaturizer
        The bundle's: the gate decides on its frames.
    vad_config : ser_ros.core.vad.VadConfig
        The bundle's gate (a fresh one per signal).

    Returns
    -------
    numpy.ndarray, shape (encoder.width,), float32

    """
    features = featurizer.config
    _, energy_db = featurizer.frames(signal)
    heard = signal[:(len(energy_db) - 1) * features.hop_length + features.frame_length]
    return encoder.embedding(heard, speech_frames_of(vad_config, features, heard, energy_db))


def group_embedding_statistics(encoder, signals, groups, tile_samples, featurizer, vad_config):
    """
    Return the statistics of each normalisation group's tile embeddings.

    What the recogniser's running statistics converge to on a speaker (the ``'adapted'``
    condition of :mod:`ser_ros.training.evaluation`).

    Parameters
    ----------
    encoder : ser_ros.core.speech_encoder.WhisperEncoder
        The encoder the recogniser runs.
    signals : list of numpy.ndarray, each shape (n_samples_i,), float32
        Utterances at 16 kHz.
    groups : list of str
        The normalisation group of each signal.
    tile_samples : int
        Window length [samples] (:func:`tiles`).
    featurizer, vad_config
        The bundle's frames and gate (:func:`gated_embedding`).

    Returns
    -------
    dict of str to ser_ros.core.normalization.NormStats

    """
    embeddings = {}
    for signal, group in zip(signals, groups):
        embeddings.setdefault(group, []).extend(
            gated_embedding(encoder, tile, featurizer, vad_config)
            for tile in tiles(signal, tile_samples))
    return {group: NormStats.of(np.stack(rows)) for group, rows in embeddings.items()}


def fit_encoder_head(model: BiLSTMClassifier, weight: float, embeddings: np.ndarray,
                     groups: list, label_indices: np.ndarray,
                     sample_weights: np.ndarray) -> tuple[BiLSTMClassifier, NormStats]:
    """
    Return ``model`` with an encoder head fitted on crops, mixed in at ``weight``; and the prior.

    Parameters
    ----------
    model : BiLSTMClassifier
        The trained network (with or without its statistics head); its weights are copied.
    weight : float
        The head's share ``v`` in (0, 1) (see :class:`ser_ros.core.model.ModelConfig`).
    embeddings : numpy.ndarray, shape (n_crops, width), float32
        The embedding of each crop of the training speakers (:func:`random_crops`,
        :func:`gated_embedding`).
    groups : list of str
        The normalisation group of each crop.
    label_indices : numpy.ndarray, shape (n_crops,), int
        The label of each crop.
    sample_weights : numpy.ndarray, shape (n_crops,), float
        Balancing weight of each crop (as in the network's loss).

    Returns
    -------
    model : BiLSTMClassifier
        In evaluation mode.
    prior : ser_ros.core.normalization.NormStats
        Statistics of all crops' embeddings, shape (width,) each: where the recogniser's
        running statistics start.

    """
    embeddings = np.asarray(embeddings, np.float64)
    coefficients, bias = linear_classifier(group_standardised(embeddings, groups),
                                           label_indices, sample_weights,
                                           model.config.n_labels)
    config = replace(model.config, encoder_head=weight, encoder_width=embeddings.shape[1])
    return (with_linear_head(model, config, 'encoder_head', coefficients, bias),
            NormStats.of(embeddings.astype(np.float32)))
