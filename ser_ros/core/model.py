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
The BiLSTM emotion classifier: frames of one window in, logits over the emotion labels out.

A config dataclass holds everything needed to rebuild the network; the model bundle stores
it beside the weights, and inference always rebuilds from it (no pickled modules).
"""

from dataclasses import asdict, dataclass

from ser_ros.core.config_io import from_plain
import torch
from torch import nn

POOLINGS = ('attention', 'mean', 'attention_stats')
#: Largest believable size of each dimension: checked before anything is allocated, so that a
#: damaged or hostile bundle cannot ask for gigabytes.
SIZE_LIMITS = {'n_features': 1024, 'n_labels': 256, 'hidden_size': 2048, 'num_layers': 8,
               'conv_channels': 2048, 'frame_stride': 32}
#: Widest speech encoder embedding a bundle may ask for.
MAX_ENCODER_WIDTH = 4096


@dataclass(frozen=True)
class ModelConfig:
    """
    Architecture of :class:`BiLSTMClassifier`.

    Attributes
    ----------
    n_features : int
        Input features per frame (the trainer sets it from the feature configuration).
    n_labels : int
        Emotion classes (the trainer sets it from the labels).
    hidden_size : int
        LSTM units per direction.
    num_layers : int
        Stacked bidirectional LSTM layers.
    dropout : float
        Dropout between LSTM layers and in the head.
    pooling : str
        ``'attention'`` (learned weights over frames), ``'mean'`` over time, or
        ``'attention_stats'``: attention pooling beside the mean and standard deviation of the
        window's normalised input features over time (the statistics an SVM on MFCC
        statistics decides from).
    conv_channels : int
        Channels of the convolutional front end that summarises neighbouring frames.
    frame_stride : int
        Frames per LSTM step: the front end's stride. 3 runs the LSTM at 33 steps per second
        of audio, a third of the cost of one step per 10 ms frame.
    frame_norm : bool
        Layer-normalise each frame across its features before the front end. It removes the
        frame's level relative to the speaker's, which carries arousal; the inputs are
        already standardised per speaker. True in bundles trained before it was optional.
    statistics_head : float
        Weight ``w`` of the statistics head: a linear classifier on the window's input
        statistics (:func:`window_statistics`), fitted after the network
        (``ser_ros.training.statistics_head``) and mixed with it in log probability,
        ``(1 - w) * network + w * head``. 0 (bundles before it): no head, the network's logits.
    encoder_head : float
        Weight ``v`` of the encoder head: a linear classifier on the window's speech encoder
        embedding (``feature_config.encoder_layers``, standardised per speaker by the
        recogniser), fitted after the network (``ser_ros.training.encoder_head``) and mixed
        with the rest in log probability, ``(1 - v) * rest + v * head``. 0: no encoder head.
    encoder_width : int
        Values of the embedding it reads (512 for Whisper base); 0 without an encoder head.

    """

    n_features: int = 0
    n_labels: int = 0
    hidden_size: int = 96
    num_layers: int = 2
    dropout: float = 0.3
    pooling: str = 'attention'
    conv_channels: int = 64
    frame_stride: int = 3
    frame_norm: bool = True
    statistics_head: float = 0.0
    encoder_head: float = 0.0
    encoder_width: int = 0

    def validate(self) -> 'ModelConfig':
        """Raise ValueError naming the first invalid setting; return self otherwise."""
        if self.pooling not in POOLINGS:
            raise ValueError(f'pooling {self.pooling!r} not in {POOLINGS}')
        for name, largest in SIZE_LIMITS.items():
            if not 1 <= getattr(self, name) <= largest:
                raise ValueError(f'{name} {getattr(self, name)} outside 1..{largest}')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f'dropout {self.dropout} outside [0, 1)')
        if not 0.0 <= self.statistics_head < 1.0:
            raise ValueError(f'statistics_head {self.statistics_head} outside [0, 1)')
        if not 0.0 <= self.encoder_head < 1.0:
            raise ValueError(f'encoder_head {self.encoder_head} outside [0, 1)')
        if not 0 <= self.encoder_width <= MAX_ENCODER_WIDTH or \
                (self.encoder_head > 0) != (self.encoder_width > 0):
            raise ValueError(f'encoder_width {self.encoder_width} must be in '
                             f'1..{MAX_ENCODER_WIDTH} with an encoder head and 0 without')
        return self

    def to_dict(self) -> dict:
        """Return the configuration as plain values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> 'ModelConfig':
        """Build a configuration from :meth:`to_dict` output, rejecting unknown keys."""
        return from_plain(cls, values, 'model_config').validate()


def window_statistics(frames: torch.Tensor) -> torch.Tensor:
    """
    Return what the statistics head decides from: each feature's level and movement.

    Parameters
    ----------
    frames : torch.Tensor, shape (batch, n_frames, n_features), float32
        Normalised model input of each window (at least two frames).

    Returns
    -------
    torch.Tensor, shape (batch, 3 * n_features)
        Per feature: mean and standard deviation over time, and the standard deviation of its
        frame-to-frame differences.

    """
    return torch.cat([frames.mean(dim=1), time_std(frames), time_std(frames.diff(dim=1))], dim=1)


def time_std(frames: torch.Tensor) -> torch.Tensor:
    """
    Return the standard deviation over time (population, two-pass) of each feature.

    Parameters
    ----------
    frames : torch.Tensor, shape (batch, n_frames, n_features)
        Consecutive frames of each window.

    Returns
    -------
    torch.Tensor, shape (batch, n_features)

    Notes
    -----
    ``Tensor.std(dim=1)`` gives the same to float precision, four times slower on CPU for
    windows this size (60 against 16 us for 200 frames of 40 features): the node computes
    three of these a window.

    """
    centred = frames - frames.mean(dim=1, keepdim=True)
    return centred.square().mean(dim=1).sqrt()


class BiLSTMClassifier(nn.Module):
    """
    Strided convolution over frames, bidirectional LSTM, pooling over time, classifier head.

    Parameters
    ----------
    config : ModelConfig

    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config.validate()
        self.input_norm = nn.LayerNorm(config.n_features) if config.frame_norm else nn.Identity()
        stride = config.frame_stride
        self.front_end = nn.Sequential(
            nn.Conv1d(config.n_features, config.conv_channels, kernel_size=2 * stride + 1,
                      stride=stride, padding=stride),
            nn.ReLU())
        self.lstm = nn.LSTM(config.conv_channels, config.hidden_size,
                            num_layers=config.num_layers,
                            batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        width = 2 * config.hidden_size
        self.attention = nn.Linear(width, 1) if config.pooling != 'mean' else None
        self.input_statistics = config.pooling == 'attention_stats'
        if self.input_statistics:
            width += 2 * config.n_features
        # One Sequential, so that bundles keep their weight names: its first three layers are
        # the hidden layer (embed), its last two the output layer (output).
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(width, config.hidden_size), nn.ReLU(),
            nn.Dropout(config.dropout), nn.Linear(config.hidden_size, config.n_labels))
        self.statistics_head = (nn.Linear(3 * config.n_features, config.n_labels)
                                if config.statistics_head > 0 else None)
        self.encoder_head = (nn.Linear(config.encoder_width, config.n_labels)
                             if config.encoder_head > 0 else None)

    def forward(self, frames: torch.Tensor,
                embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """
        Classify windows.

        Parameters
        ----------
        frames : torch.Tensor, shape (batch, n_frames, n_features), float32
            Normalised model input of each window.
        embeddings : torch.Tensor, shape (batch, encoder_width), float32, optional
            Standardised speech encoder embedding of each window; required with an encoder
            head, ignored without.

        Returns
        -------
        torch.Tensor, shape (batch, n_labels)
            Logits: the network's, or with heads the mixed log probabilities.

        Raises
        ------
        ValueError
            When the model has an encoder head and no embeddings are given.

        """
        logits = self.output(self.embed(frames))
        if self.statistics_head is not None:
            weight = self.config.statistics_head
            logits = ((1 - weight) * torch.log_softmax(logits, dim=1)
                      + weight * torch.log_softmax(
                          self.statistics_head(window_statistics(frames)), dim=1))
        if self.encoder_head is None:
            return logits
        if embeddings is None:
            raise ValueError("this model has an encoder head: give the windows' embeddings")
        weight = self.config.encoder_head
        return ((1 - weight) * torch.log_softmax(logits, dim=1)
                + weight * torch.log_softmax(self.encoder_head(embeddings), dim=1))

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """
        Return what the output layer decides from: the head's hidden layer.

        Parameters
        ----------
        frames : torch.Tensor, shape (batch, n_frames, n_features), float32
            Normalised model input of each window.

        Returns
        -------
        torch.Tensor, shape (batch, hidden_size)
            The head's activations before its last dropout and linear layer (the trainer's
            corpus adversary reads them).

        """
        steps = self.front_end(self.input_norm(frames).transpose(1, 2)).transpose(1, 2)
        hidden, _ = self.lstm(steps)
        if self.attention is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = torch.softmax(self.attention(hidden), dim=1)
            pooled = (weights * hidden).sum(dim=1)
        if self.input_statistics:
            pooled = torch.cat([pooled, frames.mean(dim=1), time_std(frames)], dim=1)
        return self.head[:3](pooled)

    def output(self, embedded: torch.Tensor) -> torch.Tensor:
        """
        Return the logits of windows from :meth:`embed`'s output.

        Parameters
        ----------
        embedded : torch.Tensor, shape (batch, hidden_size)
            What :meth:`embed` returned for the windows.

        Returns
        -------
        torch.Tensor, shape (batch, n_labels)

        """
        return self.head[3:](embedded)

    def parameter_count(self) -> int:
        """Return the number of trainable parameters."""
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)
