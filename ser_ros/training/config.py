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
The training configuration (``config/train.yaml``) as typed dataclasses, checked before any work.

:func:`load_config` reads the YAML, applies ``key.subkey=value`` overrides and builds a
:class:`TrainingConfig`: an unknown key (``training.epoch``), a missing one, a value of the
wrong type (``training.epochs=abc``), a non-finite number (``learning_rate=nan``) or an
impossible one (``batch_size=0``) is a :class:`~ser_ros.core.config_io.ConfigError` naming
the key, raised before a single recording is loaded.
"""

from dataclasses import asdict, dataclass, field
import json

from ser_ros.core.bundle import StreamingDefaults
from ser_ros.core.config_io import ConfigError, from_plain
from ser_ros.core.features import FeatureConfig
from ser_ros.core.model import ModelConfig, POOLINGS, SIZE_LIMITS
from ser_ros.core.vad import VadConfig
from ser_ros.training.corpora import READERS
from ser_ros.training.dataset import Augmentation
import yaml

NORMALISATION_GROUPS = ('speaker', 'corpus')


@dataclass(frozen=True)
class CorpusConfig:
    """
    One corpus to read.

    Attributes
    ----------
    kind : str
        Reader name: ravdess, tess, cremad, emodb or manifest.
    root : str
        Corpus folder, or the manifest CSV.
    normalise_by : str
        ``'speaker'``, or ``'corpus'`` where each speaker speaks in one emotion only.

    """

    kind: str
    root: str
    normalise_by: str = 'speaker'


@dataclass(frozen=True)
class SplitConfig:
    """
    The speaker-disjoint split, corpus by corpus.

    See :func:`~ser_ros.training.dataset.speaker_split`.

    Attributes
    ----------
    test_speakers : list of str or None
        Explicit test speakers (``corpus:id``).
    validation_fraction, test_fraction : float
        Shares of each corpus's speakers.
    folds, fold : int or None
        Cross-validation: the folds per corpus and the one tested.

    """

    test_speakers: list[str] | None = None
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    folds: int | None = None
    fold: int | None = None


#: Learning-rate schedules of :class:`OptimiserSettings`.
SCHEDULES = ('constant', 'one_cycle')


@dataclass(frozen=True)
class OptimiserSettings:
    """
    How the network is trained.

    Attributes
    ----------
    epochs : int
        Most epochs.
    batch_size : int
        Crops per step.
    learning_rate, weight_decay : float
        Adam's (the peak rate under the one-cycle schedule).
    schedule : str
        ``'constant'`` learning rate, or ``'one_cycle'``: warm up over the first 30 % of the
        epochs, then anneal to almost zero (the last epochs average out the noise of small
        batches).
    patience : int
        Epochs without a better validation unweighted accuracy before stopping.
    threads : int
        Threads of torch and of each BLAS pool (:func:`~ser_ros.core.recognizer.limit_threads`).
    mask_missing_labels : bool
        Score each utterance's loss over its corpus's labels only (a label the corpus lacks
        is not a negative for it).
    mixup_alpha : float
        Mixup: each batch is blended with a shuffled copy of itself with a weight drawn from
        Beta(alpha, alpha), and the loss blends the two targets' losses likewise. 0 is off.
    corpus_adversary : float
        Domain-adversarial training (:mod:`ser_ros.training.adversary`): the strength of the
        reversed gradient of a corpus classifier on the emotion head's hidden layer, reached
        by the end of training. 0 is off; it needs two training corpora or more.
    affect_targets : float
        Weight of the auxiliary arousal and valence loss (:mod:`ser_ros.training.affect`)
        beside the emotion loss. 0 is off.
    average_last_epochs : int
        Keep the mean of the weights after each of the last this many epochs (stochastic
        weight averaging) instead of the weights of the best validation epoch. 0 is off.
    teacher_targets : float
        Weight of the auxiliary loss that predicts a frozen Whisper encoder's utterance
        embedding from the emotion head's hidden layer (:mod:`ser_ros.training.teacher`). 0 is
        off.
    teacher_layers : int
        The Whisper encoder blocks whose output is that embedding (1-6 for Whisper base).
    choose_encoder_head : bool
        Let the validation speakers choose the encoder head's weight among 0, 0.1, ... 0.9
        (:mod:`ser_ros.training.head_weight`; 0 takes the head and the encoder off);
        ``model.encoder_head`` then only asks for a head. False keeps that weight.

    """

    epochs: int = 40
    batch_size: int = 30
    learning_rate: float = 0.001
    weight_decay: float = 0.0001
    schedule: str = 'constant'
    patience: int = 10
    threads: int = 1
    mask_missing_labels: bool = False
    mixup_alpha: float = 0.0
    corpus_adversary: float = 0.0
    affect_targets: float = 0.0
    average_last_epochs: int = 0
    teacher_targets: float = 0.0
    teacher_layers: int = 4
    choose_encoder_head: bool = False


@dataclass(frozen=True)
class HMMFitSettings:
    """
    The HMM fit on held-out streams.

    Attributes
    ----------
    em_iterations : int
        Baum-Welch iterations of the Gaussian candidate.
    pause_s : tuple of float
        Range of the pauses between utterances in the held-out streams [s].

    """

    em_iterations: int = 10
    pause_s: tuple[float, float] = (0.3, 1.5)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything ``ser-train`` does, as ``config/train.yaml`` says (see that file)."""

    seed: int
    corpora: list[CorpusConfig]
    labels: list[str]
    output: str
    name: str = 'ser_model'
    label_map: dict[str, str | None] = field(default_factory=dict)
    split: SplitConfig = field(default_factory=SplitConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: OptimiserSettings = field(default_factory=OptimiserSettings)
    augmentation: Augmentation = field(default_factory=Augmentation)
    streaming: StreamingDefaults = field(default_factory=StreamingDefaults)
    hmm: HMMFitSettings = field(default_factory=HMMFitSettings)

    def validate(self) -> 'TrainingConfig':
        """Check the values that types alone do not; raise ConfigError naming the key."""
        checks = [
            ('model.n_features', self.model.n_features == 0, 'left out (the features set it)'),
            ('model.n_labels', self.model.n_labels == 0, 'left out (the labels set it)'),
            ('corpora', bool(self.corpora), 'at least one corpus'),
            ('labels', len(set(self.labels)) == len(self.labels) >= 2,
             'at least two distinct labels'),
            ('split.validation_fraction', 0 <= self.split.validation_fraction < 1, 'in [0, 1)'),
            ('split.test_fraction', 0 <= self.split.test_fraction < 1, 'in [0, 1)'),
            ('model.pooling', self.model.pooling in POOLINGS, f'one of {POOLINGS}'),
            ('model.dropout', 0 <= self.model.dropout < 1, 'in [0, 1)'),
            ('training.learning_rate', self.training.learning_rate > 0, '> 0'),
            ('training.weight_decay', self.training.weight_decay >= 0, '>= 0'),
            ('training.schedule', self.training.schedule in SCHEDULES, f'one of {SCHEDULES}'),
            ('streaming.hop_s', 0 < self.streaming.hop_s <= self.streaming.window_s,
             '> 0 and at most streaming.window_s'),
            ('hmm.pause_s', 0 <= self.hmm.pause_s[0] <= self.hmm.pause_s[1], 'a range [s]'),
            ('training.mixup_alpha', self.training.mixup_alpha >= 0, '>= 0'),
            ('training.corpus_adversary', self.training.corpus_adversary >= 0, '>= 0'),
            ('training.affect_targets', self.training.affect_targets >= 0, '>= 0'),
            ('model.encoder_head', 0 <= self.model.encoder_head < 1, 'in [0, 1)'),
            ('features.encoder_layers', self.model.encoder_head == 0 or
             self.features.encoder_layers > 0, 'at least 1 with an encoder head (the blocks it '
             'reads)'),
            ('model.encoder_width', self.model.encoder_width == 0,
             'left out (the encoder sets it)'),
            ('training.teacher_targets', self.training.teacher_targets >= 0, '>= 0'),
            ('training.teacher_layers', self.training.teacher_layers >= 1, '>= 1'),
            ('training.average_last_epochs',
             0 <= self.training.average_last_epochs <= self.training.epochs,
             'in 0..training.epochs'),
            ('augmentation.time_mask_s', self.augmentation.time_mask_s >= 0, '>= 0'),
            ('augmentation.rt60_s', 0 < self.augmentation.rt60_s[0] <= self.augmentation.rt60_s[1],
             'a range of positive times [s]'),
            ('augmentation.heard_s',
             0 <= self.augmentation.heard_s[0] <= self.augmentation.heard_s[1],
             'a range of durations [s]'),
            ('augmentation.context_pause_s',
             0 <= self.augmentation.context_pause_s[0] <= self.augmentation.context_pause_s[1],
             'a range of durations [s]'),
            ('augmentation.codec_kbps',
             8 <= self.augmentation.codec_kbps[0] <= self.augmentation.codec_kbps[1] <= 320,
             'a range of mp3 bit rates within 8..320 [kbit/s]'),
        ]
        checks += [(f'model.{name}', 1 <= getattr(self.model, name) <= largest,
                    f'in 1..{largest}') for name, largest in SIZE_LIMITS.items()
                   if name not in ('n_features', 'n_labels')]
        checks += [(f'training.{name}', getattr(self.training, name) >= 1, '>= 1')
                   for name in ('epochs', 'batch_size', 'patience', 'threads')]
        checks += [(f'augmentation.{name}', getattr(self.augmentation, name) >= 0, '>= 0')
                   for name in ('time_masks', 'feature_masks', 'feature_mask_width')]
        checks += [(f'augmentation.{name}', 0 <= getattr(self.augmentation, name) <= 1,
                    'a probability in [0, 1]')
                   for name in ('noise_probability', 'speed_probability', 'reverb_probability',
                                'codec_probability', 'prior_probability',
                                'context_probability')]
        checks += [(f'corpora[{index}].kind', corpus.kind in READERS, f'one of {sorted(READERS)}')
                   for index, corpus in enumerate(self.corpora)]
        checks += [(f'corpora[{index}].normalise_by', corpus.normalise_by in NORMALISATION_GROUPS,
                    f'one of {NORMALISATION_GROUPS}') for index, corpus in enumerate(self.corpora)]
        if (self.split.folds is None) != (self.split.fold is None):
            checks.append(('split.fold', False, 'given together with split.folds'))
        elif self.split.folds is not None:
            checks.append(('split.fold', 0 <= self.split.fold < self.split.folds,
                           'in 0..split.folds-1'))
        for key, holds, requirement in checks:
            if not holds:
                raise ConfigError(f'{key} must be {requirement}')
        try:
            self.features.validate()
        except ValueError as error:
            raise ConfigError(f'features: {error}') from None
        try:
            self.vad.validate()
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return self

    def corpus_dicts(self) -> list[dict]:
        """Return the corpora as the plain dictionaries the readers and the bundle take."""
        return [asdict(corpus) for corpus in self.corpora]

    def to_plain(self) -> dict:
        """Return the configuration as plain data (lists, not tuples), as YAML would hold it."""
        return json.loads(json.dumps(asdict(self)))


def load_config(path: str, overrides: tuple[str, ...] | list[str] = ()) -> TrainingConfig:
    """
    Read a YAML training configuration, apply ``key.subkey=value`` overrides, and check it.

    Override values are parsed as YAML (``training.epochs=5``, ``split.fold=2``,
    ``labels=[angry,happy]``).

    Raises
    ------
    ConfigError
        For unreadable YAML, a malformed override, or any key that is unknown, missing, of
        the wrong type or out of range (named).
    OSError
        When the file cannot be read.

    """
    with open(path) as stream:
        try:
            data = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            raise ConfigError(f'{path} is not valid YAML: {error}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path} must hold a mapping of settings')
    for override in overrides:
        key, separator, value = override.partition('=')
        if not separator or not key:
            raise ConfigError(f'override {override!r} is not key=value')
        target = data
        *parents, leaf = key.split('.')
        for depth, parent in enumerate(parents):
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ConfigError(f'override {override!r}: '
                                  f'{".".join(parents[:depth + 1])} is not a mapping')
        try:
            target[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f'override {override!r}: {error}') from None
    return from_plain(TrainingConfig, data, '').validate()
