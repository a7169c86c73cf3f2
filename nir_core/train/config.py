"""The configuration of a training run: one dataclass tree, serialisable to JSON, with named presets."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, bounded, check_ranges
from ..models.registry import config_class
from .data import SceneSamplingConfig


@dataclass
class DataConfig(Config):
    """Where training and validation scenes come from."""

    source: str = "synthetic"
    """``"synthetic"`` (generated rooms), ``"objects"`` (generated single objects, with classes and material-part
    labels) or ``"files"`` (scans read from ``paths``)."""
    count: int = bounded(512, 1)
    """Generated rooms or objects for training."""
    seed: int = 0
    """Seed of the first training room."""
    paths: list[str] = field(default_factory=list)
    """Files or folders of scans (``source="files"``)."""
    val_count: int = bounded(4, 0)
    """Held-out generated rooms or objects for validation (seeds from ``val_seed``)."""
    val_seed: int = 100_000
    """Seed of the first validation room: far from the training range so they never overlap."""
    val_paths: list[str] = field(default_factory=list)
    """Files for validation instead of generated rooms."""
    sampling: SceneSamplingConfig = field(default_factory=SceneSamplingConfig)
    """Input points and queries per example."""

    def __post_init__(self):
        check_ranges(self)


@dataclass
class TrainConfig(Config):
    """A training run."""

    task: str = "geometry"
    """One of the registered tasks (geometry, joint, frozen, unfrozen, ...)."""
    architecture: str = "point_udf"
    """Registered architecture name."""
    model: Config | None = None
    """The architecture's config, an instance of its registered class (``PointUDFConfig`` for ``point_udf``,
    ``NDFConfig`` for ``ndf``; :func:`nir_core.models.registry.config_class`). None: the ``init_from`` bundle's
    config, or without one the architecture's defaults. Set together with ``init_from``, it replaces the bundle's
    architecture, and every weight whose name and shape still match is loaded."""
    model_overrides: dict = field(default_factory=dict)
    """Partial settings of the architecture's config as JSON, merged (nested sections key by key) onto the
    architecture ``model`` stands for: above all onto the ``init_from`` bundle's config, whose other settings stay,
    e.g. ``{"context": {}}`` adds a contextualiser to a geometry bundle and ``{"resolution": 128}`` regrids an NDF.
    ``model.KEY=VALUE`` overrides land here when ``model`` is None and ``init_from`` is set."""
    init_from: str | None = None
    """A bundle whose weights initialise the model (required by ``frozen`` and ``context``). With
    ``model_overrides`` (or ``model``) set too, the bundle's architecture is changed by those settings and every
    weight whose name and shape still match is loaded; the rest start fresh."""
    data: DataConfig = field(default_factory=DataConfig)
    """Scenes."""
    steps: int = bounded(2000, 0)
    """Optimiser steps."""
    batch_size: int = bounded(2, 1)
    """Scenes per step and process."""
    lr: float = 1e-3
    """Adam learning rate (thesis ch. 6)."""
    lr_decay_start: int = bounded(0, 0)
    """Step from which the learning rate follows a cosine from ``lr`` down to ``lr_min`` at ``steps``
    (0: constant). A pure function of the step, so a resumed run follows the same schedule."""
    lr_min: float = 1e-5
    """Learning rate reached at the last step when ``lr_decay_start`` is set."""
    seed: int = 0
    """Seeds initialisation, batch order and sampling."""
    out: str = "out/train"
    """Run folder: ``checkpoint/`` (resumable), ``bundle/`` (final), ``log.jsonl``."""
    checkpoint_every: int = bounded(100, 1)
    """Steps between checkpoints."""
    val_every: int = bounded(200, 0)
    """Steps between validations (0: only at the end)."""
    resume: bool = True
    """Continue from ``out/checkpoint`` when it exists."""
    threads: int = bounded(0, 0)
    """torch intra-op threads per process (0: leave torch's default)."""

    def lr_at(self, step: int) -> float:
        """The learning rate for optimiser step ``step`` (0-based)."""
        if not self.lr_decay_start or step < self.lr_decay_start or self.steps <= self.lr_decay_start:
            return self.lr
        t = min(1.0, (step - self.lr_decay_start) / (self.steps - self.lr_decay_start))
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + math.cos(math.pi * t))

    def __post_init__(self):
        check_ranges(self)
        if self.model is not None or self.model_overrides:
            cls = config_class(self.architecture)
            if self.model is not None and not isinstance(self.model, cls):
                raise ValueError(f"model is a {type(self.model).__name__}; architecture {self.architecture!r} takes a "
                                 f"{cls.__name__}")
            cls.check_partial(self.model_overrides, path="model_overrides")

    @classmethod
    def from_json(cls, data: Mapping, *, path: str = "") -> TrainConfig:
        """The run ``data`` describes; ``model`` is read as the config class of its ``architecture``.

        A config written before ``model_overrides`` existed gave, with ``init_from``, only the changes to the
        bundle's config as ``model``: those are read as ``model_overrides``, as they were meant."""
        data = dict(data) if isinstance(data, Mapping) else data
        model = data.get("model") if isinstance(data, Mapping) else None
        if isinstance(model, Mapping):
            if "model_overrides" not in data and data.get("init_from"):
                data["model"], data["model_overrides"] = None, dict(model)
            else:
                architecture = data.get("architecture", cls.architecture)
                where = f"{path}.model" if path else "model"
                data["model"] = config_class(architecture).from_json(model, path=where)
        return super().from_json(data, path=path)

    def with_overrides(self, overrides: Iterable[str]) -> TrainConfig:
        """As :meth:`Config.with_overrides`; ``model.KEY=VALUE`` changes ``model`` (the architecture's defaults first
        when it is None), or, when ``model`` is None and ``init_from`` is set, joins ``model_overrides``: the
        bundle's config is only known when the run starts."""
        overrides = list(overrides)
        to_model = [item for item in overrides if item.startswith("model.")]
        cfg = super().with_overrides([item for item in overrides if not item.startswith("model.")])
        if not to_model:
            return cfg
        if cfg.model is None and cfg.init_from:
            to_model = ["model_overrides." + item[len("model."):] for item in to_model]
        elif cfg.model is None:
            cfg.model = config_class(cfg.architecture)()
        return Config.with_overrides(cfg, to_model)

    @property
    def out_dir(self) -> Path:
        return Path(self.out)


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``["steps=50", "data.count=8", "model.encoder.channels=[16,32]"]`` -> a new config (values parsed as JSON
    when they parse, else kept as strings); see :meth:`TrainConfig.with_overrides`."""
    return cfg.with_overrides(overrides)
