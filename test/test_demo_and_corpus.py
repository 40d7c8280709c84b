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

"""The README's main job (ser-demo) end to end, and the shipped model on the shared corpus."""

import json
import os
import subprocess
import sys

import pytest
from ser_ros.core.bundle import load_bundle, save_bundle
from ser_ros.resources import default_model_path
from ser_ros.training.corpora import read_corpus
import soundfile
from synthetic import speech_like, tiny_bundle

RAVDESS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                       'shared', 'data', 'ravdess')
needs_corpus = pytest.mark.skipif(not os.path.isdir(RAVDESS),
                                  reason='the RAVDESS corpus is not in ../shared/data')


def test_demo_plays_a_file_through_the_node_and_prints_the_emotion_stream(tmp_path):
    model = save_bundle(tiny_bundle(window_s=1.0, hop_s=0.25), str(tmp_path / 'model'))
    recording = tmp_path / 'speech.wav'
    soundfile.write(recording, speech_like(2.5), 16000)
    done = subprocess.run([sys.executable, '-m', 'ser_ros.ros.demo', '--file', str(recording),
                           '--model', model, '--rate', '2'], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    heard = [line for line in done.stdout.splitlines() if ' heard ' in line]
    assert len(heard) >= 4
    assert all(line.split(' heard ')[1].split()[0] in tiny_bundle().labels for line in heard)


def test_the_shipped_model_loads_and_is_small():
    bundle = load_bundle(default_model_path())
    assert bundle.labels == ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgust',
                             'surprised']
    assert bundle.metadata['parameters'] < 2_000_000
    assert os.path.getsize(os.path.join(default_model_path(), 'weights.safetensors')) < 5e6
    test_speakers = set(bundle.metadata['split']['test'])
    assert not test_speakers & set(bundle.metadata['split']['train'])


@pytest.mark.corpus
@needs_corpus
def test_ravdess_reader_on_the_real_corpus():
    utterances = read_corpus('ravdess', RAVDESS)
    assert len(utterances) == 1440
    assert len({u.speaker for u in utterances}) == 24
    counts = {emotion: sum(u.emotion == emotion for u in utterances)
              for emotion in {u.emotion for u in utterances}}
    assert counts.pop('neutral') == 96 and set(counts.values()) == {192}


@pytest.mark.corpus
@needs_corpus
def test_predict_cli_on_a_corpus_file_with_the_shipped_model(tmp_path):
    path = os.path.join(RAVDESS, 'Actor_24', '03-01-05-02-01-01-24.flac')
    done = subprocess.run([sys.executable, '-m', 'ser_ros.tools.predict', '--file', path,
                           '--json'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result['label'] in load_bundle(default_model_path()).labels
    assert result['speech_windows'] >= 2
