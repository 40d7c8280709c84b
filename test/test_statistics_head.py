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

"""The statistics head: its statistics, its mixing, its fit, and training runs that use it."""

import os
import shutil

import numpy as np
import pytest
from ser_ros.core.bundle import load_bundle
from ser_ros.core.model import BiLSTMClassifier, ModelConfig, window_statistics
from ser_ros.core.recognizer import StreamingRecognizer
from ser_ros.training.config import load_config
from ser_ros.training.dataset import DatasetError
from ser_ros.training.statistics_head import ABSENT_LABEL_BIAS, fit_statistics_head, \
    REGULARISATION_C
from ser_ros.training.train import add_statistics_head, run
from sklearn.linear_model import LogisticRegression
from test_training import tiny_training
import torch

SMALL = {'n_features': 6, 'n_labels': 4, 'hidden_size': 8, 'num_layers': 1,
         'conv_channels': 8, 'dropout': 0.0, 'frame_norm': False}


def test_window_statistics_are_mean_std_and_std_of_differences_per_feature():
    frames = np.random.default_rng(0).normal(size=(2, 50, 3)).astype(np.float32)
    statistics = window_statistics(torch.from_numpy(frames)).numpy()
    expected = np.concatenate([frames.mean(axis=1), frames.std(axis=1),
                               np.diff(frames, axis=1).std(axis=1)], axis=1)
    np.testing.assert_allclose(statistics, expected, rtol=1e-5, atol=1e-6)


def test_a_model_without_the_setting_has_no_head_and_the_weight_is_checked():
    config = ModelConfig.from_dict({key: value for key, value in
                                    ModelConfig(**SMALL).to_dict().items()
                                    if key != 'statistics_head'})
    assert config.statistics_head == 0.0
    assert BiLSTMClassifier(config).statistics_head is None
    for weight in (-0.1, 1.0):
        with pytest.raises(ValueError, match='statistics_head'):
            ModelConfig(**SMALL, statistics_head=weight).validate()


def test_the_head_mixes_log_probabilities_at_its_weight():
    torch.manual_seed(0)
    model = BiLSTMClassifier(ModelConfig(**SMALL, statistics_head=0.25)).eval()
    frames = torch.randn(3, 40, 6)
    with torch.inference_mode():
        network = model.output(model.embed(frames))
        head = model.statistics_head(window_statistics(frames))
        expected = 0.75 * torch.log_softmax(network, 1) + 0.25 * torch.log_softmax(head, 1)
        torch.testing.assert_close(model(frames), expected)


def test_the_fitted_head_is_the_logistic_regression_and_leaves_the_network_alone():
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 3, 240)          # label 3 is in no crop
    windows = generator.normal(size=(240, 30, 6)).astype(np.float32)
    windows[:, :, 0] += labels[:, None]
    windows[:, :, 1] *= 1 + labels[:, None]
    sample_weights = generator.uniform(0.5, 2.0, 240)
    network = BiLSTMClassifier(ModelConfig(**SMALL)).eval()
    model = fit_statistics_head(network, 0.4, windows, labels, sample_weights)
    assert model.config.statistics_head == 0.4 and not model.training
    for name, value in network.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)

    statistics = window_statistics(torch.from_numpy(windows)).numpy().astype(np.float64)
    mean, scale = statistics.mean(axis=0), statistics.std(axis=0) + 1e-6
    regression = LogisticRegression(C=REGULARISATION_C, max_iter=2000).fit(
        (statistics - mean) / scale, labels, sample_weight=sample_weights)
    with torch.inference_mode():
        head = torch.softmax(model.statistics_head(torch.from_numpy(statistics).float()), 1)
    np.testing.assert_allclose(head[:, :3].numpy(),
                               regression.predict_proba((statistics - mean) / scale),
                               atol=1e-5)
    assert model.statistics_head.bias[3].item() == ABSENT_LABEL_BIAS
    assert np.mean(head.numpy().argmax(axis=1) == labels) > 0.9


def test_training_with_the_head_and_adding_it_later_give_bundles_that_run(tmp_path, repo_root):
    common, with_head = tiny_training(tmp_path, repo_root, 'model.statistics_head=0.3',
                                      f'output={tmp_path / "with_head"}')
    config_path = os.path.join(repo_root, 'config', 'train.yaml')
    assert with_head.model_config.statistics_head == 0.3
    loaded = load_bundle(tmp_path / 'with_head')
    assert 'statistics_head.weight' in loaded.state_dict
    assert loaded.metadata['parameters'] == loaded.build_model().parameter_count()
    signal = np.random.default_rng(2).normal(0, 0.1, 32000).astype(np.float32)
    estimates = StreamingRecognizer(loaded).push(signal)
    assert estimates and all(np.isclose(estimate.probabilities.sum(), 1.0)
                             for estimate in estimates)

    assert 'statistics head at weight 0.3' in \
        (tmp_path / 'with_head' / 'report' / 'report.md').read_text()
    _, without = tiny_training(tmp_path, repo_root, 'model.statistics_head=0',
                               f'output={tmp_path / "without"}')
    assert without.model_config.statistics_head == 0.0
    # ser-train --add-statistics-head rewrites the bundle in place.
    shutil.copytree(tmp_path / 'without', tmp_path / 'added')
    assert run(['--config', config_path, '--quiet', '--add-statistics-head',
                str(tmp_path / 'added'), *common, 'model.statistics_head=0.3']) == 0
    added = load_bundle(tmp_path / 'added')
    assert added.model_config.statistics_head == 0.3
    for name, value in without.state_dict.items():
        assert torch.equal(added.state_dict[name], value)
    assert (tmp_path / 'added' / 'report' / 'report.md').exists()
    # Fitted again at another weight, the head replaces the one the bundle has.
    again = add_statistics_head(str(tmp_path / 'added'), load_config(
        config_path, common + ['model.statistics_head=0.2']), str(tmp_path / 'again'),
        progress=False)
    assert again.model_config.statistics_head == 0.2
    for name, value in without.state_dict.items():
        assert torch.equal(again.state_dict[name], value)
    with pytest.raises(DatasetError, match='no head to fit'):
        add_statistics_head(str(tmp_path / 'without'), load_config(
            config_path, common + ['model.statistics_head=0']), str(tmp_path / 'again'),
            progress=False)
