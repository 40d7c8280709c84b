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

"""Corpus readers on file trees named like each corpus, .wav and .flac alike."""

import pytest
from ser_ros.training.corpora import canonical_emotion, CorpusError, read_corpus, read_manifest


def touch(root, *relative_paths):
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')


def test_ravdess_reads_emotion_and_actor_and_skips_song(tmp_path):
    touch(tmp_path, 'Actor_01/03-01-01-01-01-01-01.wav', 'Actor_01/03-01-02-02-01-02-01.flac',
          'Actor_12/03-01-08-02-02-02-12.wav', 'Actor_12/03-02-05-01-01-01-12.wav',
          'Actor_12/readme.txt')
    utterances = read_corpus('ravdess', str(tmp_path))
    assert [(u.emotion, u.speaker) for u in utterances] == [
        ('neutral', 'ravdess:01'), ('calm', 'ravdess:01'), ('surprised', 'ravdess:12')]


def test_tess_reads_the_emotion_from_the_file_name_whatever_the_folder(tmp_path):
    touch(tmp_path, 'OAF_Fear/OAF_back_fear.wav', 'YAF_pleasant_surprised/YAF_chair_ps.wav',
          'OAF_Pleasant_surprise/OAF_bath_ps.flac', 'YAF_angry/YAF_mop_angry.wav')
    utterances = {u.path.split('/')[-1]: u for u in read_corpus('tess', str(tmp_path))}
    assert utterances['OAF_back_fear.wav'].emotion == 'fearful'
    assert utterances['YAF_chair_ps.wav'].emotion == 'surprised'
    assert utterances['OAF_bath_ps.flac'].speaker == 'tess:OAF'
    assert utterances['YAF_mop_angry.wav'].speaker == 'tess:YAF'


def test_cremad_reads_actor_and_emotion(tmp_path):
    touch(tmp_path, '1001_DFA_ANG_XX.wav', '1091_IEO_HAP_HI.flac', '1050_TIE_SAD_LO.wav')
    utterances = read_corpus('cremad', str(tmp_path))
    assert sorted((u.speaker, u.emotion) for u in utterances) == [
        ('cremad:1001', 'angry'), ('cremad:1050', 'sad'), ('cremad:1091', 'happy')]


def test_emodb_reads_speaker_and_emotion_letter(tmp_path):
    touch(tmp_path, 'wav/03a01Fa.wav', 'wav/16b10Lb.wav', 'wav/08a02Wc.flac')
    utterances = read_corpus('emodb', str(tmp_path))
    assert sorted((u.speaker, u.emotion) for u in utterances) == [
        ('emodb:03', 'happy'), ('emodb:08', 'angry'), ('emodb:16', 'boredom')]


def test_manifest_paths_are_relative_to_the_manifest(tmp_path):
    (tmp_path / 'data').mkdir()
    manifest = tmp_path / 'data' / 'list.csv'
    manifest.write_text('path,label,speaker\nA/x.flac,Anger,s1\nB/y.wav,pleasant_surprise,s2\n')
    utterances = read_manifest(str(manifest))
    assert utterances[0].path == str(tmp_path / 'data' / 'A' / 'x.flac')
    assert [(u.emotion, u.speaker) for u in utterances] == [('angry', 'data:s1'),
                                                            ('surprised', 'data:s2')]


def test_manifest_problems_are_named(tmp_path):
    bad_label = tmp_path / 'bad.csv'
    bad_label.write_text('path,label,speaker\nx.wav,grumpy,s1\n')
    with pytest.raises(CorpusError, match='bad.csv:2.*grumpy'):
        read_manifest(str(bad_label))
    no_speaker = tmp_path / 'cols.csv'
    no_speaker.write_text('path,label\nx.wav,angry\n')
    with pytest.raises(CorpusError, match='speaker'):
        read_manifest(str(no_speaker))


def test_missing_or_empty_corpora_and_unknown_kinds_are_named(tmp_path):
    with pytest.raises(CorpusError, match='does not exist'):
        read_corpus('ravdess', str(tmp_path / 'nowhere'))
    with pytest.raises(CorpusError, match='no emodb recordings'):
        read_corpus('emodb', str(tmp_path))
    with pytest.raises(CorpusError, match='unknown corpus kind'):
        read_corpus('iemocap', str(tmp_path))


def test_label_spellings_are_canonical():
    assert canonical_emotion(' Happiness ') == 'happy'
    assert canonical_emotion('fear') == 'fearful'
    with pytest.raises(CorpusError):
        canonical_emotion('meh')
