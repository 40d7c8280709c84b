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
A frozen Whisper encoder as a teacher: what a speech model trained on 96 languages hears.

The mean of the early Whisper encoder blocks' frames (:mod:`ser_ros.core.speech_encoder`) over
an utterance carries emotion across languages (``bench/pretrained_features.py``). Here it
teaches the BiLSTM in training: a linear head on the emotion head's hidden layer learns to
predict the teacher's utterance embedding, standardised per speaker like every feature
(feature distillation). Training only: the bundle keeps the emotion network alone. Measured
level across corpora (README); the encoder head (:mod:`ser_ros.training.encoder_head`) runs
the encoder in the node instead.
"""

import librosa
import numpy as np
from ser_ros.core.speech_encoder import RATE_HZ
from ser_ros.training.dataset import group_standardised, trimmed
import torch
from torch import nn
from torch.nn import functional


def utterance_embeddings(encoder, signals, groups, sample_rate_hz=RATE_HZ):
    """
    Return each utterance's mean encoder frame, standardised per group, shape (n, width).

    Parameters
    ----------
    encoder : ser_ros.core.speech_encoder.WhisperEncoder
        The teacher.
    signals : list of numpy.ndarray, each shape (n_samples_i,), float32
        Audio; silence at either end is trimmed first.
    groups : list of str
        The normalisation group of each utterance (speaker, or corpus).
    sample_rate_hz : int
        Rate of ``signals`` [Hz]; resampled to 16 kHz when it differs.

    """
    def heard(signal):
        signal = trimmed(signal)
        if sample_rate_hz != RATE_HZ:
            signal = librosa.resample(signal, orig_sr=sample_rate_hz, target_sr=RATE_HZ)
        return signal

    means = [encoder.embedding(heard(signal)) for signal in signals]
    return group_standardised(np.stack(means).astype(np.float64), groups).astype(np.float32)


class TeacherHead(nn.Module):
    """
    A linear map from the emotion head's hidden layer to the teacher's utterance embedding.

    Parameters
    ----------
    width : int
        Size of the embedding it reads (the emotion head's hidden size).
    targets : numpy.ndarray, shape (n_utterances, teacher_width), float32
        The teacher's standardised embedding of each training utterance.

    """

    def __init__(self, width, targets):
        super().__init__()
        self.targets = torch.from_numpy(targets)
        self.regressor = nn.Linear(width, targets.shape[1])

    def forward(self, embedded):
        """Return the predicted teacher embeddings, shape (batch, teacher_width)."""
        return self.regressor(embedded)

    def loss(self, predicted, utterances):
        """Return the mean squared error against the targets of ``utterances`` (batch,)."""
        return functional.mse_loss(predicted, self.targets[utterances])
