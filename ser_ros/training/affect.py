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
Arousal and valence as auxiliary training targets.

Across corpora and languages, how activated a voice sounds (arousal) carries over better than
which emotion it is. Every emotion label implies a coarse place in Russell's circumplex: its
arousal (low, middle, high) and valence (negative, neutral, positive). A small head on the
emotion head's hidden layer (:meth:`ser_ros.core.model.BiLSTMClassifier.embed`) learns those
two three-level targets beside the emotions, so that the layer the emotions are read from is
pushed to order the windows by arousal and valence as well. Training only: the bundle keeps
the emotion network alone.
"""

import numpy as np
from ser_ros.training.dataset import DatasetError
import torch
from torch import nn

#: Each emotion of the shared vocabulary (``ser_ros.training.corpora.EMOTIONS``) as (arousal,
#: valence), each -1 (low, negative), 0 (middle, neutral) or 1 (high, positive).
AFFECT = {
    'neutral': (0, 0),
    'calm': (-1, 1),
    'happy': (1, 1),
    'sad': (-1, -1),
    'angry': (1, -1),
    'fearful': (1, -1),
    'disgust': (0, -1),
    'surprised': (1, 0),
    'boredom': (-1, -1),
}
LEVELS = 3


def affect_targets(labels):
    """
    Return each label's arousal and valence class.

    Parameters
    ----------
    labels : list of str
        The model's labels, from the shared vocabulary.

    Returns
    -------
    numpy.ndarray, shape (n_labels, 2), int
        Arousal and valence class of each label, 0 (low, negative) to 2 (high, positive).

    Raises
    ------
    DatasetError
        For a label without a place in :data:`AFFECT`.

    """
    unknown = [label for label in labels if label not in AFFECT]
    if unknown:
        raise DatasetError(f'training.affect_targets: no arousal and valence for {unknown}; '
                           f'known: {sorted(AFFECT)}')
    return np.array([AFFECT[label] for label in labels], dtype=np.int64) + 1


class AffectHead(nn.Module):
    """
    Arousal and valence classifier on the emotion head's hidden layer.

    Parameters
    ----------
    width : int
        Size of the embedding it reads (the emotion head's hidden size).
    labels : list of str
        The model's labels.
    label_indices : numpy.ndarray, shape (n_utterances,), int
        The label of each training utterance.
    weights : numpy.ndarray, shape (n_utterances,), float
        Each training utterance's loss weight (the emotion loss's balancing weights).

    """

    def __init__(self, width, labels, label_indices, weights):
        super().__init__()
        self.targets = torch.from_numpy(affect_targets(labels)[label_indices])
        self.weights = torch.as_tensor(weights, dtype=torch.float32)
        self.classifier = nn.Linear(width, 2 * LEVELS)

    def forward(self, embedded):
        """
        Return the arousal and valence logits of embeddings.

        Parameters
        ----------
        embedded : torch.Tensor, shape (batch, width)
            The emotion head's hidden layer for a batch of windows.

        Returns
        -------
        torch.Tensor, shape (batch, 2, 3)
            Logits of arousal (``[:, 0]``) and valence (``[:, 1]``), low to high.

        """
        return self.classifier(embedded).view(-1, 2, LEVELS)

    def loss(self, logits, utterances):
        """
        Return the weighted cross-entropy of ``logits``, averaged over arousal and valence.

        Parameters
        ----------
        logits : torch.Tensor, shape (batch, 2, 3)
            :meth:`forward`'s output for the batch.
        utterances : torch.Tensor, shape (batch,), int
            Indices of the batch's training utterances.

        """
        per_target = nn.functional.cross_entropy(logits.transpose(1, 2),
                                                 self.targets[utterances], reduction='none')
        return (per_target.mean(dim=1) * self.weights[utterances]).mean()
