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

"""Speaker-disjoint splits, label mapping, class balance and window crops."""

import numpy as np
import pytest
from ser_ros.core.features import FeatureConfig, FrameFeaturizer
from ser_ros.core.normalization import NormStats
from ser_ros.core.vad import VadConfig
from ser_ros.training.corpora import Utterance
from ser_ros.training.dataset import apply_channel, Augmentation, balancing_weights, Channel, \
    context_crop, crop, CropMaker, DatasetError, LabelledAudio, map_labels, mask_windows, \
    mp3_round_trip, room_response, speaker_split, speech_bounds
from synthetic import silence, speech_like


def corpus_speakers():
    speakers, corpora = [], []
    for corpus, count in (('ravdess', 24), ('urdu', 9)):
        for speaker in range(count):
            speakers += [f'{corpus}:{speaker:02d}'] * 5
            corpora += [corpus] * 5
    return speakers, corpora


@pytest.mark.parametrize('options', [
    {}, {'folds': 6, 'fold': 0}, {'folds': 6, 'fold': 5},
    {'test_speakers': ['ravdess:01', 'urdu:03']}, {'validation_fraction': 0.3}])
def test_splits_never_share_a_speaker(options):
    speakers, corpora = corpus_speakers()
    split = speaker_split(speakers, corpora, seed=3, **options)
    train, validation, test = (set(split[part]) for part in ('train', 'validation', 'test'))
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert train | validation | test == set(speakers)
    assert validation and test


def test_folds_cover_every_speaker_once():
    speakers, corpora = corpus_speakers()
    tested = [speaker for fold in range(6)
              for speaker in speaker_split(speakers, corpora, 0, folds=6, fold=fold)['test']]
    assert sorted(tested) == sorted(set(speakers))


def test_splits_are_repeatable_with_the_seed():
    speakers, corpora = corpus_speakers()
    assert speaker_split(speakers, corpora, 5) == speaker_split(speakers, corpora, 5)


def test_label_map_merges_drops_and_rejects():
    utterances = [Utterance('a', emotion, 's', 'c')
                  for emotion in ('calm', 'neutral', 'boredom', 'angry', 'surprised')]
    kept = map_labels(utterances, ['neutral', 'angry'], {'calm': 'neutral', 'boredom': None})
    assert [(u.emotion, index) for u, index in kept] == [('calm', 0), ('neutral', 0),
                                                         ('angry', 1)]
    with pytest.raises(DatasetError, match='bored'):
        map_labels(utterances, ['neutral'], {'boredom': 'bored'})


def test_balancing_weights_give_every_class_of_every_corpus_the_same_weight():
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    corpora = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b']
    weights = balancing_weights(labels, corpora, 2)
    totals = {(c, lab): weights[(labels == lab) & (np.array(corpora) == c)].sum()
              for c in 'ab' for lab in (0, 1)}
    np.testing.assert_allclose(list(totals.values()), 2.0)
    assert weights.mean() == pytest.approx(1.0)


def test_crops_have_the_window_length_and_overlap_the_speech():
    generator = np.random.default_rng(0)
    signal = np.concatenate([silence(1.0), speech_like(1.5), silence(1.5)])
    featurizer = FrameFeaturizer(FeatureConfig())
    start, end = speech_bounds(signal, featurizer, VadConfig())
    assert 15000 <= start <= 17000 and 39000 <= end <= 41000
    for speed in (0.9, 1.0, 1.1):
        piece = crop(signal, (start, end), 32000, generator, speed)
        assert piece.shape == (32000,)
        assert np.abs(piece).max() > 0.05
    short = crop(speech_like(0.5), (0, 8000), 32000, generator)
    assert short.shape == (32000,) and np.all(short[8000:] == 0)


def test_crop_maker_makes_normalised_model_input():
    config = FeatureConfig()
    data = LabelledAudio([speech_like(3.0, seed=i, pitch_hz=100 + 20 * i) for i in range(4)],
                         np.array([0, 1, 0, 1]), ['s1', 's1', 's2', 's2'], ['c'] * 4,
                         [f'p{i}' for i in range(4)], ['s1', 's1', 's2', 's2'], ['a', 'b'])
    maker = CropMaker(FrameFeaturizer(config), VadConfig(), 2.0, Augmentation())
    windows = maker.windows(data, np.random.default_rng(0))
    assert windows.shape == (4, config.frames_in(32000), config.n_features)
    assert np.all(np.isfinite(windows))
    speaker_frames = windows[:2].reshape(-1, config.n_features)
    assert np.abs(speaker_frames.mean(axis=0)).max() < 1.0


def test_masks_zero_stretches_of_time_and_bands_of_features_within_their_limits():
    windows = np.ones((50, 100, 40), np.float32)
    augmentation = Augmentation(time_masks=2, time_mask_s=0.2, feature_masks=1,
                                feature_mask_width=4)
    mask_windows(windows, augmentation, 0.01, np.random.default_rng(0))
    masked_frames = (windows == 0).all(axis=2).sum(axis=1)
    masked_features = (windows == 0).all(axis=1).sum(axis=1)
    assert masked_frames.max() <= 2 * 20 and masked_frames.max() > 10
    assert masked_features.max() <= 4 and masked_features.max() > 0
    untouched = np.ones((3, 100, 40), np.float32)
    mask_windows(untouched, Augmentation(), 0.01, np.random.default_rng(0))
    assert np.all(untouched == 1)


def test_a_room_response_starts_with_the_direct_path_and_decays_in_its_rt60():
    rate = 16000
    room = room_response(0.5, rate, np.random.default_rng(0))
    assert room.shape == (8000,) and room[0] == 1.0
    early, late = np.sum(room[1:800] ** 2), np.sum(room[-800:] ** 2)
    assert 0.3 <= np.sum(room[1:] ** 2) <= 3.0 and late < 1e-4 * early


def test_channel_reverberates_and_the_mp3_round_trip_keeps_length_and_level():
    signal = speech_like(2.0)
    generator = np.random.default_rng(0)
    always = Augmentation(noise_probability=0.0, reverb_probability=1.0)
    channel = always.channel(generator, 16000)
    assert channel.room is not None and channel.snr_db is None
    reverberant = apply_channel(signal, channel, generator)
    dry = apply_channel(signal, Channel(channel.gain, channel.tilt, None, None), generator)
    assert reverberant.shape == signal.shape and not np.allclose(reverberant, dry, atol=1e-3)
    coded = mp3_round_trip(signal, 16000, 32000)
    assert coded.shape == signal.shape and coded.dtype == np.float32
    # The node hears the codec's delay (LAME's 1105 samples at 16 kHz); past it, the signal.
    delay = int(np.argmax([np.dot(signal[:30000], coded[lag:lag + 30000])
                           for lag in range(0, 2000)]))
    assert 1000 < delay < 1200
    error = coded[delay:] - signal[:len(signal) - delay]
    error_db = 10 * np.log10(np.sum(error ** 2) / np.sum(signal[:len(signal) - delay] ** 2))
    assert -40 < error_db < -10
    assert Augmentation().channel(np.random.default_rng(0), 16000).room is None


def test_crops_are_standardised_with_the_prior_as_the_node_does_before_it_knows_the_speaker():
    config = FeatureConfig()
    data = LabelledAudio([speech_like(3.0, seed=i) for i in range(2)], np.array([0, 1]),
                         ['s1', 's1'], ['c'] * 2, ['p0', 'p1'], ['s1', 's1'], ['a', 'b'])
    featurizer = FrameFeaturizer(config)
    still = {'gain_db': (0.0, 0.0), 'tilt': (0.0, 0.0), 'noise_probability': 0.0,
             'speed_probability': 0.0}
    speaker = NormStats.of(np.concatenate([featurizer.frames(s)[0] for s in data.signals]))
    prior = NormStats(speaker.mean + 3 * speaker.std, speaker.std)
    early = CropMaker(featurizer, VadConfig(), 2.0,
                      Augmentation(prior_probability=1.0, heard_s=(0.0, 0.0), **still), prior)
    known = CropMaker(featurizer, VadConfig(), 2.0, Augmentation(**still), prior)
    shift = early.windows(data, np.random.default_rng(0)).mean(axis=(0, 1))[:config.n_cepstra]
    assert np.all(shift < -2.0)
    assert np.abs(known.windows(data, np.random.default_rng(0)).mean(axis=(0, 1))).max() < 1.0
    with pytest.raises(ValueError, match='prior'):
        CropMaker(featurizer, VadConfig(), 2.0, Augmentation(prior_probability=0.5))


@pytest.mark.parametrize('main_first', [True, False])
def test_context_crops_reach_across_a_pause_and_keep_most_speech_from_their_utterance(main_first):
    generator = np.random.default_rng(0)
    main, neighbour = np.full(24000, 1.0, np.float32), np.full(48000, 2.0, np.float32)
    shares = np.array([[np.mean(piece == value) for value in (1.0, 2.0, 0.0)] for piece in (
        context_crop(main, (0, 24000), neighbour, (0, 48000), 4800, main_first, 32000,
                     generator) for _ in range(200))])
    assert np.all(shares[:, 2] == 0.15)                       # the whole pause, every time
    assert np.all(shares[:, 0] > shares[:, 1]) and shares[:, 0].min() >= 0.25
    assert shares[:, 1].max() > 0.3                           # the neighbour's speech, often
    # A neighbour that would take the larger share leaves a crop inside the utterance's speech.
    short = context_crop(main[:4000], (0, 4000), neighbour, (0, 48000), 0, main_first, 32000,
                         generator)
    assert np.all(short[:4000] == 1.0) and np.all(short[4000:] == 0.0)


def test_crop_maker_makes_context_crops_only_where_the_group_has_another_recording():
    config = FeatureConfig()
    signals = [np.concatenate([speech_like(1.0, seed=i, pitch_hz=100 + 40 * i), silence(0.2)])
               for i in range(3)]
    data = LabelledAudio(signals, np.array([0, 1, 0]), ['s1', 's1', 's2'], ['c'] * 3,
                         ['p0', 'p1', 'p2'], ['s1', 's1', 's2'], ['a', 'b'])
    still = {'gain_db': (0.0, 0.0), 'tilt': (0.0, 0.0), 'noise_probability': 0.0,
             'speed_probability': 0.0}
    featurizer = FrameFeaturizer(config)
    plain = CropMaker(featurizer, VadConfig(), 2.0, Augmentation(**still))
    context = CropMaker(featurizer, VadConfig(), 2.0,
                        Augmentation(context_probability=1.0, context_pause_s=(0.3, 0.3),
                                     **still))
    plain_windows = plain.windows(data, np.random.default_rng(0))
    context_windows = context.windows(data, np.random.default_rng(0))
    assert context_windows.shape == plain_windows.shape
    assert not np.allclose(context_windows[:2], plain_windows[:2])
    np.testing.assert_array_equal(context_windows[2], plain_windows[2])   # alone in its group
