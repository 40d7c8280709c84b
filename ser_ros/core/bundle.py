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
The model bundle: a folder that carries everything needed to run a trained model.

- ``weights.safetensors``: the BiLSTM's tensors (safetensors: loading runs no code).
- ``manifest.json``: format version, labels, feature configuration, normalisation statistics,
  model arguments, HMM parameters, streaming and VAD defaults, calibration, training metadata,
  and the SHA-256 of the weights file.

:func:`load_bundle` validates all of it and raises :class:`BundleError` naming the problem.
"""

from dataclasses import asdict, dataclass, field
import hashlib
import json
import os

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from scipy.special import softmax
from ser_ros.core.config_io import from_plain
from ser_ros.core.errors import SerError
from ser_ros.core.features import FeatureConfig
from ser_ros.core.hmm import HMMParams
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.core.normalization import NormStats
from ser_ros.core.vad import VadConfig
import torch

FORMAT_VERSION = 1
#: Longest streaming window a bundle may ask for [s] (a window is held in memory).
MAX_WINDOW_S = 60.0
#: Longest dwell, normalisation prior or horizon a bundle may ask for [s] (one day).
MAX_TIME_CONSTANT_S = 86400.0
MAX_LABEL_CHARS = 64
#: A manifest is a few kilobytes; anything beyond this is not one.
MAX_MANIFEST_BYTES = 10_000_000
MANIFEST_FILE = 'manifest.json'
WEIGHTS_FILE = 'weights.safetensors'


class BundleError(SerError):
    """A model bundle that is missing, damaged or inconsistent; the message says what."""


@dataclass
class StreamingDefaults:
    """
    How the model is meant to be run on a stream.

    Attributes
    ----------
    window_s, hop_s : float
        Analysis window and the hop between windows [s].
    dwell_s : float
        Default HMM dwell time [s] (smoothing strength).
    norm_prior_s, norm_horizon_s : float
        Adaptive normalisation: weight of the training statistics and forgetting time [s].

    """

    window_s: float = 2.0
    hop_s: float = 0.5
    dwell_s: float = 4.0
    norm_prior_s: float = 10.0
    norm_horizon_s: float = 300.0


#: Bounds of a believable calibration: a temperature outside them is a broken fit.
TEMPERATURE_LIMITS = (0.05, 20.0)
#: Beliefs are floored here inside logarithms (the filter's own floor is far below).
BELIEF_FLOOR = 1e-300


@dataclass(frozen=True)
class Calibration:
    """
    How the model's scores become probabilities that mean what they say.

    Both are fitted by the trainer on the validation speakers' streams
    (:mod:`ser_ros.training.calibration`), never on test speakers.

    Attributes
    ----------
    temperature : float
        The logits are divided by it before the softmax of each window's raw probabilities
        (> 1 softens an over-confident classifier).
    emission_weight : float
        Exponent of the HMM's emission likelihoods, in (0, 1]. Consecutive windows overlap
        (a 2 s window every 0.5 s shares 75 % of its audio with the last), so each is worth
        less than one independent observation; 1 treats them as independent.
    smoothed_temperature : float
        The log of the HMM's filtered belief is divided by it before it is published: the
        belief itself (and so the label, the smoothing and the next window) is untouched,
        only the published probabilities are softened (> 1) or sharpened (< 1).

    """

    temperature: float = 1.0
    emission_weight: float = 1.0
    smoothed_temperature: float = 1.0

    def validate(self) -> 'Calibration':
        """Raise ValueError naming a setting outside its bounds; return self otherwise."""
        low, high = TEMPERATURE_LIMITS
        for name in ('temperature', 'smoothed_temperature'):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f'calibration {name} {getattr(self, name)} outside {low}..{high}')
        if not 0.0 < self.emission_weight <= 1.0:
            raise ValueError(f'calibration emission_weight {self.emission_weight} outside (0, 1]')
        return self

    def raw(self, logits: np.ndarray) -> np.ndarray:
        """Return the published raw probabilities of logits, shape (..., n_labels)."""
        return softmax(np.asarray(logits, np.float64) / self.temperature, axis=-1)

    def smoothed(self, belief: np.ndarray) -> np.ndarray:
        """Return the published probabilities of a filtered belief, shape (..., n_labels)."""
        log_belief = np.log(np.maximum(np.asarray(belief, np.float64), BELIEF_FLOOR))
        return softmax(log_belief / self.smoothed_temperature, axis=-1)


#: What a bundle without a calibration runs with: the scores as the network gives them.
UNCALIBRATED = Calibration()


@dataclass
class ModelBundle:
    """
    A trained model with everything that defines its input and output.

    Attributes
    ----------
    labels : list of str
        Emotion names, in the order of the model's outputs.
    feature_config : FeatureConfig
    model_config : ModelConfig
    norm : NormStats
        Training statistics of the cepstra (shape (n_cepstra,) each).
    hmm : HMMParams
    streaming : StreamingDefaults
    vad : VadConfig
    state_dict : dict of str to torch.Tensor
        The BiLSTM's weights.
    metadata : dict
        Training facts (corpora, split, scores, time); free-form, JSON-able.
    name : str
    calibration : Calibration or None
        None for bundles trained before calibration existed: they run uncalibrated
        (:data:`UNCALIBRATED`), and :attr:`calibrated` says so.
    encoder_norm : NormStats or None
        Training statistics of the speech encoder's window embeddings (shape
        (encoder_width,) each) when the model has an encoder head; None otherwise.

    """

    labels: list[str]
    feature_config: FeatureConfig
    model_config: ModelConfig
    norm: NormStats
    hmm: HMMParams
    streaming: StreamingDefaults
    vad: VadConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict = field(default_factory=dict)
    name: str = 'ser_model'
    calibration: Calibration | None = None
    encoder_norm: NormStats | None = None

    @property
    def calibrated(self) -> bool:
        """Return whether the bundle carries a fitted calibration."""
        return self.calibration is not None

    @property
    def calibration_in_use(self) -> Calibration:
        """Return the calibration to run with (:data:`UNCALIBRATED` when there is none)."""
        return UNCALIBRATED if self.calibration is None else self.calibration

    def build_model(self) -> BiLSTMClassifier:
        """Return the BiLSTM with these weights, in evaluation mode."""
        model = BiLSTMClassifier(self.model_config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as error:
            raise BundleError(f'weights do not fit the model arguments: {error}') from None
        return model.eval()

    def validate(self) -> 'ModelBundle':
        """Check that the parts agree with each other; raise BundleError otherwise."""
        n_labels = len(self.labels)
        if n_labels < 2 or len(set(self.labels)) != n_labels:
            raise BundleError(f'labels must be at least two distinct names, got {self.labels}')
        if self.model_config.n_labels != n_labels:
            raise BundleError(f'model outputs {self.model_config.n_labels} labels, manifest '
                              f'lists {n_labels}')
        if self.model_config.n_features != self.feature_config.n_features:
            raise BundleError(f'model takes {self.model_config.n_features} features, feature '
                              f'config makes {self.feature_config.n_features}')
        _check_norm(self.norm, self.feature_config.n_cepstra, 'normalisation')
        has_encoder = (self.feature_config.encoder_layers > 0, self.model_config.encoder_head > 0,
                       self.encoder_norm is not None)
        if len(set(has_encoder)) != 1:
            raise BundleError('feature_config.encoder_layers, model_config.encoder_head and the '
                              'encoder normalisation come together or not at all')
        if self.encoder_norm is not None:
            _check_norm(self.encoder_norm, self.model_config.encoder_width,
                        'encoder normalisation')
        if self.hmm.startprob.shape != (n_labels,) or self.hmm.means.shape[1] != n_labels:
            raise BundleError(f'HMM has {self.hmm.startprob.shape[0]} states over '
                              f'{self.hmm.means.shape[1]} observations, expected {n_labels}')
        streaming = self.streaming
        if not 0 < streaming.hop_s <= streaming.window_s <= MAX_WINDOW_S:
            raise BundleError(f'streaming defaults need 0 < hop_s <= window_s <= {MAX_WINDOW_S}')
        for name in ('dwell_s', 'norm_prior_s', 'norm_horizon_s'):
            if not 0 <= getattr(streaming, name) <= MAX_TIME_CONSTANT_S:
                raise BundleError(f'streaming {name} {getattr(streaming, name)} outside '
                                  f'0..{MAX_TIME_CONSTANT_S}')
        if any(len(label) > MAX_LABEL_CHARS or not label.strip() for label in self.labels):
            raise BundleError(f'labels must be names of 1..{MAX_LABEL_CHARS} characters')
        try:
            self.vad.validate()
            if self.calibration is not None:
                self.calibration.validate()
        except ValueError as error:
            raise BundleError(str(error)) from None
        return self


def _check_norm(norm: NormStats, size: int, name: str) -> None:
    """Raise BundleError unless ``norm`` holds ``size`` finite means and positive stds."""
    for part in ('mean', 'std'):
        value = getattr(norm, part)
        if value.shape != (size,):
            raise BundleError(f'{name} {part} has shape {value.shape}, the model needs '
                              f'({size},)')
        if not np.all(np.isfinite(value)):
            raise BundleError(f'{name} {part} has non-finite values')
    if np.any(norm.std <= 0):
        raise BundleError(f'{name} std must be positive')


#: What the node and the tools say of a bundle without calibration.
UNCALIBRATED_WARNING = "its confidences are the network's own, usually over-confident"


def calibration_text(bundle: ModelBundle) -> str:
    """Return one line that says how the bundle's confidences are calibrated."""
    if not bundle.calibrated:
        return 'uncalibrated (temperature 1, emission weight 1, smoothed temperature 1)'
    calibration = bundle.calibration_in_use
    return (f'calibrated (temperature {calibration.temperature:.2f}, emission weight '
            f'{calibration.emission_weight:g}, smoothed temperature '
            f'{calibration.smoothed_temperature:.2f})')


def encoder_text(config: FeatureConfig) -> str:
    """Return a few words that say whether and how the bundle runs a speech encoder."""
    if not config.encoder_layers:
        return 'no speech encoder'
    return (f'speech encoder: {config.encoder_layers} Whisper base block(s), a window every '
            f'{config.encoder_hop_s:g} s')


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(bundle: ModelBundle, folder: str | os.PathLike) -> str | os.PathLike:
    """
    Write ``bundle`` into ``folder`` (created if needed) and return the folder.

    The weights are written first, then the manifest with their checksum.

    """
    bundle.validate()
    os.makedirs(folder, exist_ok=True)
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    save_file({name: tensor.detach().contiguous().cpu()
               for name, tensor in bundle.state_dict.items()}, weights_path)
    manifest = {
        'format_version': FORMAT_VERSION,
        'name': bundle.name,
        'labels': list(bundle.labels),
        'feature_config': bundle.feature_config.to_dict(),
        'model_config': bundle.model_config.to_dict(),
        'normalisation': {'mean': bundle.norm.mean.tolist(), 'std': bundle.norm.std.tolist()},
        'hmm': bundle.hmm.to_dict(),
        'streaming': vars(bundle.streaming),
        'vad': bundle.vad.to_dict(),
        **({'calibration': asdict(bundle.calibration)} if bundle.calibration else {}),
        **({'encoder_normalisation': {'mean': bundle.encoder_norm.mean.tolist(),
                                      'std': bundle.encoder_norm.std.tolist()}}
           if bundle.encoder_norm is not None else {}),
        'training': bundle.metadata,
        'weights': {'file': WEIGHTS_FILE, 'sha256': sha256_of(weights_path)},
    }
    with open(os.path.join(folder, MANIFEST_FILE), 'w') as stream:
        json.dump(manifest, stream, indent=1)
    return folder


def load_bundle(folder: str | os.PathLike) -> ModelBundle:
    """
    Read and validate a model bundle.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder written by :func:`save_bundle`.

    Returns
    -------
    ModelBundle

    Raises
    ------
    BundleError
        Naming what is missing, damaged or inconsistent.

    """
    folder = os.fspath(folder)
    manifest_path = os.path.join(folder, MANIFEST_FILE)
    if not os.path.isdir(folder):
        raise BundleError(f'model folder {folder} does not exist')
    if not os.path.isfile(manifest_path):
        raise BundleError(f'model folder {folder} has no {MANIFEST_FILE}')
    if os.path.getsize(manifest_path) > MAX_MANIFEST_BYTES:
        raise BundleError(f'{manifest_path} is larger than {MAX_MANIFEST_BYTES} bytes')
    try:
        with open(manifest_path) as stream:
            manifest = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise BundleError(f'{manifest_path} is not valid JSON: {error}') from None
    if not isinstance(manifest, dict):
        raise BundleError(f'{manifest_path} must hold a JSON object')
    version = manifest.get('format_version')
    if version != FORMAT_VERSION:
        raise BundleError(f'{manifest_path} has format_version {version!r}; this ser_ros '
                          f'reads version {FORMAT_VERSION}')
    try:
        bundle = _bundle_from_manifest(manifest, _load_weights(folder, manifest))
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f'{manifest_path}: {type(error).__name__}: {error}') from None
    bundle.validate()
    bundle.build_model()
    return bundle


def _load_weights(folder, manifest):
    weights = manifest.get('weights') or {}
    path = os.path.join(folder, os.path.basename(weights.get('file', WEIGHTS_FILE)))
    if not os.path.isfile(path):
        raise BundleError(f'model folder {folder} has no weights file {os.path.basename(path)}')
    expected = weights.get('sha256')
    if not expected:
        raise BundleError(f'{MANIFEST_FILE} carries no checksum of the weights')
    if sha256_of(path) != expected:
        raise BundleError(f'{path} does not match the checksum in {MANIFEST_FILE} '
                          '(damaged, truncated or from another model)')
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise BundleError(f'{path} is not a readable safetensors file: {error}') from None


def _norm_stats(values):
    return NormStats(np.asarray(values['mean'], np.float32), np.asarray(values['std'], np.float32))


def _bundle_from_manifest(manifest, state_dict):
    return ModelBundle(
        labels=from_plain(list[str], manifest['labels'], 'labels'),
        feature_config=FeatureConfig.from_dict(manifest['feature_config']),
        model_config=ModelConfig.from_dict(manifest['model_config']),
        norm=_norm_stats(manifest['normalisation']),
        hmm=HMMParams.from_dict(manifest['hmm']),
        streaming=from_plain(StreamingDefaults, manifest['streaming'], 'streaming'),
        vad=VadConfig.from_dict(manifest['vad']),
        state_dict={name: tensor.to(torch.float32) for name, tensor in state_dict.items()},
        metadata=manifest.get('training', {}),
        name=str(manifest.get('name', 'ser_model')),
        calibration=(from_plain(Calibration, manifest['calibration'], 'calibration')
                     if 'calibration' in manifest else None),
        encoder_norm=(_norm_stats(manifest['encoder_normalisation'])
                      if 'encoder_normalisation' in manifest else None),
    )
