"""
The BiLSTM emotion classifier: frames of one window in, logits over the emotion labels out.

A config dataclass holds everything needed to rebuild the network; the model bundle stores
it beside the weights, and inference always rebuilds from it (no pickled modules).
"""

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

POOLINGS = ('attention', 'mean')


@dataclass(frozen=True)
class ModelConfig:
    """
    Architecture of :class:`BiLSTMClassifier`.

    Attributes
    ----------
    n_features : int
        Input features per frame.
    n_labels : int
        Emotion classes.
    hidden_size : int
        LSTM units per direction.
    num_layers : int
        Stacked bidirectional LSTM layers.
    dropout : float
        Dropout between LSTM layers and in the head.
    pooling : str
        ``'attention'`` (learned weights over frames) or ``'mean'`` over time.

    """

    n_features: int
    n_labels: int
    hidden_size: int = 96
    num_layers: int = 2
    dropout: float = 0.3
    pooling: str = 'attention'

    def validate(self):
        """Raise ValueError naming the first invalid setting; return self otherwise."""
        if self.pooling not in POOLINGS:
            raise ValueError(f'pooling {self.pooling!r} not in {POOLINGS}')
        for name in ('n_features', 'n_labels', 'hidden_size', 'num_layers'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f'dropout {self.dropout} outside [0, 1)')
        return self

    def to_dict(self):
        """Return the configuration as plain values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        """Build a configuration from :meth:`to_dict` output, rejecting unknown keys."""
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f'unknown model settings: {sorted(unknown)}')
        return cls(**values).validate()


class BiLSTMClassifier(nn.Module):
    """
    Bidirectional LSTM over frames, pooled over time, then a small classification head.

    Parameters
    ----------
    config : ModelConfig

    """

    def __init__(self, config):
        super().__init__()
        self.config = config.validate()
        self.input_norm = nn.LayerNorm(config.n_features)
        self.lstm = nn.LSTM(config.n_features, config.hidden_size, num_layers=config.num_layers,
                            batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        width = 2 * config.hidden_size
        self.attention = nn.Linear(width, 1) if config.pooling == 'attention' else None
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(width, config.hidden_size), nn.ReLU(),
            nn.Dropout(config.dropout), nn.Linear(config.hidden_size, config.n_labels))

    def forward(self, frames):
        """
        Classify windows.

        Parameters
        ----------
        frames : torch.Tensor, shape (batch, n_frames, n_features), float32
            Normalised model input of each window.

        Returns
        -------
        torch.Tensor, shape (batch, n_labels)
            Logits.

        """
        hidden, _ = self.lstm(self.input_norm(frames))
        if self.attention is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = torch.softmax(self.attention(hidden), dim=1)
            pooled = (weights * hidden).sum(dim=1)
        return self.head(pooled)

    def parameter_count(self):
        """Return the number of trainable parameters."""
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)
