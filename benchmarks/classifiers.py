"""Small classifiers for the bit-width search benchmark (thesis ch. 3): a VGG-style 2D CNN on scikit-learn's bundled
handwritten digits (Table 1 analogue: the paper's CIFAR ResNets replaced by a task that trains in seconds on a CPU)
and a VoxNet-style 3D CNN on voxelised generated objects, also scored on the ModelNet40 samples of ../shared/data
(Table 3.3 analogue), with the search's objective on either.

Each data set is split into train / validation / test: the search scores the validation accuracy; the benchmark's
rows report the test accuracy too (and ModelNet's), which the search never sees.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compress.qat import attach, quantisable_layers

SIZE = 32
"""Side of the upsampled digit images."""
VOXELS = 32
"""Side of the voxel grids."""


def digits(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The 1,797 8 x 8 digits upsampled to 32 x 32, split 60 / 20 / 20 % (stratified, seeded):
    {"train" | "val" | "test": (images (N, 1, 32, 32) in [0, 1], labels (N,))}."""
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


def voxelise(mesh, points: int = 20_000, seed: int = 0) -> torch.Tensor:
    """(1, 32, 32, 32) occupancy of ``mesh``'s surface, centred and scaled so its longest side spans the grid
    (axes x, y, z: ModelNet's and the generator's z points up)."""
    import trimesh

    surface, _ = trimesh.sample.sample_surface(mesh, points, seed=seed)
    lo, hi = surface.min(0), surface.max(0)
    unit = (surface - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-9) + 0.5  # longest side: [0, 1]
    index = np.clip((unit * VOXELS).astype(int), 0, VOXELS - 1)
    grid = torch.zeros(1, VOXELS, VOXELS, VOXELS)
    grid[0, index[:, 0], index[:, 1], index[:, 2]] = 1.0
    return grid


def voxelised_objects(per_class: tuple[int, int, int] = (40, 10, 10), seed: int = 0
                      ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Generated objects of the 15 classes of :data:`nir_core.data.synthetic.objects.OBJECT_CLASSES`, voxelised,
    ``per_class`` objects each for train / validation / test (disjoint seeds): {split: (grids (N, 1, 32, 32, 32),
    labels (N,))}."""
    from nir_core.data.synthetic.objects import OBJECT_CLASSES, generate_object

    splits, start = {}, seed * 100_000
    for name, count in zip(("train", "val", "test"), per_class):
        grids, labels = [], []
        for cls in OBJECT_CLASSES:
            for i in range(start, start + count):
                mesh, index = generate_object(cls, i)
                grids.append(voxelise(mesh, seed=i))
                labels.append(index)
        splits[name] = (torch.stack(grids), torch.tensor(labels))
        start += count
    return splits


def modelnet_samples(root: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The ModelNet40 meshes of ``root`` (a folder per class) whose class the generator also makes, voxelised:
    (grids (N, 1, 32, 32, 32), labels (N,) as :data:`OBJECT_CLASSES` indices, file names)."""
    import trimesh

    from nir_core.data.synthetic.objects import OBJECT_CLASSES

    grids, labels, names = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name in OBJECT_CLASSES):
        for path in sorted(folder.glob("*.off")):
            grids.append(voxelise(trimesh.load(path, force="mesh", process=False)))
            labels.append(OBJECT_CLASSES.index(folder.name))
            names.append(path.name)
    return torch.stack(grids), torch.tensor(labels), names


class VoxNet(nn.Module):
    """VoxNet (Maturana and Scherer 2015), as the thesis' Table 3.3 uses it: a 5 x 5 x 5 conv of stride 2 and a
    3 x 3 x 3 conv (32 channels each, leaky ReLU), 2 x 2 x 2 max pooling, a 128-unit layer and the classifier:
    4 quantisable layers. (N, 1, 32, 32, 32) -> logits (N, classes)."""

    def __init__(self, classes: int = 15):
        super().__init__()
        self.features = nn.Sequential(nn.Conv3d(1, 32, 5, stride=2), nn.LeakyReLU(0.1), nn.Conv3d(32, 32, 3),
                                      nn.LeakyReLU(0.1), nn.MaxPool3d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 6 ** 3, 128), nn.ReLU(),
                                  nn.Linear(128, classes))

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


def trained(path: Path, make: Callable[[], nn.Module], data: dict, epochs: int = 30, seed: int = 0) -> nn.Module:
    """The float model ``make()`` trained on ``data["train"]`` once and kept at ``path`` (safetensors)."""
    from safetensors.torch import load_file, save_file

    if path.exists():
        model = make()
        model.load_state_dict(load_file(path))
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = train(make(), data["train"], epochs, lr=3e-3, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(model.state_dict(), str(tmp))
    tmp.replace(path)
    return model


@dataclass
class ClassifierObjective:
    """Quantise every layer of a float classifier with the schedule's bits, fine-tune quantisation-aware for
    ``fidelity`` epochs (codebooks refitted after each), score the validation accuracy."""

    model: nn.Module
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


__all__ = ["digits", "voxelised_objects", "modelnet_samples", "DigitsCNN", "VoxNet", "ClassifierObjective",
           "accuracy", "train", "trained"]
