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
``ser-train``: train a model bundle from labelled corpora.

    ser-train --config config/train.yaml [key.subkey=value ...]
    ser-train --config config/train.yaml --recalibrate MODEL   # refit all but the weights
    ser-train --config config/train.yaml --add-statistics-head MODEL   # fit a head onto it
    ser-train --config config/train.yaml --add-encoder-head MODEL      # the same, encoder's

Steps: read and split the corpora by speaker; train the BiLSTM on augmented window crops
(Adam, class-balanced cross-entropy, early stopping on validation unweighted accuracy); fit the
HMM and the calibration (temperature, emission weight) on held-out streams made of the
validation speakers' utterances; write the bundle and,
in ``<output>/report/``, the test scores on the held-out speakers, the confusion matrices,
the training curve, the HMM fit and the configuration used.
"""

import argparse
import copy
from dataclasses import asdict, replace
import datetime
import json
import logging
import os
import random
import sys
import time

import numpy as np
from ser_ros import __version__
from ser_ros.core.bundle import load_bundle, ModelBundle, save_bundle
from ser_ros.core.errors import run_cli
from ser_ros.core.features import FrameFeaturizer
from ser_ros.core.hmm import dwell_transition_matrix, HMMParams
from ser_ros.core.model import BiLSTMClassifier
from ser_ros.core.normalization import NormStats
from ser_ros.core.recognizer import limit_threads
from ser_ros.core.speech_encoder import node_encoder, read_ctranslate2, whisper_model, \
    WhisperEncoder
from ser_ros.training.adversary import CorpusAdversary, reversal_scale
from ser_ros.training.affect import AffectHead
from ser_ros.training.config import load_config, OptimiserSettings, TrainingConfig
from ser_ros.training.dataset import Augmentation, balancing_weights, CropMaker, \
    DatasetError, LabelledAudio, load_labelled_audio, speaker_split, utterance_frames
from ser_ros.training.encoder_head import fit_encoder_head, gated_embedding, random_crops
from ser_ros.training.evaluation import adapted_statistics, classify, evaluate_bundle, scores
from ser_ros.training.head_weight import chosen_weight, weight_scores, with_head_weight
from ser_ros.training.hmm_fit import fit_hmm, out_of_fold_params
from ser_ros.training.smoothing import ACCURACY_TOLERANCE, DELAY_ALLOWANCE_S, \
    fit_calibration, labelled_windows, validation_streams
from ser_ros.training.statistics_head import fit_statistics_head, without_linear_head
from ser_ros.training.teacher import TeacherHead, utterance_embeddings
import torch
from tqdm import tqdm
import yaml

LOGGER = logging.getLogger(__name__)
#: Rounds of training crops the statistics head is fitted on (one crop per utterance each).
HEAD_CROP_ROUNDS = 3
#: Rounds of training crops the encoder head is fitted on (one crop per utterance each).
ENCODER_CROP_ROUNDS = 2


def seed_everything(seed):
    """Seed Python, numpy and torch; return a numpy Generator for this run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def placeholder_hmm(n_labels, streaming):
    """Return HMM parameters that leave the raw output as it is (before the real fit)."""
    startprob = np.full(n_labels, 1.0 / n_labels)
    return HMMParams(startprob, dwell_transition_matrix(startprob, streaming.dwell_s,
                                                        streaming.hop_s),
                     np.zeros((n_labels, n_labels)), np.ones((n_labels, n_labels)))


def corpus_label_mask(data: LabelledAudio) -> np.ndarray:
    """
    Return which labels each utterance's corpus has.

    A corpus that lacks a label (nEMO has no disgust, URDU only four emotions) says nothing
    against it: with the mask, the loss of that corpus's utterances is a softmax over the
    corpus's own labels only.

    Returns
    -------
    numpy.ndarray, shape (n_utterances, n_labels), bool

    """
    has = {corpus: np.zeros(len(data.labels), bool) for corpus in set(data.corpora)}
    for corpus, label in zip(data.corpora, data.label_indices):
        has[corpus][label] = True
    return np.stack([has[corpus] for corpus in data.corpora])


def learning_rate_schedule(optimizer, training: OptimiserSettings, steps_per_epoch):
    """
    Return the scheduler of ``training.schedule``, stepped once per batch; None for constant.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rate is scheduled.
    training : OptimiserSettings
        Its ``learning_rate`` is the peak of the one-cycle schedule.
    steps_per_epoch : int
        Batches per epoch.

    """
    if training.schedule == 'constant':
        return None
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=training.learning_rate,
                                               epochs=training.epochs,
                                               steps_per_epoch=steps_per_epoch)


def train_network(model, train_data, validation_data, bundle, crop_maker,
                  training: OptimiserSettings, generator, progress=True):
    """
    Train ``model`` in place; keep the weights of the best validation epoch.

    Returns
    -------
    list of dict
        One row per epoch: loss, training and validation unweighted accuracy.

    """
    label_mask = (torch.from_numpy(corpus_label_mask(train_data))
                  if training.mask_missing_labels else None)
    weights = torch.from_numpy(balancing_weights(train_data.label_indices, train_data.corpora,
                                                 len(train_data.labels)))
    targets = torch.from_numpy(train_data.label_indices).long()
    adversary = corpus_adversary(model, train_data, training)
    affect = (AffectHead(model.config.hidden_size, train_data.labels,
                         train_data.label_indices, weights.numpy())
              if training.affect_targets > 0 else None)
    teacher = teacher_head(model, train_data, training, bundle.feature_config.sample_rate_hz)
    parameters = list(model.parameters())
    for auxiliary in (adversary, affect, teacher):
        if auxiliary is not None:
            parameters += list(auxiliary.parameters())
    optimizer = torch.optim.Adam(parameters, lr=training.learning_rate,
                                 weight_decay=training.weight_decay)
    loss_function = torch.nn.CrossEntropyLoss(reduction='none')
    batch_size = training.batch_size
    steps_per_epoch = -(-len(targets) // batch_size)
    scheduler = learning_rate_schedule(optimizer, training, steps_per_epoch)
    best_score, best_state, waited, history = -1.0, None, 0, []

    def batch_loss(logits, utterances):
        """Weighted cross-entropy of ``logits`` against the targets of ``utterances``."""
        if label_mask is not None:
            logits = logits.masked_fill(~label_mask[utterances], float('-inf'))
        return (loss_function(logits, targets[utterances]) * weights[utterances]).mean()

    def step_loss(inputs, utterances, partners, share, scale):
        """
        Loss of one batch: emotion, plus the auxiliary losses that are on.

        The auxiliaries are the corpus adversary, the arousal and valence targets (weighted
        by ``training.affect_targets``) and the teacher's embeddings (weighted by
        ``training.teacher_targets``). ``partners`` and ``share`` are mixup's (``share`` 1:
        no mixup). Returns the loss, the emotion logits and the adversary's corpus logits
        (None when it is off).
        """
        def blended(loss_of, logits):
            loss = share * loss_of(logits, utterances)
            return loss + (1 - share) * loss_of(logits, partners) if share < 1 else loss

        embedded = model.embed(inputs)
        logits = model.output(embedded)
        loss = blended(batch_loss, logits)
        if affect is not None:
            loss = loss + training.affect_targets * blended(affect.loss, affect(embedded))
        if teacher is not None:
            loss = loss + training.teacher_targets * blended(teacher.loss, teacher(embedded))
        if adversary is None:
            return loss, logits, None
        corpus_logits = adversary(embedded, scale)
        return loss + blended(adversary.loss, corpus_logits), logits, corpus_logits

    # The validation audio does not change between epochs: frame it for its statistics once.
    validation_stats = adapted_statistics(bundle, validation_data)

    def validation_score():
        """Unweighted accuracy of ``model`` as it is on the validation utterances, adapted."""
        return scores(validation_data.label_indices,
                      classify(bundle, validation_data, 'adapted', model=model, progress=False,
                               stats=validation_stats),
                      validation_data.labels)['unweighted_accuracy']

    average = WeightAverage(training.epochs - training.average_last_epochs)
    epochs = tqdm(range(training.epochs), desc='epochs', disable=not progress)
    for epoch in epochs:
        windows = torch.from_numpy(crop_maker.windows(train_data, generator))
        order = torch.from_numpy(generator.permutation(len(windows)))
        model.train()
        total_loss, predictions = 0.0, torch.empty(len(windows), dtype=torch.long)
        corpus_predictions = torch.empty(len(windows), dtype=torch.long)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            scale = reversal_scale(training.corpus_adversary,
                                   (epoch * steps_per_epoch + start // batch_size)
                                   / (training.epochs * steps_per_epoch))
            if training.mixup_alpha > 0:
                share = float(generator.beta(training.mixup_alpha, training.mixup_alpha))
                partner = batch[torch.from_numpy(generator.permutation(len(batch)))]
                loss, logits, corpus_logits = step_loss(
                    share * windows[batch] + (1 - share) * windows[partner], batch, partner,
                    share, scale)
            else:
                loss, logits, corpus_logits = step_loss(windows[batch], batch, None, 1.0, scale)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(batch)
            predictions[batch] = logits.argmax(dim=1)
            if corpus_logits is not None:
                corpus_predictions[batch] = corpus_logits.argmax(dim=1)
        model.eval()
        train_ua = scores(train_data.label_indices, predictions.numpy(),
                          train_data.labels)['unweighted_accuracy']
        validation_ua = validation_score()
        history.append({'epoch': epoch + 1, 'loss': total_loss / len(windows),
                        'train_ua': train_ua, 'validation_ua': validation_ua})
        if adversary is not None:
            # How well the corpora can still be told apart (chance: one over their number).
            history[-1]['corpus_ua'] = scores(adversary.targets.numpy(),
                                              corpus_predictions.numpy(),
                                              adversary.names)['unweighted_accuracy']
        epochs.set_postfix(loss=f'{total_loss / len(windows):.3f}', train=f'{train_ua:.2f}',
                           val=f'{validation_ua:.2f}')
        LOGGER.info('epoch %d: loss %.3f, train UA %.3f, validation UA %.3f', epoch + 1,
                    total_loss / len(windows), train_ua, validation_ua)
        average.add(epoch, model)
        if validation_ua > best_score:
            best_score, best_state, waited = validation_ua, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= training.patience:
                LOGGER.info('early stop after epoch %d', epoch + 1)
                break
    if average.count:
        model.load_state_dict(average.state)
        history[-1]['averaged_validation_ua'] = validation_score()
        LOGGER.info('kept the mean weights of the last %d epochs: validation UA %.3f',
                    average.count, history[-1]['averaged_validation_ua'])
    else:
        model.load_state_dict(best_state)
    model.eval()
    return history


class WeightAverage:
    """
    Running mean of a network's weights over the epochs from ``first_epoch`` on.

    Stochastic weight averaging (Izmailov et al., 2018): the mean of the weights along the end
    of training lies in a flatter region of the loss than any one epoch's, which carries better
    to data unlike the training data. ``first_epoch`` at or past the last epoch: nothing is
    averaged (``count`` stays 0).

    Parameters
    ----------
    first_epoch : int
        The first epoch (from 0) whose weights join the mean.

    """

    def __init__(self, first_epoch):
        self.first_epoch, self.count, self.state = first_epoch, 0, None

    def add(self, epoch, model):
        """Add ``model``'s weights after ``epoch`` (from 0) to the mean, if it is late enough."""
        if epoch < self.first_epoch:
            return
        self.count += 1
        current = model.state_dict()
        if self.state is None:
            self.state = {name: value.detach().clone() for name, value in current.items()}
            return
        for name, value in current.items():
            self.state[name] += (value.detach() - self.state[name]) / self.count


def corpus_adversary(model, train_data, training: OptimiserSettings):
    """
    Return the corpus adversary ``training.corpus_adversary`` asks for, or None.

    Off when its strength is 0, and (with a warning) when the training data hold one corpus.
    """
    if training.corpus_adversary == 0:
        return None
    if len(set(train_data.corpora)) < 2:
        LOGGER.warning('training.corpus_adversary needs two training corpora or more: off')
        return None
    return CorpusAdversary(model.config.hidden_size, train_data.corpora)


def teacher_head(model, train_data, training: OptimiserSettings, sample_rate_hz):
    """
    Return the Whisper teacher's head ``training.teacher_targets`` asks for, or None.

    Embeds every training utterance with the first ``training.teacher_layers`` blocks of
    Whisper base (:mod:`ser_ros.training.teacher`): about a minute per 1,000 utterances.
    """
    if training.teacher_targets == 0:
        return None
    encoder = WhisperEncoder(read_ctranslate2(whisper_model()), training.teacher_layers)
    started = time.monotonic()
    targets = utterance_embeddings(encoder, train_data.signals, train_data.norm_groups,
                                   sample_rate_hz)
    LOGGER.info('Whisper teacher: %d utterances embedded in %.0f s', len(targets),
                time.monotonic() - started)
    return TeacherHead(model.config.hidden_size, targets)


def head_crop_maker(featurizer, vad_config, streaming, augmentation, prior):
    """
    Return the crop maker the statistics head is fitted with: the network's, all but clean.

    Of ``augmentation`` only the crops standardised as the node does early on are kept
    (``prior_probability``, ``heard_s``): no gain, tilt, noise, speed, room, codec, masks or
    context crops. See :mod:`ser_ros.training.statistics_head`.
    """
    clean = Augmentation(gain_db=(0.0, 0.0), tilt=(0.0, 0.0), noise_probability=0.0,
                         speed_probability=0.0,
                         prior_probability=augmentation.prior_probability,
                         heard_s=augmentation.heard_s)
    return CropMaker(featurizer, vad_config, streaming.window_s, clean, prior,
                     streaming.norm_prior_s)


def with_statistics_head(model, weight, train_data, crop_maker, generator):
    """
    Return ``model`` with a statistics head fitted on crops of ``train_data``.

    ``crop_maker`` (:func:`head_crop_maker`) makes ``HEAD_CROP_ROUNDS`` rounds of one crop
    per utterance at random positions; they are weighted as in the network's loss. See
    :mod:`ser_ros.training.statistics_head`.
    """
    windows = np.concatenate([crop_maker.windows(train_data, generator)
                              for _ in range(HEAD_CROP_ROUNDS)])
    weights = balancing_weights(train_data.label_indices, train_data.corpora,
                                len(train_data.labels))
    return fit_statistics_head(model, weight, windows,
                               np.tile(train_data.label_indices, HEAD_CROP_ROUNDS),
                               np.tile(weights, HEAD_CROP_ROUNDS))


def with_encoder_head(bundle, model, config, train_data, generator):
    """
    Return ``model`` with the encoder head ``config`` asks for; give ``bundle`` its encoder.

    The head is fitted on ``ENCODER_CROP_ROUNDS`` rounds of one ``window_s`` crop per
    utterance of ``train_data`` at random positions, weighted as in the network's loss (see
    :mod:`ser_ros.training.encoder_head`). Sets ``bundle.encoder_norm`` and the encoder
    settings of ``bundle.feature_config`` (``config.features``', with the SHA-256 of the
    weights found: :func:`ser_ros.core.speech_encoder.node_encoder`); about a minute per 3,000
    utterances.
    """
    wanted = config.features
    encoder = node_encoder(wanted.encoder_layers, wanted.encoder_sha256)
    features = replace(bundle.feature_config, encoder_layers=wanted.encoder_layers,
                       encoder_sha256=encoder.sha256, encoder_hop_s=wanted.encoder_hop_s)
    crop_samples = round(config.streaming.window_s * features.sample_rate_hz)
    started = time.monotonic()
    crops = [crop for _ in range(ENCODER_CROP_ROUNDS)
             for crop in random_crops(train_data.signals, crop_samples, generator)]
    weights = balancing_weights(train_data.label_indices, train_data.corpora,
                                len(train_data.labels))
    featurizer = FrameFeaturizer(features)
    embeddings = np.stack([gated_embedding(encoder, crop, featurizer, bundle.vad)
                           for crop in crops])
    model, bundle.encoder_norm = fit_encoder_head(
        model, config.model.encoder_head, embeddings,
        list(train_data.norm_groups) * ENCODER_CROP_ROUNDS,
        np.tile(train_data.label_indices, ENCODER_CROP_ROUNDS),
        np.tile(weights, ENCODER_CROP_ROUNDS))
    bundle.feature_config = features
    LOGGER.info('encoder head: %d crops in %.0f s', len(crops), time.monotonic() - started)
    return model


def with_chosen_head_weight(bundle, model, validation_data):
    """
    Return ``model`` with the encoder head weight its validation speakers score best.

    See :mod:`ser_ros.training.head_weight`. Records the scores in ``bundle.metadata``
    (``encoder_head_scores``); at weight 0 the bundle's encoder and its statistics go too.
    """
    started = time.monotonic()
    bundle.model_config, bundle.state_dict = model.config, model.state_dict()
    totals = weight_scores(bundle, model, validation_data)
    weight = chosen_weight(totals)
    LOGGER.info('encoder head weight %.1f on the validation speakers (%.0f s): %s', weight,
                time.monotonic() - started,
                ', '.join(f'{key:.1f}: {100 * value:.1f} %' for key, value in totals.items()))
    bundle.metadata['encoder_head_scores'] = {str(key): round(value, 4)
                                              for key, value in totals.items()}
    if weight == 0:
        bundle.feature_config = replace(bundle.feature_config, encoder_layers=0,
                                        encoder_sha256='')
        bundle.encoder_norm = None
    return with_head_weight(model, weight)


def fit_smoothing(bundle, model, validation_data, config, seed):
    """
    Fit ``bundle``'s HMM, calibration and dwell on streams of the validation speakers.

    The streams depend on ``seed`` (the bundle's) alone, so that ``--recalibrate`` makes the
    same ones; the dwell starts from ``config.streaming``'s. Returns the HMM fit's report.
    """
    bundle.streaming = config.streaming
    streams = validation_streams(bundle, validation_data, model, np.random.default_rng(seed),
                                 config.hmm.pause_s)
    bundle.hmm, hmm_report = fit_hmm(*labelled_windows(streams), len(bundle.labels),
                                     bundle.streaming.dwell_s, bundle.streaming.hop_s,
                                     config.hmm.em_iterations, seed)
    calibrate(bundle, streams, hmm_report, config.hmm.em_iterations, seed)
    return hmm_report


def calibrate(bundle, streams, hmm_report, em_iterations, seed):
    """
    Fit ``bundle``'s calibration and dwell on validation streams; report them in ``hmm_report``.

    Sets ``bundle.calibration``, ``bundle.streaming.dwell_s`` and ``hmm_report['calibration']``
    (see :func:`ser_ros.training.smoothing.fit_calibration`); each stream is filtered with the
    kept emissions fitted on the other streams (``em_iterations`` and ``seed`` as for the HMM).
    """
    stream_params = out_of_fold_params(hmm_report['kept'], *labelled_windows(streams),
                                       len(bundle.labels), bundle.streaming.dwell_s,
                                       bundle.streaming.hop_s, em_iterations, seed)
    bundle.calibration, dwell_s, hmm_report['calibration'] = fit_calibration(bundle, streams,
                                                                             stream_params)
    bundle.streaming = replace(bundle.streaming, dwell_s=dwell_s)
    hmm_report.pop('dwell_sweep', None)


def train(config: TrainingConfig, progress: bool = True,
          data: LabelledAudio | None = None) -> ModelBundle:
    """
    Train a bundle as ``config`` says, save it with its report, and return it.

    Parameters
    ----------
    config : TrainingConfig
        What to train, from what, and where to write it.
    progress : bool
        Show progress bars.
    data : LabelledAudio, optional
        The configured corpora already loaded with the configured labels (a benchmark that
        also scores a baseline on them); read from ``config.corpora`` when None.

    Returns
    -------
    ser_ros.core.bundle.ModelBundle

    """
    started = time.monotonic()
    generator = seed_everything(config.seed)
    limit_threads(config.training.threads)
    feature_config, vad_config, streaming = config.features, config.vad, config.streaming
    labels = list(config.labels)
    if data is None:
        data = load_labelled_audio(config.corpus_dicts(), labels, config.label_map,
                                   feature_config.sample_rate_hz, progress)
    split = speaker_split(data.speakers, data.corpora, config.seed, **asdict(config.split))
    parts = {part: data.of_speakers(speakers) for part, speakers in split.items()}
    if len(parts['validation']) == 0:
        raise DatasetError('the split leaves no validation speakers')
    LOGGER.info('speakers: %s', {part: len(speakers) for part, speakers in split.items()})

    featurizer = FrameFeaturizer(feature_config)
    prior = speech_statistics(parts['train'], featurizer, vad_config)
    # The network learns without its statistics head, which is fitted on it afterwards.
    model = BiLSTMClassifier(replace(config.model, n_features=feature_config.n_features,
                                     n_labels=len(labels), statistics_head=0.0,
                                     encoder_head=0.0))
    bundle = ModelBundle(labels=labels, feature_config=replace(feature_config, encoder_layers=0),
                         model_config=model.config, norm=prior,
                         hmm=placeholder_hmm(len(labels), streaming), streaming=streaming,
                         vad=vad_config, state_dict=model.state_dict(), name=config.name)
    crop_maker = CropMaker(featurizer, vad_config, streaming.window_s, config.augmentation,
                           prior, streaming.norm_prior_s)
    history = train_network(model, parts['train'], parts['validation'], bundle, crop_maker,
                            config.training, generator, progress)
    if config.model.statistics_head > 0:
        model = with_statistics_head(
            model, config.model.statistics_head, parts['train'],
            head_crop_maker(featurizer, vad_config, streaming, config.augmentation, prior),
            generator)
    if config.model.encoder_head > 0:
        model = with_encoder_head(bundle, model, config, parts['train'], generator)
        if config.training.choose_encoder_head:
            model = with_chosen_head_weight(bundle, model, parts['validation'])
    bundle.model_config, bundle.state_dict = model.config, model.state_dict()
    hmm_report = fit_smoothing(bundle, model, parts['validation'], config, config.seed)
    training_time_s = time.monotonic() - started
    bundle.metadata = {
        **bundle.metadata,
        'ser_ros_version': __version__, 'date': datetime.date.today().isoformat(),
        'seed': config.seed, 'corpora': config.corpus_dicts(),
        'label_map': dict(config.label_map), 'split': split,
        'utterances': {part: len(members) for part, members in parts.items()},
        'parameters': model.parameter_count(), 'epochs_run': len(history),
        'best_validation_ua': max(row['validation_ua'] for row in history),
        'training_time_s': round(training_time_s, 1), 'threads': torch.get_num_threads(),
        'hmm_fit': hmm_report,
    }
    write_report(bundle, config, history, parts['test'], os.path.join(config.output, 'report'),
                 progress)
    save_bundle(bundle, config.output)
    LOGGER.info('saved %s (%.0f s)', config.output, training_time_s)
    return bundle


def speech_statistics(data, featurizer, vad_config):
    """Return the statistics of every speech frame of ``data``'s utterances (the prior)."""
    cepstra, speech = utterance_frames(data, featurizer, vad_config)
    return NormStats.of(np.concatenate([c[s] for c, s in zip(cepstra, speech)]))


def training_record(bundle, folder, progress):
    """
    Return what :func:`train` recorded of the bundle in ``folder``, and its audio.

    Raises DatasetError when the bundle lacks any of them.

    Returns
    -------
    history : list of dict
        ``report/history.json``.
    data : LabelledAudio
        The corpora it was trained from, with its labels.
    split : dict of str to list of str
        Its speakers by part.
    seed : int

    """
    metadata = bundle.metadata
    try:
        corpora, split, seed = metadata['corpora'], metadata['split'], metadata['seed']
        with open(os.path.join(folder, 'report', 'history.json')) as stream:
            history = json.load(stream)
    except (KeyError, OSError) as error:
        raise DatasetError(f'{folder} lacks what ser-train writes ({error}): train it again')
    data = load_labelled_audio(corpora, bundle.labels, metadata.get('label_map', {}),
                               bundle.feature_config.sample_rate_hz, progress)
    return history, data, split, seed


def recalibrate(folder, config: TrainingConfig, progress: bool = True) -> ModelBundle:
    """
    Refit what a trained bundle's weights do not fix, on its own speakers; rewrite it.

    The weights and the HMM stay. The voice-activity gate becomes ``config.vad`` and the
    normalisation prior is computed again with it over the training speakers; the validation
    streams are made again as in :func:`train` (the bundle's corpora, split and seed;
    ``config.hmm.pause_s``) and the calibration and dwell are fitted on them; the bundle and
    its report (scored again on the test speakers) are rewritten.

    Parameters
    ----------
    folder : str
        A bundle written by :func:`train`, with its ``report/history.json``.
    config : TrainingConfig
        The configuration it was trained with (for the pauses of the streams and the report).
    progress : bool
        Show progress bars.

    Returns
    -------
    ModelBundle

    """
    limit_threads(config.training.threads)
    bundle = load_bundle(folder)
    history, data, split, seed = training_record(bundle, folder, progress)
    bundle.vad = config.vad
    bundle.norm = speech_statistics(data.of_speakers(split['train']),
                                    FrameFeaturizer(bundle.feature_config), bundle.vad)
    streams = validation_streams(bundle, data.of_speakers(split['validation']),
                                 bundle.build_model(), np.random.default_rng(seed),
                                 config.hmm.pause_s)
    calibrate(bundle, streams, bundle.metadata['hmm_fit'], config.hmm.em_iterations, seed)
    write_report(bundle, config, history, data.of_speakers(split['test']),
                 os.path.join(folder, 'report'), progress)
    save_bundle(bundle, folder)
    return bundle


def add_statistics_head(folder, config: TrainingConfig, output: str,
                        progress: bool = True) -> ModelBundle:
    """
    Give a trained bundle the statistics head ``config.model.statistics_head`` asks for.

    What :func:`train` does after the network, on a trained bundle (a statistics head it has
    is replaced): the head is fitted on crops of the bundle's training speakers (drawn with
    the bundle's seed), then the HMM, calibration and dwell on its validation streams; the
    bundle and its report are written to ``output``. The network's weights stay.

    Parameters
    ----------
    folder : str
        A bundle written by :func:`train`, with its ``report/history.json``.
    config : TrainingConfig
        The configuration it was trained with, and the head's weight.
    output : str
        Where the new bundle goes.
    progress : bool
        Show progress bars.

    Returns
    -------
    ModelBundle

    """
    bundle, history, data, split, seed = _trained_without(folder, config, 'statistics_head',
                                                          progress)
    crop_maker = head_crop_maker(FrameFeaturizer(bundle.feature_config), bundle.vad,
                                 config.streaming, config.augmentation, bundle.norm)
    model = with_statistics_head(bundle.build_model(), config.model.statistics_head,
                                 data.of_speakers(split['train']), crop_maker,
                                 np.random.default_rng(seed))
    return _with_new_head(bundle, model, data, split, seed, history, config, output, progress)


def add_encoder_head(folder, config: TrainingConfig, output: str,
                     progress: bool = True) -> ModelBundle:
    """
    Give a trained bundle the encoder head ``config.model.encoder_head`` asks for.

    What :func:`train` does after the network and its statistics head, on a trained bundle
    (an encoder head it has is replaced): the head is fitted on crops of the bundle's
    training speakers (drawn with the bundle's seed), then the HMM, calibration and dwell on
    its validation streams; the bundle and its report are written to ``output``. The
    network's weights stay.
    Parameters and return as :func:`add_statistics_head`.
    """
    bundle, history, data, split, seed = _trained_without(folder, config, 'encoder_head',
                                                          progress)
    model = with_encoder_head(bundle, bundle.build_model(), config,
                              data.of_speakers(split['train']), np.random.default_rng(seed))
    if config.training.choose_encoder_head:
        model = with_chosen_head_weight(bundle, model, data.of_speakers(split['validation']))
    return _with_new_head(bundle, model, data, split, seed, history, config, output, progress)


def _trained_without(folder, config, head, progress):
    """
    Load a trained bundle without the head ``config.model.<head>`` asks for, and its record.

    A head the bundle has is taken off, to be fitted again (after a change to how it is
    fitted, or at another weight). Raises DatasetError when the configuration asks for no
    such head. Returns the bundle and :func:`training_record`'s.
    """
    if getattr(config.model, head) <= 0:
        raise DatasetError(f'model.{head} is 0: no head to fit')
    limit_threads(config.training.threads)
    bundle = load_bundle(folder)
    if getattr(bundle.model_config, head) > 0:
        bundle.model_config, bundle.state_dict = without_linear_head(
            bundle.model_config, bundle.state_dict, head)
        bundle.metadata.pop(f'{head}_scores', None)
    return (bundle, *training_record(bundle, folder, progress))


def _with_new_head(bundle, model, data, split, seed, history, config, output, progress):
    """Put ``model`` in ``bundle``, refit its smoothing, write it with its report to ``output``."""
    bundle.model_config, bundle.state_dict = model.config, model.state_dict()
    bundle.metadata['hmm_fit'] = fit_smoothing(
        bundle, model, data.of_speakers(split['validation']), config, seed)
    bundle.metadata['parameters'] = model.parameter_count()
    write_report(bundle, config, history, data.of_speakers(split['test']),
                 os.path.join(output, 'report'), progress)
    save_bundle(bundle, output)
    return bundle


def write_report(bundle, config, history, test_data, folder, progress):
    """Write the test scores, training curve, HMM fit and the configuration used."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'config.yaml'), 'w') as stream:
        yaml.safe_dump(config.to_plain(), stream, sort_keys=False)
    with open(os.path.join(folder, 'history.json'), 'w') as stream:
        json.dump(history, stream, indent=1)
    plot_history(history, os.path.join(folder, 'training.png'))
    metadata = bundle.metadata
    hmm_fit = json.dumps({key: value for key, value in metadata['hmm_fit'].items()
                          if key != 'calibration'})
    fitted = metadata['hmm_fit']['calibration']
    lines = [f'# Training report: {bundle.name}', '',
             f"- trained {metadata['date']} with ser_ros {metadata['ser_ros_version']}, "
             f"seed {metadata['seed']}, {metadata['epochs_run']} epochs, "
             f"{metadata['training_time_s']:.0f} s"
             + (f" on {metadata['threads']} threads" if 'threads' in metadata else ''),
             f"- {metadata['parameters']:,} parameters; utterances {metadata['utterances']}"
             + (f'; statistics head at weight {bundle.model_config.statistics_head:g}, fitted '
                'after the network' if bundle.model_config.statistics_head > 0 else '')
             + (f'; encoder head at weight {bundle.model_config.encoder_head:g}'
                if bundle.model_config.encoder_head > 0 else '')
             + ('; encoder head weights scored on the validation speakers (utterance UA, '
                'mean of cold and adapted): ' + ', '.join(
                    f'{key}: {value:.1%}'
                    for key, value in metadata['encoder_head_scores'].items())
                if 'encoder_head_scores' in metadata else ''),
             f"- best validation unweighted accuracy {metadata['best_validation_ua']:.1%}"
             + ('; kept the mean weights of the last epochs (training.average_last_epochs): '
                f"{history[-1]['averaged_validation_ua']:.1%}"
                if 'averaged_validation_ua' in history[-1] else ''),
             f'- HMM emissions, out-of-sample validation window accuracy: {hmm_fit}',
             f"- calibration on the validation streams: temperature {fitted['temperature']:.2f}"
             f" (raw ECE {fitted['raw_ece']['before']:.3f} -> {fitted['raw_ece']['after']:.3f});"
             f" HMM emission weight {fitted['emission_weight']:g} and dwell "
             f"{fitted['dwell_s']:g} s (chosen below); smoothed temperature "
             f"{fitted['smoothed_temperature']:.2f} (smoothed ECE "
             f"{fitted['smoothed_ece']['before']:.3f} -> {fitted['smoothed_ece']['after']:.3f})",
             '', '## Smoothing on the validation streams', '',
             'Chosen: the fewest label changes among the candidates at least as accurate as '
             f'the raw output and within {ACCURACY_TOLERANCE:.0%} of the most accurate, whose '
             f'median delay is at most {DELAY_ALLOWANCE_S:g} s longer (each stream filtered '
             'with emissions not fitted on it; ECE before the smoothed temperature).', '',
             '| output | emission weight | dwell [s] | window accuracy | changes / min | '
             'median delay [s] | ECE |', '|---|---:|---:|---:|---:|---:|---:|']
    smoothing = fitted['smoothing']
    rows = [('raw', '', '', smoothing['raw'])]
    rows += [('chosen' if (row['emission_weight'], row['dwell_s']) == (
        fitted['emission_weight'], fitted['dwell_s']) else 'smoothed',
        f"{row['emission_weight']:g}", f"{row['dwell_s']:g}", row)
        for row in smoothing['candidates']]
    lines += [f"| {name} | {weight} | {dwell} | {row['accuracy']:.1%} | "
              f"{row['changes_per_minute']:.1f} | {row['median_delay_s']:.2f} | "
              f"{row['ece']:.3f} |" for name, weight, dwell, row in rows]
    lines += ['', '![training](training.png)', '']
    if len(test_data):
        results = evaluate_bundle(bundle, test_data, folder, f'{bundle.name} on held-out '
                                  'speakers', progress)
        bundle.metadata['test_ua'] = {condition: result['unweighted_accuracy']
                                      for condition, result in results.items()}
        bundle.metadata['test_window_ua'] = {condition: result['window_unweighted_accuracy']
                                             for condition, result in results.items()}
        lines += ['See [results.md](results.md) for the test speakers: unweighted accuracy '
                  + ', '.join(f'{c} {r["unweighted_accuracy"]:.1%}' for c, r in results.items())
                  + '; of the speech windows alone '
                  + ', '.join(f'{c} {r["window_unweighted_accuracy"]:.1%}'
                              for c, r in results.items())]
    with open(os.path.join(folder, 'report.md'), 'w') as stream:
        stream.write('\n'.join(lines) + '\n')


def plot_history(history, path):
    """Plot loss and unweighted accuracies per epoch into a PNG."""
    from matplotlib import pyplot
    epochs = [row['epoch'] for row in history]
    figure, (loss_axes, accuracy_axes) = pyplot.subplots(1, 2, figsize=(9, 3.2))
    loss_axes.plot(epochs, [row['loss'] for row in history])
    loss_axes.set_xlabel('epoch')
    loss_axes.set_ylabel('weighted cross-entropy')
    for key in ('train_ua', 'validation_ua'):
        accuracy_axes.plot(epochs, [row[key] for row in history], label=key)
    accuracy_axes.set_xlabel('epoch')
    accuracy_axes.set_ylabel('unweighted accuracy')
    accuracy_axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def run(argv=None):
    """Parse the command line and train."""
    parser = argparse.ArgumentParser(prog='ser-train', description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='config/train.yaml', help='training YAML')
    parser.add_argument('overrides', nargs='*', metavar='key=value',
                        help="values that replace the YAML's, e.g. training.epochs=5")
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    parser.add_argument('--recalibrate', metavar='MODEL',
                        help='only refit the calibration of this trained bundle on its '
                        'validation speakers, and rewrite it')
    parser.add_argument('--add-statistics-head', metavar='MODEL',
                        help='only fit the statistics head (model.statistics_head) on this '
                        'trained bundle, replacing one it has, then its HMM and calibration; '
                        'rewrite it')
    parser.add_argument('--add-encoder-head', metavar='MODEL',
                        help='only fit the encoder head (model.encoder_head, '
                        'features.encoder_layers) on this trained bundle, replacing one it has, '
                        'then its HMM and calibration; rewrite it')
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    if args.recalibrate:
        recalibrate(args.recalibrate, config, progress=not args.quiet)
    elif args.add_statistics_head:
        add_statistics_head(args.add_statistics_head, config, args.add_statistics_head,
                            progress=not args.quiet)
    elif args.add_encoder_head:
        add_encoder_head(args.add_encoder_head, config, args.add_encoder_head,
                         progress=not args.quiet)
    else:
        train(config, progress=not args.quiet)
    return 0


def main(argv=None):
    """Run ``ser-train``: user errors print ``ser-train: message`` and exit 2."""
    return run_cli('ser-train', run, argv)


if __name__ == '__main__':
    sys.exit(main())
