"""Object classification from one pooled global feature per cloud."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ...config import Config
from .base import mlp


@dataclass
class ClassifierHeadConfig(Config):
    """Settings of :class:`ClassifierHead`."""

    in_features: int = 256
    """Channels ``C_g`` of the global feature (``PointTransformerUNet.pooled`` gives twice the coarsest width:
    256 for the default encoder)."""
    hidden: tuple[int, ...] = (256, 128)
    """Hidden widths of the MLP (the Point Transformer classification head uses 256, 128)."""
    num_classes: int = 40
    """Object classes (40 for ModelNet40)."""
    dropout: float = 0.5
    """Dropout after each hidden layer, against overfitting small object datasets; inactive in eval."""

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.in_features < 1 or self.num_classes < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"in_features, num_classes and hidden widths must be >= 1, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class ClassifierHead(nn.Module):
    """MLP from a pooled global feature to class logits.

    Parameters
    ----------
    cfg: widths, classes and dropout; the defaults when None.
    """

    def __init__(self, cfg: ClassifierHeadConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ClassifierHeadConfig()
        self.mlp = mlp(cfg.in_features, cfg.hidden, cfg.num_classes, cfg.dropout)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_g) global features -> (B, num_classes) unnormalised class scores."""
        if x.ndim != 2 or x.shape[-1] != self.cfg.in_features:
            raise ValueError(f"expected (B, {self.cfg.in_features}) global features, got {tuple(x.shape)}")
        return self.mlp(x)
