"""The configuration of a training run: one dataclass tree, serialisable to JSON, with named presets."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from .data import SceneSamplingConfig


@dataclass
class DataConfig:
    """Where training and validation scenes come from."""

    source: str = "synthetic"
    """``"synthetic"`` (generated rooms), ``"objects"`` (generated single objects, with classes and material-part
    labels) or ``"files"`` (scans read from ``paths``)."""
    count: int = 512
    """Generated rooms or objects for training."""
    seed: int = 0
    """Seed of the first training room."""
    paths: list[str] = field(default_factory=list)
    """Files or folders of scans (``source="files"``)."""
    val_count: int = 4
    """Held-out generated rooms or objects for validation (seeds from ``val_seed``)."""
    val_seed: int = 100_000
    """Seed of the first validation room: far from the training range so they never overlap."""
    val_paths: list[str] = field(default_factory=list)
    """Files for validation instead of generated rooms."""
    sampling: SceneSamplingConfig = field(default_factory=SceneSamplingConfig)
    """Input points and queries per example."""


@dataclass
class TrainConfig:
    """A training run."""

    task: str = "geometry"
    """One of the registered tasks (geometry, joint, frozen, unfrozen, ...)."""
    architecture: str = "point_udf"
    """Registered architecture name."""
    model: dict = field(default_factory=dict)
    """The architecture's config as JSON (its defaults when empty)."""
    init_from: str | None = None
    """A bundle whose weights initialise the model (required by ``frozen`` and ``context``). With ``model`` set
    too, the bundle's architecture is changed by those settings (e.g. ``{"context": {}}`` adds a contextualiser)
    and every weight whose name and shape still match is loaded."""
    data: DataConfig = field(default_factory=DataConfig)
    """Scenes."""
    steps: int = 2000
    """Optimiser steps."""
    batch_size: int = 2
    """Scenes per step and process."""
    lr: float = 1e-3
    """Adam learning rate (thesis ch. 6)."""
    lr_decay_start: int = 0
    """Step from which the learning rate follows a cosine from ``lr`` down to ``lr_min`` at ``steps``
    (0: constant). A pure function of the step, so a resumed run follows the same schedule."""
    lr_min: float = 1e-5
    """Learning rate reached at the last step when ``lr_decay_start`` is set."""
    seed: int = 0
    """Seeds initialisation, batch order and sampling."""
    out: str = "out/train"
    """Run folder: ``checkpoint/`` (resumable), ``bundle/`` (final), ``log.jsonl``."""
    checkpoint_every: int = 100
    """Steps between checkpoints."""
    val_every: int = 200
    """Steps between validations (0: only at the end)."""
    resume: bool = True
    """Continue from ``out/checkpoint`` when it exists."""
    threads: int = 0
    """torch intra-op threads per process (0: leave torch's default)."""

    def lr_at(self, step: int) -> float:
        """The learning rate for optimiser step ``step`` (0-based)."""
        if not self.lr_decay_start or step < self.lr_decay_start or self.steps <= self.lr_decay_start:
            return self.lr
        t = min(1.0, (step - self.lr_decay_start) / (self.steps - self.lr_decay_start))
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + math.cos(math.pi * t))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        return _from_dict(cls, d)

    @property
    def out_dir(self) -> Path:
        return Path(self.out)


def _from_dict(cls, d: dict):
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        value = d[f.name]
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value)
        elif f.name in ("sigmas", "ratios") and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
    return cls(**kwargs)


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``["steps=50", "data.count=8", "model.channels=[16,32]"]`` -> a new config (values parsed as JSON when
    they parse, else kept as strings)."""
    import json

    d = cfg.to_json()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"override {key!r}: {p!r} is not a section")
            node = node[p]
        if parts[-1] not in node and parts[0] != "model":
            raise ValueError(f"override {key!r}: no such setting")
        node[parts[-1]] = value
    return TrainConfig.from_json(d)
