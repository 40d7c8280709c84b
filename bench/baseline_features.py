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
How strong an SVM the model's own frames allow: the baseline SVM on other frame features.

    python bench/baseline_features.py [--data ../shared/data] [--output FILE.json]

Leave one corpus out over the four shared corpora, exactly as bench/generalisation.py splits
them (7 labels, predictions restricted to the held-out corpus's labels), with the baseline's
SVM and per-speaker standardisation (ser_ros.training.baseline) on the statistics (mean, std,
delta std of the silence-trimmed utterance) of: the baseline's 40 librosa MFCCs, and the
frames of the model's own featurizer (ser_ros.core.features: 20 MFCC + 20 LFCC, or MFCCs
alone, or other filterbanks, band or pitch columns). The BiLSTM hears those frames; an SVM on
their statistics is the figure it has to beat.
Prints a table of unweighted accuracy per held-out corpus; a few minutes on one core.
"""

import json
import sys
import time

from generalisation import comparison_arguments, corpora, LABEL_MAP_7, LABELS_7, \
    leave_one_corpus_out, print_comparison
import numpy as np
from ser_ros.core.features import FeatureConfig, FrameFeaturizer
from ser_ros.core.recognizer import limit_threads
from ser_ros.training.baseline import coefficient_statistics, group_standardised, trimmed, \
    utterance_statistics
from ser_ros.training.dataset import load_labelled_audio


def featurizer_statistics(config, columns):
    """Return a function: signal -> statistics of the first ``columns`` cepstra of its frames."""
    featurizer = FrameFeaturizer(config)

    def statistics(signal):
        cepstra, _ = featurizer.frames(trimmed(signal))
        return coefficient_statistics(cepstra[:, :columns].T)
    return statistics


#: The rate every corpus is read at: the featurizer's.
RATE_HZ = FeatureConfig().sample_rate_hz
#: Frame features compared: name -> signal -> utterance statistics.
VARIANTS = {
    'baseline: 40 librosa MFCCs': lambda signal: utterance_statistics(signal, RATE_HZ),
    "model's featurizer: 20 MFCC + 20 LFCC": featurizer_statistics(FeatureConfig(), 40),
    "model's featurizer: 40 MFCCs": featurizer_statistics(FeatureConfig(n_mfcc=40), 40),
    "model's featurizer: 20 MFCCs": featurizer_statistics(FeatureConfig(), 20),
    "model's featurizer + F0 and voicing": featurizer_statistics(FeatureConfig(pitch=True), 42),
    "model's featurizer, 30 LFCC of 60 filters": featurizer_statistics(
        FeatureConfig(n_lfcc=30, n_linear_filters=60), 50),
    "model's featurizer, 64 mel and 64 linear filters, 30 + 30": featurizer_statistics(
        FeatureConfig(n_mels=64, n_mfcc=30, n_linear_filters=64, n_lfcc=30), 60),
    "model's featurizer, 20-4000 Hz": featurizer_statistics(FeatureConfig(fmax_hz=4000.0), 40),
}


def main():
    """Run the comparison."""
    args = comparison_arguments(__doc__, 'baseline_features')
    if args is None:
        return 2
    limit_threads(1)
    data = load_labelled_audio(list(corpora(args.data).values()), LABELS_7, LABEL_MAP_7,
                               RATE_HZ, progress=False)
    corpus_of = np.array(data.corpora)
    results = {}
    for name, statistics in VARIANTS.items():
        started = time.monotonic()
        features = group_standardised(np.stack([statistics(signal)
                                                for signal in data.signals]), data.norm_groups)
        results[name] = leave_one_corpus_out(features, data.label_indices, corpus_of, RATE_HZ)
        print(f'{name}: mean UA {np.mean(list(results[name].values())):.1%} '
              f'({time.monotonic() - started:.0f} s)', flush=True)
    print_comparison('frame features', results)
    with open(args.output, 'w') as stream:
        json.dump(results, stream, indent=1)
    print(f'\n{args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
