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

"""Arousal and valence as auxiliary targets: the mapping, the loss, and a training run."""

import os

import numpy as np
import pytest
from ser_ros.core.config_io import ConfigError
from ser_ros.training.affect import AFFECT, affect_targets, AffectHead
from ser_ros.training.config import load_config
from ser_ros.training.corpora import EMOTIONS
from ser_ros.training.dataset import DatasetError
from test_adversary import train_with_auxiliary
import torch


def test_every_emotion_of_the_vocabulary_has_an_arousal_and_a_valence():
    assert set(AFFECT) == set(EMOTIONS)
    # Classes 0..2, low to high: angry is high arousal and negative, sad low and negative.
    np.testing.assert_array_equal(affect_targets(['angry', 'sad', 'neutral', 'happy']),
                                  [[2, 0], [0, 0], [1, 1], [2, 2]])


def test_a_label_without_a_place_is_refused_with_its_name():
    with pytest.raises(DatasetError, match='excited'):
        affect_targets(['neutral', 'excited'])


def test_the_loss_is_the_weighted_mean_over_arousal_and_valence():
    head = AffectHead(4, ['sad', 'angry'], np.array([0, 1, 1]), np.array([0.5, 1.0, 1.5]))
    assert head.targets.tolist() == [[0, 0], [2, 0], [2, 0]]
    # Uniform logits: ln 3 for every target, whatever the weights' mean of 1.
    assert head.loss(torch.zeros(3, 2, 3), torch.arange(3)).item() == pytest.approx(np.log(3))
    # Sure and right on arousal, uniform on valence: half of ln 3 each, weighted.
    logits = torch.zeros(2, 2, 3)
    logits[:, 0, 2] = 50.0
    expected = np.mean([np.log(3) / 2 * 1.0, np.log(3) / 2 * 1.5])
    assert head.loss(logits, torch.tensor([1, 2])).item() == pytest.approx(expected, rel=1e-5)


def test_the_head_learns_arousal_from_an_embedding_that_holds_it():
    generator = torch.Generator().manual_seed(0)
    labels = ['sad', 'angry', 'neutral']
    label_indices = np.arange(90) % 3
    head = AffectHead(2, labels, label_indices, np.ones(90))
    embedded = (torch.from_numpy(label_indices).float()[:, None].repeat(1, 2)
                + 0.1 * torch.randn(90, 2, generator=generator))
    optimiser = torch.optim.Adam(head.parameters(), lr=0.1)
    for _ in range(200):
        optimiser.zero_grad()
        head.loss(head(embedded), torch.arange(90)).backward()
        optimiser.step()
    arousal = head(embedded)[:, 0].argmax(dim=1)
    assert torch.equal(arousal, head.targets[:, 0])


def test_a_negative_weight_is_refused(repo_root):
    with pytest.raises(ConfigError, match='training.affect_targets'):
        load_config(os.path.join(repo_root, 'config', 'train.yaml'),
                    ['training.affect_targets=-1'])


def test_training_with_affect_targets_keeps_the_bundle_the_emotion_network(tmp_path, repo_root):
    history = train_with_auxiliary(tmp_path, repo_root, 'training.affect_targets=1.0')
    assert len(history) == 2 and all(np.isfinite(row['loss']) for row in history)
