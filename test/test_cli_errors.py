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

"""One error contract for every console script: ``prog: message``, exit 2, no traceback."""

import os
import subprocess
import sys

import pytest
from ser_ros.core.errors import USER_ERROR_EXIT
from ser_ros.tools import bag_cli, predict
from ser_ros.training import evaluate, train


@pytest.fixture
def train_yaml(tmp_path):
    """Write a training config whose corpus exists (an empty folder) and return its path."""
    def write(text):
        path = tmp_path / 'train.yaml'
        path.write_text(text)
        return str(path)
    return write


def run_main(main, argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    assert 'Traceback' not in captured.err
    return status, captured.err


@pytest.mark.parametrize('overrides, named', [
    (['training.epoch=5'], 'unknown setting training.epoch'),
    (['training.epochs=abc'], "training.epochs: expected int, got 'abc'"),
    (['training.learning_rate=.nan'], 'training.learning_rate: nan is not a finite number'),
    (['training.batch_size=0'], 'training.batch_size must be >= 1'),
    (['split.fold=2'], 'split.fold must be given together with split.folds'),
    (['labels=[happy]'], 'labels must be at least two distinct labels'),
    (['corpora=[{kind: opera, root: x}]'], 'corpora[0].kind must be one of'),
    (['streaming.hop_s=3.0'], 'streaming.hop_s must be > 0 and at most streaming.window_s'),
    (['augmentation.speed=[0.9]'], 'augmentation.speed: expected 2 values'),
    (['seed'], "override 'seed' is not key=value"),
    (['model.n_features=40'], 'model.n_features must be left out'),
    (['model.hidden_size=100000'], 'model.hidden_size must be in 1..2048'),
    (['training.schedule=cosine'], "training.schedule must be one of ('constant', 'one_cycle')"),
    (['model.frame_norm=maybe'], 'model.frame_norm: expected bool'),
    (['training.mixup_alpha=-1'], 'training.mixup_alpha must be >= 0'),
    (['augmentation.time_masks=-2'], 'augmentation.time_masks must be >= 0'),
    (['augmentation.codec_kbps=[64, 24]'], 'augmentation.codec_kbps must be a range of mp3'),
])
def test_ser_train_names_the_bad_key_before_loading_audio(repo_root, capsys, overrides, named):
    config = os.path.join(repo_root, 'config', 'train.yaml')
    status, err = run_main(train.main, ['--config', config, *overrides], capsys)
    assert status == USER_ERROR_EXIT
    assert err.startswith('ser-train: ') and named in err


def test_ser_train_names_a_missing_setting_malformed_yaml_and_a_missing_file(
        train_yaml, capsys, tmp_path):
    path = train_yaml('seed: 1\ncorpora: []\nlabels: [a, b]\n')
    status, err = run_main(train.main, ['--config', path], capsys)
    assert status == USER_ERROR_EXIT and 'missing setting output' in err
    path = train_yaml('seed: [1\n')
    status, err = run_main(train.main, ['--config', path], capsys)
    assert status == USER_ERROR_EXIT and 'is not valid YAML' in err
    status, err = run_main(train.main, ['--config', str(tmp_path / 'none.yaml')], capsys)
    assert status == USER_ERROR_EXIT and 'none.yaml' in err


def test_ser_train_names_a_missing_corpus_and_an_unknown_test_speaker(
        train_yaml, capsys, tmp_path):
    status, err = run_main(train.main, ['--config', train_yaml(
        f'seed: 1\noutput: {tmp_path}/m\nlabels: [neutral, sad]\n'
        f'corpora: [{{kind: ravdess, root: {tmp_path}/absent}}]\n')], capsys)
    assert status == USER_ERROR_EXIT and 'absent does not exist' in err


def test_ser_predict_and_ser_evaluate_name_missing_models_and_files(capsys, tmp_path):
    status, err = run_main(predict.main, ['--model', str(tmp_path / 'none'), '--file', 'x.wav'],
                           capsys)
    assert status == USER_ERROR_EXIT and err.startswith('ser-predict: ')
    assert 'does not exist' in err
    status, err = run_main(predict.main, ['--file', str(tmp_path / 'missing.wav')], capsys)
    assert status == USER_ERROR_EXIT and 'missing.wav' in err
    manifest = tmp_path / 'list.csv'
    manifest.write_text('file,label\na.wav,sad\n')
    status, err = run_main(predict.main, ['--input', str(manifest)], capsys)
    assert status == USER_ERROR_EXIT and 'has no path column' in err
    status, err = run_main(evaluate.main, ['--model', str(tmp_path / 'none')], capsys)
    assert status == USER_ERROR_EXIT and err.startswith('ser-evaluate: ')


@pytest.mark.parametrize('verb', [['score'], ['score', '--offline'], ['replay'], ['evaluate']])
def test_ser_bag_names_a_missing_path_and_a_folder_that_is_no_bag(capsys, tmp_path, verb):
    status, err = run_main(bag_cli.main, [verb[0], str(tmp_path / 'none'), *verb[1:]], capsys)
    assert status == USER_ERROR_EXIT and err.startswith('ser-bag: ') and 'no such bag' in err
    (tmp_path / 'folder').mkdir()
    status, err = run_main(bag_cli.main, [verb[0], str(tmp_path / 'folder'), *verb[1:]], capsys)
    assert status == USER_ERROR_EXIT and 'is not a readable rosbag2 bag' in err


def test_the_installed_console_script_keeps_the_contract(tmp_path):
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ser-predict'),
                           '--file', str(tmp_path / 'missing.wav')],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == USER_ERROR_EXIT
    assert done.stderr.startswith('ser-predict: ') and 'Traceback' not in done.stderr
