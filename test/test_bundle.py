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

"""Model bundles round-trip, never unpickle, and name what is wrong with a damaged one."""

import json
import os
import shutil
import time

import numpy as np
import pytest
from safetensors.torch import save_file
from ser_ros.core.bundle import BundleError, load_bundle, MANIFEST_FILE, save_bundle, sha256_of, \
    WEIGHTS_FILE
from synthetic import tiny_bundle
import torch


@pytest.fixture
def saved(tmp_path):
    return save_bundle(tiny_bundle(), str(tmp_path / 'model'))


def edit_manifest(folder, change):
    path = os.path.join(folder, MANIFEST_FILE)
    with open(path) as stream:
        manifest = json.load(stream)
    change(manifest)
    with open(path, 'w') as stream:
        json.dump(manifest, stream)


def test_round_trip_keeps_everything(saved):
    original = tiny_bundle()
    loaded = load_bundle(saved)
    assert loaded.labels == original.labels and loaded.name == 'tiny'
    assert loaded.feature_config == original.feature_config
    assert loaded.model_config == original.model_config
    np.testing.assert_array_equal(loaded.norm.mean, original.norm.mean)
    np.testing.assert_allclose(loaded.hmm.transmat, original.hmm.transmat)
    frames = torch.randn(2, 50, original.feature_config.n_features)
    with torch.no_grad():
        torch.testing.assert_close(loaded.build_model()(frames), original.build_model()(frames))


def test_weights_are_safetensors_not_pickle(saved):
    with open(os.path.join(saved, WEIGHTS_FILE), 'rb') as stream:
        header_length = int.from_bytes(stream.read(8), 'little')
        header = json.loads(stream.read(header_length))
    assert 'lstm.weight_ih_l0' in header
    assert sorted(os.listdir(saved)) == [MANIFEST_FILE, WEIGHTS_FILE]


def test_missing_folder_manifest_and_weights_are_named(tmp_path, saved):
    with pytest.raises(BundleError, match='does not exist'):
        load_bundle(str(tmp_path / 'nowhere'))
    os.remove(os.path.join(saved, WEIGHTS_FILE))
    with pytest.raises(BundleError, match='no weights file'):
        load_bundle(saved)
    os.remove(os.path.join(saved, MANIFEST_FILE))
    with pytest.raises(BundleError, match='no manifest.json'):
        load_bundle(saved)


def test_damaged_weights_fail_the_checksum(saved):
    path = os.path.join(saved, WEIGHTS_FILE)
    data = bytearray(open(path, 'rb').read())
    data[-10] ^= 0xFF
    open(path, 'wb').write(bytes(data))
    with pytest.raises(BundleError, match='checksum'):
        load_bundle(saved)


def test_truncated_weights_with_a_matching_checksum_are_named(saved):
    path = os.path.join(saved, WEIGHTS_FILE)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    edit_manifest(saved, lambda m: m['weights'].update(sha256=sha256_of(path)))
    with pytest.raises(BundleError, match='safetensors'):
        load_bundle(saved)


def test_weights_of_another_shape_are_named(saved):
    state = tiny_bundle().state_dict
    state['head.4.weight'] = torch.zeros(7, 16)
    path = os.path.join(saved, WEIGHTS_FILE)
    save_file({name: tensor.contiguous() for name, tensor in state.items()}, path)
    edit_manifest(saved, lambda m: m['weights'].update(sha256=sha256_of(path)))
    with pytest.raises(BundleError, match='head.4.weight'):
        load_bundle(saved)


@pytest.mark.parametrize('change, message', [
    (lambda m: m.update(format_version=99), 'format_version 99'),
    (lambda m: m.__setitem__('labels', m['labels'] + ['bored']), 'labels'),
    (lambda m: m['normalisation'].update(mean=[0.0] * 3), 'normalisation mean'),
    (lambda m: m['normalisation'].update(std=[0.0] * 26), 'std must be positive'),
    (lambda m: m['hmm'].update(transmat=[[0.5] * 4] * 4), 'transmat rows'),
    (lambda m: m['hmm'].update(startprob=[0.5, 0.5, 0.5, 0.5]), 'startprob'),
    (lambda m: m['feature_config'].update(n_mfcc=20), 'features'),
    (lambda m: m['model_config'].update(pooling='max'), 'pooling'),
    (lambda m: m.pop('hmm'), 'hmm'),
    (lambda m: m['weights'].pop('sha256'), 'checksum'),
])
def test_inconsistent_manifests_are_rejected_by_name(saved, change, message):
    edit_manifest(saved, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(saved)


def test_a_manifest_that_is_not_json_is_named(saved):
    open(os.path.join(saved, MANIFEST_FILE), 'w').write('{"labels": [')
    with pytest.raises(BundleError, match='not valid JSON'):
        load_bundle(saved)


def test_save_refuses_an_inconsistent_bundle(tmp_path):
    bundle = tiny_bundle()
    bundle.labels = bundle.labels[:3]
    with pytest.raises(BundleError, match='labels'):
        save_bundle(bundle, str(tmp_path / 'bad'))
    shutil.rmtree(tmp_path / 'bad', ignore_errors=True)


@pytest.mark.parametrize('section, key, value, named', [
    ('streaming', 'norm_prior_s', float('nan'), 'streaming.norm_prior_s'),
    ('streaming', 'dwell_s', float('inf'), 'streaming.dwell_s'),
    ('streaming', 'window_s', 1e6, 'window_s'),
    ('vad', 'margin_db', float('nan'), 'vad.margin_db'),
    ('model_config', 'hidden_size', 10 ** 9, 'hidden_size'),
    ('model_config', 'conv_channels', 10 ** 7, 'conv_channels'),
    ('model_config', 'num_layers', 10 ** 6, 'num_layers'),
    ('model_config', 'frame_stride', 10 ** 6, 'frame_stride'),
    ('model_config', 'hidden_size', 16.5, 'model_config.hidden_size: expected int'),
    ('feature_config', 'n_fft', 10 ** 10, 'n_fft'),
])
def test_every_manifest_number_is_checked_before_anything_is_allocated(
        saved, section, key, value, named):
    edit_manifest(saved, lambda manifest: manifest[section].update({key: value}))
    started = time.monotonic()
    with pytest.raises(BundleError, match=named.replace('.', r'\.').replace('[', r'\[')):
        load_bundle(saved)
    assert time.monotonic() - started < 5.0


def test_non_string_labels_and_deep_nesting_are_named(saved):
    edit_manifest(saved, lambda manifest: manifest['labels'].__setitem__(0, 7))
    with pytest.raises(BundleError, match=r'labels\[0\]: expected str'):
        load_bundle(saved)
    with open(os.path.join(saved, MANIFEST_FILE), 'w') as stream:
        stream.write('[' * 100000 + ']' * 100000)
    with pytest.raises(BundleError, match='not valid JSON'):
        load_bundle(saved)
