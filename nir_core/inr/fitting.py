"""What fitting any coordinate network (a radiance field, an image) shares: Adam's settings and the loss, MSE or
log-MSE (Gordon et al. §5: log10 of the MSE, i.e. the PSNR optimised directly)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import Config, bounded, check_ranges

LOSSES = ("mse", "log-mse")


@dataclass
class FitConfig(Config):
    """The optimiser and loss of a fit (the base of the NeRF's and the image's training configs)."""

    lr: float = bounded(5e-4, 0.0)
    """Adam's learning rate at the start."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's betas (Gordon et al.: 0.99, 0.999)."""
    weight_decay: float = bounded(0.0, 0.0)
    """Adam's weight decay (Gordon et al.: 1e-8)."""
    loss: str = "mse"
    """``"mse"``, or ``"log-mse"`` (log10 of the MSE: the PSNR optimised directly, Gordon et al. §5)."""

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        self.betas = tuple(self.betas)
        check_ranges(self)

    def optimiser(self, parameters) -> torch.optim.Adam:
        return torch.optim.Adam(parameters, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)

    def objective(self, mse: Tensor) -> Tensor:
        """The loss minimised, from the batch's mean squared error."""
        return torch.log10(mse) if self.loss == "log-mse" else mse
