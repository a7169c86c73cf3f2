"""An image stored as a network (COIN, Dupont et al. 2021; Gordon et al. §4.1): an MLP from pixel coordinates to
colours, fitted to one image, so the image's file is the network's weights.

The defaults are Gordon et al.'s CIFAR setting (one hidden layer of 20 sine units, ω = 30); COIN's Kodak settings
are wider and deeper (e.g. ``hidden_layers=10 width=28``). Every weight sits in an ``nn.Linear``, so the
quantisation-aware layers and the ``.nirz`` codec of ``compress/`` take it as any model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..config import Config, bounded, check_ranges
from ..image_metrics import image_metrics, mse_to_psnr
from ..train.engine import TrainHooks
from .fitting import FitConfig
from .layers import Sine, positional_encoding, siren_init

ARCHITECTURE = "image_inr"
ACTIVATIONS = ("sine", "relu")


@dataclass
class ImageINRConfig(Config):
    """Architecture of :class:`ImageINR`."""

    hidden_layers: int = bounded(1, 0)
    """Hidden layers (Gordon et al.'s CIFAR network: 1)."""
    width: int = bounded(20, 1)
    """Units per hidden layer (Gordon et al.'s CIFAR network: 20)."""
    activation: str = "sine"
    """``"sine"`` (SIREN, ``omega``) or ``"relu"`` (with ``frequencies`` of positional encoding)."""
    omega: float = bounded(30.0, 0.0)
    """The sine's frequency factor ω (the paper: 30)."""
    frequencies: int = bounded(0, 0)
    """Octaves of positional encoding of the coordinates (a ReLU network needs some; SIREN none)."""

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        check_ranges(self)


class ImageINR(nn.Module):
    """(M, 2) coordinates in [-1, 1] (x, y) -> (M, 3) colours (unbounded; clamp to [0, 1] to show)."""

    def __init__(self, cfg: ImageINRConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ImageINRConfig()
        act = (lambda: Sine(cfg.omega)) if cfg.activation == "sine" else (lambda: nn.ReLU(inplace=True))
        width_in = 2 * (1 + 2 * cfg.frequencies)
        layers: list[nn.Module] = []
        for _ in range(cfg.hidden_layers + 1):
            layers += [nn.Linear(width_in, cfg.width), act()]
            width_in = cfg.width
        layers.append(nn.Linear(width_in, 3))
        self.net = nn.Sequential(*layers)
        if cfg.activation == "sine":
            siren_init(self, cfg.omega)

    def forward(self, coords: Tensor) -> Tensor:
        return self.net(positional_encoding(coords, self.cfg.frequencies))

    def render(self, height: int, width: int, chunk: int = 65_536) -> Tensor:
        """(H, W, 3) the image the network holds, clamped to [0, 1]."""
        coords = pixel_coordinates(height, width)
        with torch.no_grad():
            rows = [self(coords[i:i + chunk]) for i in range(0, len(coords), chunk)]
        return torch.cat(rows).reshape(height, width, 3).clamp(0, 1)


def pixel_coordinates(height: int, width: int) -> Tensor:
    """(H * W, 2) pixel centres in [-1, 1], row-major, (x, y) order."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], -1).reshape(-1, 2)


@dataclass
class ImageFitConfig(FitConfig):
    """Fitting one image."""

    model: ImageINRConfig = field(default_factory=ImageINRConfig)
    """The network."""
    steps: int = bounded(2000, 1)
    """Optimiser steps (COIN: 50,000 on a GPU)."""
    lr: float = bounded(2e-4, 0.0)
    """Adam's learning rate (COIN: 2e-4; Gordon et al.: 1e-4)."""
    batch_pixels: int = bounded(0, 0)
    """Pixels per step drawn at random (0: every pixel every step, as COIN)."""
    seed: int = bounded(0, 0)
    """Seeds the initial weights and the pixel batches."""


def fit_image(image: np.ndarray, cfg: ImageFitConfig, hooks: TrainHooks | None = None,
              progress: bool = True) -> tuple[ImageINR, dict]:
    """Fits an :class:`ImageINR` to ``image`` (H, W, 3) in [0, 1]. ``hooks`` as the training engine's (``compress``
    attaches quantisation-aware layers through them). Returns the network after the last step, in eval mode, and a
    report (PSNR / SSIM / gradient PSNR of the image it holds, steps, time)."""
    hooks = hooks or TrainHooks()
    # torch's thread count is the calling program's (nir_core.cpu): a fit may run beside other work, e.g. in a server.
    target = torch.as_tensor(np.asarray(image, np.float32))
    if target.ndim != 3 or target.shape[-1] != 3:
        raise ValueError(f"an image must be (H, W, 3), got {tuple(target.shape)}")
    h, w = target.shape[:2]
    coords, colours = pixel_coordinates(h, w), target.reshape(-1, 3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ImageINR(cfg.model)
    if hooks.on_model:
        hooks.on_model(model)
    optimiser = cfg.optimiser(model.parameters())
    generator = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="fit image", unit="step", disable=not progress)
    for step in bar:
        if cfg.batch_pixels:
            pick = torch.randint(len(coords), (cfg.batch_pixels,), generator=generator)
            pred, want = model(coords[pick]), colours[pick]
        else:
            pred, want = model(coords), colours
        mse = torch.mean((pred - want) ** 2)
        loss = cfg.objective(mse)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if hooks.on_step:
            hooks.on_step(step + 1, model)
        bar.set_postfix(psnr=f"{mse_to_psnr(float(mse.detach())):.2f}")
    model.eval()
    held = model.render(h, w)
    report = {**image_metrics(held, target), "steps": cfg.steps, "seconds": round(time.perf_counter() - start, 2),
              "height": h, "width": w, "parameters": sum(p.numel() for p in model.parameters())}
    return model, report
