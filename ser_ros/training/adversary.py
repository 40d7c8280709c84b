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
Domain-adversarial training against the corpus (Ganin and Lempitsky, 2015).

A small classifier learns to tell the training corpora apart from what the emotion head
decides from (:meth:`ser_ros.core.model.BiLSTMClassifier.embed`); its gradient reaches the
network reversed, so that the network learns to make the corpora indistinguishable there: the
language, the microphone and the acting style of a corpus are what a model trained on three
corpora must not lean on when it meets a fourth. Training only: the bundle keeps the emotion
network alone.
"""

import math

import numpy as np
import torch
from torch import nn


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times ``-scale`` backward."""

    @staticmethod
    def forward(context, inputs, scale):
        """Return ``inputs`` unchanged; remember ``scale``."""
        context.scale = scale
        return inputs.view_as(inputs)

    @staticmethod
    def backward(context, gradient):
        """Return the reversed, scaled gradient (none for ``scale``)."""
        return -context.scale * gradient, None


def reversal_scale(strength, progress):
    """
    Return the reversal's scale at a point of training.

    The scale ramps from 0 to ``strength`` as ``2 / (1 + exp(-10 p)) - 1`` (Ganin and
    Lempitsky's schedule), so that the adversary first learns the corpora before the network
    is pushed to hide them.

    Parameters
    ----------
    strength : float
        The scale at the end of training.
    progress : float
        Share of the training steps done, in [0, 1].

    """
    return strength * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


class CorpusAdversary(nn.Module):
    """
    Corpus classifier behind a gradient reversal.

    Parameters
    ----------
    width : int
        Size of the embedding it reads (the emotion head's hidden size).
    corpora : list of str
        The corpus of each training utterance; the classes are its distinct values.

    """

    def __init__(self, width, corpora):
        super().__init__()
        self.names = sorted(set(corpora))
        index = {name: position for position, name in enumerate(self.names)}
        self.targets = torch.tensor([index[name] for name in corpora], dtype=torch.long)
        counts = np.bincount(self.targets.numpy(), minlength=len(self.names))
        # Balanced: every corpus weighs the same, however many utterances it has.
        self.loss_function = nn.CrossEntropyLoss(
            weight=torch.from_numpy(len(corpora) / (len(self.names) * counts)).float())
        self.classifier = nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                        nn.Linear(width, len(self.names)))

    def forward(self, embedded, scale):
        """
        Return the corpus logits of embeddings, reversing their gradient by ``scale``.

        Parameters
        ----------
        embedded : torch.Tensor, shape (batch, width)
            The emotion head's hidden layer for a batch of windows.
        scale : float
            The reversal's scale now (:func:`reversal_scale`).

        Returns
        -------
        torch.Tensor, shape (batch, n_corpora)

        """
        return self.classifier(GradientReversal.apply(embedded, scale))

    def loss(self, logits, utterances):
        """
        Return the corpus-balanced cross-entropy of ``logits`` for ``utterances``.

        Parameters
        ----------
        logits : torch.Tensor, shape (batch, n_corpora)
            :meth:`forward`'s output for the batch.
        utterances : torch.Tensor, shape (batch,), int
            Indices of the batch's training utterances.

        """
        return self.loss_function(logits, self.targets[utterances])
