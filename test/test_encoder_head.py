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

"""The encoder head: its mixing, its fit, the recogniser's encoder stream, and training runs."""

from dataclasses import replace
import hashlib
import os
import shutil

import librosa
import numpy as np
import pytest
from ser_ros.core import speech_encoder
from ser_ros.core.bundle import BundleError, load_bundle
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.core.recognizer import predict_utterance, StreamingRecognizer
from ser_ros.core.speech_encoder import SpeechEncoderError, whisper_model, WhisperEncoder
from ser_ros.training.config import load_config
from ser_ros.training.encoder_head import fit_encoder_head, random_crops, tiles
from ser_ros.training.train import add_encoder_head, run
from test_teacher import ctranslate2_file, speech_like, tiny_whisper, WIDTH
from test_training import tiny_training
import torch

SMALL = {'n_features': 6, 'n_labels': 4, 'hidden_size': 8, 'num_layers': 1,
         'conv_channels': 8, 'dropout': 0.0, 'frame_norm': False}


@pytest.fixture
def tiny_encoder_file(tmp_path, monkeypatch):
    """Point the speech encoder at a tiny random Whisper file; return its SHA-256."""
    content = ctranslate2_file(tiny_whisper())
    path = tmp_path / 'tiny_whisper.bin'
    path.write_bytes(content)
    monkeypatch.setenv(speech_encoder.MODEL_ENVIRONMENT, str(path))
    return hashlib.sha256(content).hexdigest()


def test_the_head_mixes_log_probabilities_at_its_weight_and_needs_the_embeddings():
    torch.manual_seed(0)
    model = BiLSTMClassifier(ModelConfig(**SMALL, encoder_head=0.6, encoder_width=5)).eval()
    frames, embeddings = torch.randn(3, 40, 6), torch.randn(3, 5)
    with torch.inference_mode():
        network = model.output(model.embed(frames))
        head = model.encoder_head(embeddings)
        expected = 0.4 * torch.log_softmax(network, 1) + 0.6 * torch.log_softmax(head, 1)
        torch.testing.assert_close(model(frames, embeddings), expected)
        with pytest.raises(ValueError, match='encoder head'):
            model(frames)
    for settings in ({'encoder_head': 0.5}, {'encoder_width': 5},
                     {'encoder_head': 1.0, 'encoder_width': 5}):
        with pytest.raises(ValueError, match='encoder_'):
            ModelConfig(**SMALL, **settings).validate()


def test_the_fitted_head_separates_what_the_embeddings_separate_and_keeps_the_network():
    encoder = WhisperEncoder(tiny_whisper(), layers=2)
    generator = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 12)
    # Each label its own pitch: the embeddings differ by label, not by group.
    crops = [generator.uniform(0.2, 0.4) * np.sin(
        2 * np.pi * (150 + 150 * label) * np.arange(8000) / 16000).astype(np.float32)
        for label in labels]
    groups = ['a', 'b'] * 18
    network = BiLSTMClassifier(ModelConfig(**SMALL)).eval()
    embeddings = np.stack([encoder.embedding(crop) for crop in crops])
    model, prior = fit_encoder_head(network, 0.5, embeddings, groups, labels,
                                    np.ones(len(labels)))
    assert model.config.encoder_head == 0.5 and model.config.encoder_width == WIDTH
    for name, value in network.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
    np.testing.assert_allclose(prior.mean, embeddings.mean(axis=0), rtol=1e-4, atol=1e-5)
    standardised = (embeddings - embeddings.mean(axis=0)) / (embeddings.std(axis=0) + 1e-8)
    with torch.inference_mode():
        logits = model.encoder_head(torch.from_numpy(standardised.astype(np.float32)))
    assert np.mean(logits.numpy().argmax(axis=1) == labels) > 0.9
    assert np.all(logits.numpy()[:, 3] < logits.numpy()[:, :3].min(axis=1))   # no crop has 3


def test_crops_and_tiles_cover_the_trimmed_speech():
    signal = np.concatenate([np.zeros(16000), speech_like(3.3), np.zeros(16000)])
    generator = np.random.default_rng(0)
    crops = random_crops([signal, speech_like(0.5)], 32000, generator)
    assert [len(crop) for crop in crops] == [32000, 8000]
    pieces = tiles(signal, 32000)
    assert len(pieces) == 2 and len(pieces[0]) == 32000
    assert abs(sum(len(piece) for piece in pieces) - 3.3 * 16000) < 0.2 * 16000
    assert [len(piece) for piece in tiles(speech_like(2.5), 32000)] == [40000]


def test_the_weights_must_be_those_the_bundle_was_fitted_with(tiny_encoder_file, monkeypatch):
    assert whisper_model(tiny_encoder_file)[:4] == (6).to_bytes(4, 'little')
    with pytest.raises(SpeechEncoderError, match='not the encoder weights expected'):
        whisper_model('0' * 64)
    monkeypatch.setenv(speech_encoder.MODEL_ENVIRONMENT, '/no/such/model.bin')
    with pytest.raises(SpeechEncoderError, match='/no/such/model.bin'):
        whisper_model(tiny_encoder_file)


def test_the_mel_filters_are_librosas_as_whisper_was_trained_with():
    np.testing.assert_array_equal(speech_encoder.mel_filters().numpy(),
                                  librosa.filters.mel(sr=16000, n_fft=400, n_mels=80))


def test_the_int8_encoder_keeps_the_float_embedding():
    encoder = WhisperEncoder(tiny_whisper(), layers=2)
    signal = speech_like(2.0)
    exact, quantised = encoder.embedding(signal), encoder.quantised().embedding(signal)
    assert np.corrcoef(exact, quantised)[0, 1] > 0.99
    with pytest.raises(ValueError, match='too few'):
        encoder.embedding(signal[:100])


def test_the_embedding_hears_only_the_audio_the_gate_passed():
    encoder = WhisperEncoder(tiny_whisper(), layers=1)
    speech = speech_like(1.0)
    # Half a second of hum before the speech: the gate's 10 ms frames, aligned to the end.
    signal = np.concatenate([0.2 * speech_like(0.5, seed=4)[::-1], speech])
    gate = np.r_[np.zeros(50, bool), np.ones(100, bool)]
    np.testing.assert_array_equal(speech_encoder.speech_audio(signal, gate), speech)
    np.testing.assert_allclose(encoder.embedding(signal, gate), encoder.embedding(speech),
                               rtol=1e-6)
    assert not np.allclose(encoder.embedding(signal), encoder.embedding(speech), rtol=1e-2)
    # A gate longer than the audio reaches before its start; too little speech: all of it.
    longer = np.r_[np.ones(20, bool), gate]
    np.testing.assert_array_equal(speech_encoder.speech_audio(signal, longer), speech)
    np.testing.assert_array_equal(speech_encoder.speech_audio(signal, np.zeros(150, bool)),
                                  signal)


def test_training_with_the_head_and_adding_it_later_give_bundles_that_run(
        tmp_path, repo_root, tiny_encoder_file):
    encoder_settings = ['model.encoder_head=0.5', 'features.encoder_layers=2',
                        'features.encoder_hop_s=1.0']
    common, _ = tiny_training(tmp_path, repo_root, *encoder_settings,
                              f'output={tmp_path / "with_head"}')
    loaded = load_bundle(tmp_path / 'with_head')
    assert loaded.model_config.encoder_head == 0.5 and loaded.model_config.encoder_width == WIDTH
    assert loaded.feature_config.encoder_sha256 == tiny_encoder_file
    assert loaded.encoder_norm.mean.shape == (WIDTH,)
    assert (tmp_path / 'with_head' / 'report' / 'report.md').exists()
    recognizer = StreamingRecognizer(loaded)
    result = predict_utterance(recognizer, speech_like(3.0))
    assert result.speech_windows >= 4 and np.isclose(result.probabilities.sum(), 1.0)

    _, without = tiny_training(tmp_path, repo_root, f'output={tmp_path / "without"}')
    shutil.copytree(tmp_path / 'without', tmp_path / 'added')
    assert run(['--config', os.path.join(repo_root, 'config', 'train.yaml'), '--quiet',
                '--add-encoder-head', str(tmp_path / 'added'), *common,
                *encoder_settings]) == 0
    added = load_bundle(tmp_path / 'added')
    assert added.model_config.encoder_head == 0.5
    for name, value in without.state_dict.items():
        assert torch.equal(added.state_dict[name], value)
    config = load_config(os.path.join(repo_root, 'config', 'train.yaml'),
                         common + encoder_settings)
    # Fitted again (here at another weight), the head replaces the one the bundle has.
    again = add_encoder_head(str(tmp_path / 'added'), replace(
        config, model=replace(config.model, encoder_head=0.3)), str(tmp_path / 'again'),
        progress=False)
    assert again.model_config.encoder_head == 0.3
    # The same crops (drawn with the bundle's seed) give the same head.
    torch.testing.assert_close(again.state_dict['encoder_head.weight'],
                               added.state_dict['encoder_head.weight'])
    for name, value in without.state_dict.items():
        assert torch.equal(again.state_dict[name], value)
    with pytest.raises(BundleError, match='come together'):
        replace(added, encoder_norm=None).validate()


def test_the_stream_encodes_a_window_every_encoder_hop_whatever_the_chunks(
        tmp_path, repo_root, tiny_encoder_file):
    _, bundle = tiny_training(tmp_path, repo_root, 'model.encoder_head=0.5',
                              'features.encoder_layers=1', 'features.encoder_hop_s=1.0',
                              f'output={tmp_path / "model"}')
    signal = speech_like(4.0, seed=3)
    runs = []
    for chunk in (16000, 2048, 777):
        recognizer = StreamingRecognizer(bundle)
        encoded = []
        original = recognizer.encoder.embedding
        recognizer.encoder.embedding = lambda audio, speech: encoded.append(audio.copy()) or \
            original(audio, speech)
        estimates = [estimate for start in range(0, len(signal), chunk)
                     for estimate in recognizer.push(signal[start:start + chunk])]
        del recognizer.encoder.embedding
        runs.append((estimates, encoded))
    for estimates, encoded in runs:
        speech = [estimate for estimate in estimates if estimate.is_speech]
        # Windows of 1 s every 0.5 s, encoded every 1 s: every other speech window.
        assert len(encoded) == (len(speech) + 1) // 2
        # The first window ends with its last whole frame (97 hops and one frame in); the
        # next encoded one ends 1 s later.
        np.testing.assert_array_equal(encoded[0], signal[:97 * 160 + 400])
        first_end = 97 * 160 + 400
        np.testing.assert_array_equal(encoded[1], signal[first_end:first_end + 16000])
        assert all(len(audio) == 16000 for audio in encoded[1:])
        for first, second in zip(estimates, runs[0][0]):
            np.testing.assert_allclose(first.probabilities, second.probabilities, atol=1e-5)


def test_an_utterance_onset_is_encoded_again_as_its_speech_fills_the_window(
        tmp_path, repo_root, tiny_encoder_file):
    _, bundle = tiny_training(tmp_path, repo_root, 'model.encoder_head=0.5',
                              'features.encoder_layers=1', 'features.encoder_hop_s=2.0',
                              'streaming.window_s=2.0', f'output={tmp_path / "model"}')
    signal = np.concatenate([np.zeros(16000, np.float32), speech_like(5.0, seed=5)])
    recognizer = StreamingRecognizer(bundle)
    encoded = []
    original = recognizer.encoder.embedding
    recognizer.encoder.embedding = lambda audio, speech: encoded.append(int(speech.sum())) \
        or original(audio, speech)
    estimates = recognizer.push(signal)
    speech_windows = sum(estimate.is_speech for estimate in estimates)
    # Windows of 2 s every 0.5 s after 1 s of silence: each onset window holds 50 more
    # speech frames than the one before and is encoded, until the window is all speech; then
    # one window in four (encoder_hop_s 2 s).
    full = recognizer.window_frames
    onset = encoded[:encoded.index(max(encoded)) + 1]
    assert len(onset) >= 3 and onset[-1] == full
    assert all(later - earlier >= min(recognizer.hop_frames, full - earlier)
               for earlier, later in zip(onset, onset[1:]))
    assert len(encoded) - len(onset) == (speech_windows - len(onset)) // 4

    # A pause and the next utterance: its onset is encoded again hop by hop as well, not only
    # when the last encoding is encoder_hop_s (here 4 s) old. Pushed a hop at a time.
    recognizer = StreamingRecognizer(replace(bundle, feature_config=replace(
        bundle.feature_config, encoder_hop_s=4.0)))
    recognizer.encoder.embedding = lambda audio, speech: encoded.append(int(speech.sum())) \
        or original(audio, speech)
    first = signal[:-32000]       # 1 s of silence, 3 s of speech
    turns = np.concatenate([first, np.zeros(9600, np.float32), speech_like(3.0, seed=6)])
    per_window = []
    for start in range(0, len(turns), 8000):
        before = len(encoded)
        recognizer.push(turns[start:start + 8000])
        per_window.append(len(encoded) - before)
    del recognizer.encoder.embedding
    after_pause = per_window[len(first) // 8000:]
    assert any(one and following for one, following in zip(after_pause, after_pause[1:]))
