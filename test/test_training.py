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

"""A tiny end-to-end training run writes a loadable bundle that the CLI tools use."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from ser_ros.core.bundle import load_bundle
from ser_ros.core.config_io import ConfigError
from ser_ros.training.config import load_config
from ser_ros.training.train import recalibrate, train, WeightAverage
import soundfile
from synthetic import RATE_HZ, silence, speech_like
import torch

EMOTION_CODES = {'neutral': '01', 'happy': '03', 'sad': '04', 'angry': '05'}
PITCH_HZ = {'neutral': 120.0, 'happy': 220.0, 'sad': 90.0, 'angry': 300.0}


def make_ravdess_like_corpus(root, actors=6, takes=2):
    """Write RAVDESS-named FLAC files whose pitch and level depend on the emotion."""
    for actor in range(1, actors + 1):
        for emotion, code in EMOTION_CODES.items():
            for take in range(1, takes + 1):
                signal = np.concatenate([
                    silence(0.3), speech_like(1.6, pitch_hz=PITCH_HZ[emotion] + 5 * actor,
                                              seed=actor * 10 + take), silence(0.3)])
                folder = root / f'Actor_{actor:02d}'
                folder.mkdir(parents=True, exist_ok=True)
                name = f'03-01-{code}-01-01-{take:02d}-{actor:02d}.flac'
                soundfile.write(folder / name, signal, RATE_HZ)


def tiny_training(tmp_path, repo_root, *overrides):
    """
    Train the tiny recipe on a RAVDESS-like corpus of 4 actors with ``overrides``.

    Returns the overrides it shares with every call (for ``ser-train`` options on the same
    corpus) and the bundle.
    """
    if not (tmp_path / 'corpus').exists():
        make_ravdess_like_corpus(tmp_path / 'corpus', actors=4)
    common = [f'corpora=[{{kind: ravdess, root: {tmp_path / "corpus"}}}]',
              'labels=[neutral, happy, sad, angry]', 'label_map={}',
              'split.test_speakers=[ravdess:04]', 'split.validation_fraction=0.3',
              'model={hidden_size: 8, num_layers: 1, dropout: 0.0, conv_channels: 8}',
              'training.epochs=2', 'training.patience=2', 'streaming.window_s=1.0',
              'streaming.hop_s=0.5', 'hmm.em_iterations=2', 'vad.kind=energy']
    config = load_config(os.path.join(repo_root, 'config', 'train.yaml'),
                         common + list(overrides))
    return common, train(config, progress=False)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp('training')
    make_ravdess_like_corpus(root / 'corpus')
    config = load_config(os.path.join(repo_root, 'config', 'train.yaml'), [
        f'corpora=[{{kind: ravdess, root: {root / "corpus"}}}]',
        'labels=[neutral, happy, sad, angry]', 'label_map={}',
        'split.test_speakers=[ravdess:05, ravdess:06]', 'split.validation_fraction=0.2',
        'model={hidden_size: 8, num_layers: 1, dropout: 0.0, conv_channels: 8}',
        'training.epochs=3', 'training.patience=2', 'streaming.window_s=1.0',
        'streaming.hop_s=0.5', 'hmm.em_iterations=2', 'name=tiny_test',
        # Every optional training path on: pitch columns, mixup, SpecAugment-style masks,
        # weight averaging.
        'features={pitch: true}', 'training.mixup_alpha=0.4', 'augmentation.time_masks=2',
        'augmentation.feature_masks=2', 'training.average_last_epochs=2',
        # Synthetic tones are not all speech to the trained gate: the energy gate here.
        'vad.kind=energy',
        f'output={root / "model"}'])
    train(config, progress=False)
    return root


def test_training_writes_a_loadable_bundle_and_a_report(trained):
    bundle = load_bundle(trained / 'model')
    assert bundle.labels == ['neutral', 'happy', 'sad', 'angry'] and bundle.name == 'tiny_test'
    split = bundle.metadata['split']
    assert split['test'] == ['ravdess:05', 'ravdess:06']
    assert not set(split['train']) & set(split['validation'])
    assert 1 <= bundle.metadata['epochs_run'] <= 3
    report = trained / 'model' / 'report'
    # The mean weights of the last two epochs are kept, and scored on validation.
    history = json.loads((report / 'history.json').read_text())
    assert 0.0 <= history[-1]['averaged_validation_ua'] <= 1.0
    assert all('averaged_validation_ua' not in row for row in history[:-1])
    assert 'kept the mean weights of the last epochs' in (report / 'report.md').read_text()
    # The threads it trained on (training.threads), recorded when it trained.
    assert bundle.metadata['threads'] == 1
    assert ' s on 1 threads' in (report / 'report.md').read_text()
    for name in ('report.md', 'results.md', 'results.json', 'confusion_adapted.png',
                 'confusion_cold.png', 'training.png', 'config.yaml'):
        assert (report / name).is_file(), name
    results = json.loads((report / 'results.json').read_text())
    assert results['adapted']['count'] == 2 * 4 * 2
    assert 0.0 <= results['adapted']['unweighted_accuracy'] <= 1.0
    # Calibrated on the validation speakers, and the report says how.
    assert bundle.calibrated
    fitted = bundle.metadata['hmm_fit']['calibration']
    assert fitted['temperature'] == pytest.approx(bundle.calibration.temperature)
    assert 'calibration on the validation streams: temperature' in \
        (report / 'report.md').read_text()
    # Dwell chosen on the validation streams with the calibration; the configured gate.
    assert bundle.streaming.dwell_s == fitted['dwell_s']
    assert bundle.vad.kind == 'energy'


def test_recalibrate_refits_all_but_the_weights(trained, repo_root, tmp_path):
    shutil.copytree(trained / 'model', tmp_path / 'model')
    manifest = json.loads((tmp_path / 'model' / 'manifest.json').read_text())
    del manifest['calibration']  # as a bundle from before calibration existed
    (tmp_path / 'model' / 'manifest.json').write_text(json.dumps(manifest))
    before = load_bundle(tmp_path / 'model')
    assert not before.calibrated
    config = load_config(str(trained / 'model' / 'report' / 'config.yaml'), [])
    after = recalibrate(str(tmp_path / 'model'), config, progress=False)
    assert after.calibrated and load_bundle(tmp_path / 'model').calibration == after.calibration
    # The same streams and fit as in training: the same calibration, the same weights.
    original = load_bundle(trained / 'model')
    assert after.calibration == original.calibration
    assert after.streaming == original.streaming
    np.testing.assert_allclose(after.norm.mean, original.norm.mean, rtol=1e-6)
    for name, tensor in before.state_dict.items():
        assert torch.equal(tensor, after.state_dict[name])
    # Another gate: the prior is computed again with it, and the bundle runs it.
    silero = recalibrate(str(tmp_path / 'model'), load_config(
        str(trained / 'model' / 'report' / 'config.yaml'), ['vad.kind=silero']), progress=False)
    assert load_bundle(tmp_path / 'model').vad.kind == silero.vad.kind == 'silero'
    assert not np.allclose(silero.norm.mean, original.norm.mean)


def test_training_again_in_another_process_gives_the_same_bundle(trained, tmp_path):
    # The report's configuration, another output, and another string-hash seed (the order of
    # any set of names): the same weights and the same calibration, whatever the process.
    parent_seed = os.environ.get('PYTHONHASHSEED', 'random')
    environment = dict(os.environ, PYTHONHASHSEED='1' if parent_seed == '0' else '0')
    result = subprocess.run(
        [sys.executable, '-m', 'ser_ros.training.train', '--quiet', '--config',
         str(trained / 'model' / 'report' / 'config.yaml'), f'output={tmp_path / "again"}'],
        capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    first, again = load_bundle(trained / 'model'), load_bundle(tmp_path / 'again')
    assert first.state_dict.keys() == again.state_dict.keys()
    for name, tensor in first.state_dict.items():
        assert torch.equal(tensor, again.state_dict[name]), name
    assert again.calibration == first.calibration and again.streaming == first.streaming
    assert again.metadata['split'] == first.metadata['split']


def run_tool(*args):
    return subprocess.run([sys.executable, '-m', *args], capture_output=True, text=True,
                          timeout=120)


def test_predict_cli_on_a_stereo_44k_wav(trained, tmp_path):
    stereo = np.stack([speech_like(2.0, 44100)] * 2, axis=1)
    soundfile.write(tmp_path / 'stereo.wav', stereo, 44100)
    done = run_tool('ser_ros.tools.predict', '--model', str(trained / 'model'), '--file',
                    str(tmp_path / 'stereo.wav'), '--json')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result['label'] in ('neutral', 'happy', 'sad', 'angry')
    assert sum(result['probabilities'].values()) == pytest.approx(1.0, abs=1e-3)
    assert result['duration_s'] == pytest.approx(2.0, abs=0.01)


def test_predict_cli_batch_over_a_folder_into_csv(trained, tmp_path):
    output = tmp_path / 'predictions.csv'
    (trained / 'corpus' / 'Actor_01' / 'broken.wav').write_text('not audio')
    done = run_tool('ser_ros.tools.predict', '--model', str(trained / 'model'), '--input',
                    str(trained / 'corpus' / 'Actor_01'), '--output', str(output))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == 9
    broken = [row for row in rows if row['path'].endswith('broken.wav')]
    assert broken[0]['error'] and not broken[0]['label']
    assert all(row['label'] for row in rows if row is not broken[0])
    assert '8 recordings classified, 1 unreadable' in done.stderr


def test_evaluate_cli_regenerates_the_results_table(trained, tmp_path):
    done = run_tool('ser_ros.training.evaluate', '--model', str(trained / 'model'), '--output-dir',
                    str(tmp_path / 'assets'))
    assert done.returncode == 0, done.stderr
    assert '| **unweighted accuracy** |' in done.stdout
    assert (tmp_path / 'assets' / 'confusion_adapted.png').is_file()


def test_predict_cli_names_a_missing_model(tmp_path):
    done = run_tool('ser_ros.tools.predict', '--model', str(tmp_path / 'none'), '--file', 'x.wav')
    assert done.returncode == 2 and 'does not exist' in done.stderr


def test_weight_average_is_the_mean_of_the_epochs_from_the_first_on():
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(first_epoch=1)
    for epoch, value in enumerate([10.0, 1.0, 2.0, 6.0]):
        torch.nn.init.constant_(model.weight, value)
        average.add(epoch, model)
    assert average.count == 3
    torch.testing.assert_close(average.state['weight'], torch.full((1, 2), 3.0))
    assert WeightAverage(first_epoch=4).count == 0


def test_averaging_more_epochs_than_trained_is_refused(repo_root):
    with pytest.raises(ConfigError, match='training.average_last_epochs'):
        load_config(os.path.join(repo_root, 'config', 'train.yaml'),
                    ['training.epochs=5', 'training.average_last_epochs=6'])
