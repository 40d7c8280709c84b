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

"""The corpus adversary: reversed gradients, its schedule, and a training run that uses it."""

import csv
import json
import os

import numpy as np
import pytest
from ser_ros.core.bundle import load_bundle
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.training.adversary import CorpusAdversary, GradientReversal, reversal_scale
from ser_ros.training.config import load_config, OptimiserSettings
from ser_ros.training.dataset import LabelledAudio
from ser_ros.training.train import corpus_adversary, train
from test_training import make_ravdess_like_corpus
import torch


def test_gradient_reversal_is_identity_forward_and_scaled_negative_backward():
    inputs = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    outputs = GradientReversal.apply(inputs, 0.5)
    assert torch.equal(outputs, inputs.detach())
    (outputs * torch.tensor([2.0, 4.0, 6.0])).sum().backward()
    assert torch.equal(inputs.grad, torch.tensor([-1.0, -2.0, -3.0]))


def test_reversal_scale_ramps_from_zero_to_the_strength():
    scales = [reversal_scale(0.3, progress) for progress in np.linspace(0, 1, 11)]
    assert scales[0] == 0.0
    assert np.all(np.diff(scales) > 0)
    assert scales[-1] == pytest.approx(0.3, rel=1e-3)
    assert scales[5] == pytest.approx(0.3 * (2 / (1 + np.exp(-5)) - 1))


def test_every_corpus_weighs_the_same_in_the_adversary_loss():
    adversary = CorpusAdversary(4, ['b', 'a', 'a', 'a'])
    assert adversary.names == ['a', 'b'] and adversary.targets.tolist() == [1, 0, 0, 0]
    # Weights n / (k n_c): 'a' 4/6, 'b' 4/2; together the classes weigh the same.
    np.testing.assert_allclose(adversary.loss_function.weight.numpy(), [4 / 6, 2.0])
    logits = torch.zeros(4, 2)
    assert adversary.loss(logits, torch.arange(4)).item() == pytest.approx(np.log(2))


def labelled(corpora):
    """Return silent utterances of the given corpora (what corpus_adversary reads)."""
    count = len(corpora)
    return LabelledAudio([np.zeros(160, np.float32)] * count, np.zeros(count, dtype=int),
                         [f'{corpus}:1' for corpus in corpora], list(corpora),
                         [''] * count, list(corpora), ['neutral', 'happy'])


def test_the_adversary_is_off_at_zero_strength_and_with_one_corpus(caplog):
    model = BiLSTMClassifier(ModelConfig(n_features=4, n_labels=2, hidden_size=8,
                                         num_layers=1, conv_channels=8))
    on = OptimiserSettings(corpus_adversary=0.3)
    assert corpus_adversary(model, labelled(['a', 'b']), OptimiserSettings()) is None
    assert corpus_adversary(model, labelled(['a', 'a']), on) is None
    assert 'needs two training corpora' in caplog.text
    adversary = corpus_adversary(model, labelled(['a', 'b', 'b']), on)
    assert adversary.names == ['a', 'b']
    assert adversary.classifier[0].in_features == model.config.hidden_size


def train_with_auxiliary(tmp_path, repo_root, *auxiliary):
    """
    Train the tiny recipe on two corpora with a training-only auxiliary; return its history.

    ``auxiliary`` are the ``key=value`` overrides that turn it on. Asserts that the bundle holds
    the emotion network alone, whatever the auxiliary added in training.
    """
    make_ravdess_like_corpus(tmp_path / 'corpus', actors=4)
    # The same recordings again as a second corpus, under other speaker names.
    os.makedirs(tmp_path / 'second')
    with open(tmp_path / 'second' / 'manifest.csv', 'w', newline='') as stream:
        writer = csv.writer(stream)
        writer.writerow(['path', 'label', 'speaker'])
        for path in sorted((tmp_path / 'corpus').rglob('*.flac')):
            code, actor = path.stem.split('-')[2], path.stem.split('-')[6]
            label = {'01': 'neutral', '03': 'happy', '04': 'sad', '05': 'angry'}[code]
            writer.writerow([os.path.relpath(path, tmp_path / 'second'), label, f's{actor}'])
    config = load_config(os.path.join(repo_root, 'config', 'train.yaml'), [
        f'corpora=[{{kind: ravdess, root: {tmp_path / "corpus"}}}, '
        f'{{kind: manifest, root: {tmp_path / "second" / "manifest.csv"}}}]',
        'labels=[neutral, happy, sad, angry]', 'label_map={}',
        'split.test_speakers=[ravdess:04, second:s04]', 'split.validation_fraction=0.3',
        'model={hidden_size: 8, num_layers: 1, dropout: 0.0, conv_channels: 8}',
        'training.epochs=2', 'training.patience=2', *auxiliary,
        'streaming.window_s=1.0', 'streaming.hop_s=0.5', 'hmm.em_iterations=2',
        'vad.kind=energy', f'output={tmp_path / "model"}'])
    bundle = train(config, progress=False)
    expected = BiLSTMClassifier(bundle.model_config).state_dict()
    saved = load_bundle(tmp_path / 'model').state_dict
    assert set(saved) == set(expected)
    assert all(saved[name].shape == expected[name].shape for name in expected)
    return json.loads((tmp_path / 'model' / 'report' / 'history.json').read_text())


def test_training_with_the_adversary_keeps_the_bundle_the_emotion_network(tmp_path, repo_root):
    history = train_with_auxiliary(tmp_path, repo_root, 'training.corpus_adversary=0.5')
    assert all(0.0 <= row['corpus_ua'] <= 1.0 for row in history)
