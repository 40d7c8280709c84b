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
Audio and models that the tests make themselves: no corpus, no trained weights needed.

``speech_like`` is a voiced, syllable-modulated harmonic tone with pauses: it passes the
voice-activity gate the way speech does. ``tiny_bundle`` is a randomly initialised model
bundle with every part a real one has.
"""

import numpy as np
from ser_ros.core.bundle import ModelBundle, StreamingDefaults
from ser_ros.core.features import FeatureConfig
from ser_ros.core.hmm import dwell_transition_matrix, HMMParams
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.core.normalization import NormStats
from ser_ros.core.vad import VadConfig
import torch

RATE_HZ = 16000
LABELS = ['angry', 'happy', 'neutral', 'sad']


def tone(frequency_hz, duration_s, rate_hz=RATE_HZ, amplitude=0.3):
    """Return a sine, shape (n,), float32."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def chirp(start_hz, end_hz, duration_s, rate_hz=RATE_HZ, amplitude=0.3):
    """Return a linear sweep, shape (n,), float32."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    phase = 2 * np.pi * (start_hz * t + (end_hz - start_hz) * t ** 2 / (2 * duration_s))
    return (amplitude * np.sin(phase)).astype(np.float32)


def noise(duration_s, rate_hz=RATE_HZ, level=0.01, seed=0):
    """Return white noise, shape (n,), float32."""
    generator = np.random.default_rng(seed)
    return (level * generator.standard_normal(int(duration_s * rate_hz))).astype(np.float32)


def silence(duration_s, rate_hz=RATE_HZ):
    """Return zeros, shape (n,), float32."""
    return np.zeros(int(duration_s * rate_hz), np.float32)


def speech_like(duration_s, rate_hz=RATE_HZ, pitch_hz=140.0, seed=0):
    """Return a voiced, syllable-rate modulated harmonic signal over faint noise."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    generator = np.random.default_rng(seed)
    pitch = pitch_hz * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 0.5
    signal = 0.2 * voiced * syllables + 0.003 * generator.standard_normal(len(t))
    return signal.astype(np.float32)


def tiny_bundle(labels=LABELS, deltas=False, seed=0, window_s=1.0, hop_s=0.25, dwell_s=2.0):
    """Return a randomly initialised, valid ModelBundle (small and fast)."""
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    feature_config = FeatureConfig(n_mfcc=13, n_lfcc=13, deltas=deltas)
    model_config = ModelConfig(n_features=feature_config.n_features, n_labels=len(labels),
                               hidden_size=16, num_layers=1, dropout=0.0)
    model = BiLSTMClassifier(model_config)
    n = len(labels)
    startprob = np.full(n, 1.0 / n)
    hmm = HMMParams(startprob, dwell_transition_matrix(startprob, dwell_s, hop_s),
                    means=-3 + 3 * np.eye(n) + 0.1 * generator.standard_normal((n, n)),
                    covars=np.full((n, n), 2.0))
    norm = NormStats(np.zeros(feature_config.n_cepstra, np.float32) - 5.0,
                     np.full(feature_config.n_cepstra, 10.0, np.float32))
    return ModelBundle(labels=list(labels), feature_config=feature_config,
                       model_config=model_config, norm=norm, hmm=hmm,
                       streaming=StreamingDefaults(window_s=window_s, hop_s=hop_s,
                                                   dwell_s=dwell_s),
                       vad=VadConfig(), state_dict=model.state_dict(),
                       metadata={'made_by': 'test'}, name='tiny').validate()


class Recorder:
    """A logger that keeps what it is told (stands in for the node's logger)."""

    def __init__(self):
        self.infos, self.warnings = [], []

    def info(self, message):
        self.infos.append(message)

    def warning(self, message):
        self.warnings.append(message)
