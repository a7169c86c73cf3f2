"""A small VGG-style 2D CNN on scikit-learn's bundled handwritten digits, and the bit-width search's objective on it
(thesis ch. 3 Table 1 analogue: the paper's CIFAR ResNets replaced by a task that trains in seconds on a CPU).

The 1,797 8 x 8 digit images are upsampled to 32 x 32 and split into train / validation / test (60 / 20 / 20 %,
stratified, seeded). The search scores the validation accuracy; the rows of the benchmark report the test accuracy
too, which the search never sees.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from compress.qat import attach, quantisable_layers

SIZE = 32
"""Side of the upsampled images."""


def digits(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train" | "val" | "test": (images (N, 1, 32, 32) in [0, 1], labels (N,))}."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    y = torch.tensor(data.target, dtype=torch.long)
    index = torch.arange(len(y)).numpy()
    train, rest = train_test_split(index, test_size=0.4, stratify=data.target, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=data.target[rest], random_state=seed)
    return {name: (x[i], y[i]) for name, i in (("train", train), ("val", val), ("test", test))}


class DigitsCNN(nn.Module):
    """Three stages of two 3 x 3 convs (16, 32, 64 channels, batch norm, ReLU) with 2 x 2 max pooling, then a
    64-unit hidden layer and the 10-way classifier: 8 quantisable layers. (N, 1, 32, 32) -> logits (N, 10)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        layers, c_in = [], 1
        for c in channels:
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = SIZE // 2 ** len(channels)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def accuracy(model: nn.Module, split: tuple[torch.Tensor, torch.Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(split[0]).argmax(1) == split[1]).float().mean())


def train(model: nn.Module, split: tuple[torch.Tensor, torch.Tensor], epochs: int, lr: float, seed: int,
          on_epoch=None) -> nn.Module:
    """Adam with a cosine-decayed learning rate, batches of 64, ``on_epoch(epoch)`` after each epoch (QAT: refit
    the codebooks)."""
    x, y = split
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(y) + 63) // 64)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1))
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(y), generator=generator).split(64):
            optimiser.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
            schedule.step()
        if on_epoch:
            on_epoch(epoch)
    return model


def trained(path: Path, data: dict, epochs: int = 30, seed: int = 0) -> DigitsCNN:
    """The float model, trained once and kept at ``path`` (safetensors)."""
    from safetensors.torch import load_file, save_file

    model = DigitsCNN()
    if path.exists():
        model.load_state_dict(load_file(path))
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = train(DigitsCNN(), data["train"], epochs, lr=3e-3, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(model.state_dict(), str(tmp))
    tmp.replace(path)
    return model


@dataclass
class DigitsObjective:
    """Quantise every layer of the float CNN with the schedule's bits (K-means), fine-tune quantisation-aware for
    ``fidelity`` epochs (codebooks refitted after each), score the validation accuracy."""

    model: DigitsCNN
    data: dict
    quantiser: str = "kmeans"
    lr: float = 1e-3
    """Fine-tuning learning rate (cosine-decayed over the fidelity's epochs)."""
    seed: int = 0
    layer_names: list[str] = field(init=False)
    weights: list[int] = field(init=False)
    """Weights of each layer, in schedule order."""

    def __post_init__(self):
        layers = quantisable_layers(self.model)
        self.layer_names = [name for name, _ in layers]
        self.weights = [m.weight.numel() for _, m in layers]
        self.layers = len(layers)

    def quantised(self, bits: list[int], fidelity: int) -> nn.Module:
        model = copy.deepcopy(self.model)
        handle = attach(model, self.quantiser, layer_spec=list(bits))
        if fidelity:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                train(model, self.data["train"], fidelity, self.lr, self.seed, on_epoch=lambda _: handle.repartition())
        return model

    def evaluate(self, bits: list[int], fidelity: int) -> float:
        return accuracy(self.quantised(bits, fidelity), self.data["val"])

    def layer_bits(self, bits: list[int]) -> dict[str, int]:
        return dict(zip(self.layer_names, bits))


__all__ = ["digits", "DigitsCNN", "DigitsObjective", "accuracy", "train", "trained"]
