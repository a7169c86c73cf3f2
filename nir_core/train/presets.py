"""Named training configurations: CPU-sized defaults, and the paper-sized ones for GPU users.

Every preset is a :class:`TrainConfig`; ``nir-studio train --preset NAME key=value ...`` overrides any field.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from ..models.ndf import NDFConfig
from ..models.point_transformer import PointTransformerConfig
from ..models.point_udf import PointUDFConfig
from .config import TrainConfig

MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"
GEOMETRY_BUNDLE = str(MODELS / "pt-geometry")
"""The bundled geometry-only Point Transformer, which the frozen / unfrozen / context presets start from."""
CONTEXT_SCANS_BUNDLE = str(MODELS / "pt-context-scans")
"""The bundled context model trained on simulated scans, which the colour preset continues."""
NDF_COARSE_BUNDLE = str(MODELS / "ndf-geometry-64")
"""The bundled 64³ NDF, the first stage of the ``ndf-geometry`` preset."""


def scene_encoder() -> PointTransformerConfig:
    """The encoder of the CPU presets, which train on one scene per step: each cloud is normalised by its own
    statistics, in inference as in training (:attr:`PointTransformerConfig.norm_statistics`), because running
    averages over single scenes mislead inference on generated scenes (on real scans it costs some geometry;
    assets/models/README.md has the measurements)."""
    return PointTransformerConfig(norm_statistics="scene")


OBJECT_SETTINGS = {"num_classes": 8, "object_classes": 15, "encoder": {"norm_statistics": "scene"}}
"""The generated objects' model settings (8 material-part classes, a classifier of the 15 object classes, the CPU
presets' per-scene norms): the whole model of the encoder presets, the changes merged onto the ``init_from`` bundle
of the head presets."""


def _cpu(task: str, architecture: str = "point_udf", **over) -> TrainConfig:
    settings = dict(task=task, architecture=architecture, steps=2000, batch_size=1, checkpoint_every=50,
                    val_every=250, out=f"out/train/{architecture}-{task}")
    cfg = TrainConfig(**{**settings, **over})
    cfg.data.count = 512
    # 10,240 input points as the thesis; fewer queries per step than its 50k so a CPU step stays short.
    cfg.data.sampling.num_queries = 16_384
    return cfg


def _objects(task: str, steps: int = 3000, head: bool = False) -> TrainConfig:
    """A generated-objects preset; ``head``: one head trained on a frozen encoder (``init_from=BUNDLE`` given with
    the preset), whose config the object settings are merged onto."""
    model = dict(model_overrides=copy.deepcopy(OBJECT_SETTINGS)) if head else \
        dict(model=PointUDFConfig.from_json(OBJECT_SETTINGS))
    cfg = _cpu(task, steps=steps, lr_decay_start=steps * 3 // 4, val_every=500, out=f"out/train/objects-{task}",
               **model)
    cfg.data.source, cfg.data.count, cfg.data.val_count = "objects", 15 * 200, 30
    # Objects are small: 2,048 encoder points (a fifth of a room's) and 8,192 queries keep a step short.
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 2048, 8192
    return cfg


def _scans(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every encoder input drawn from a simulated scan of the room instead of its whole surface."""
    cfg.data.sampling.scanned_input = 1.0
    return cfg


def _colour(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the contextualiser also reading colour: the examples carry their input's colours, with the
    white balance and brightness changed per example and one example in five without colours."""
    cfg.model_overrides = {**cfg.model_overrides, "context": {**cfg.model_overrides.get("context", {}), "colour": True}}
    cfg.data.sampling.colour = True
    cfg.data.sampling.augment.colour_jitter, cfg.data.sampling.augment.colour_drop = 0.2, 0.2
    return cfg


def _paper(task: str) -> TrainConfig:
    cfg = TrainConfig(task=task, model=PointUDFConfig(encoder=PointTransformerConfig.paper()), steps=100_000,
                      batch_size=12, checkpoint_every=1000, val_every=2000, out=f"out/train/point_udf-{task}-paper")
    cfg.data.count = 20_000
    cfg.data.sampling.num_queries = 50_000  # thesis ch. 6: 10,240 encoder points, 50k decoder queries
    return cfg


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    # 12,000 steps: constant lr, then a cosine decay over the second half.
    "pt-geometry": lambda: _cpu("geometry", steps=12_000, lr_decay_start=6000,
                                model=PointUDFConfig(encoder=scene_encoder())),
    # The geometry bundle's schedule.
    "pt-joint": lambda: _cpu("joint", steps=12_000, lr_decay_start=6000, model=PointUDFConfig(encoder=scene_encoder())),
    "pt-frozen": lambda: _cpu("frozen", init_from=GEOMETRY_BUNDLE),
    # Thesis ch. 6 Table 1: the geometry encoder fine-tuned on cross-entropy alone.
    "pt-unfrozen": lambda: _cpu("unfrozen", init_from=GEOMETRY_BUNDLE),
    # Contextualiser + semantic head on the frozen default geometry bundle (thesis ch. 6 §3.2).
    # The bundle's architecture plus a contextualiser (its other settings stay the bundle's).
    "pt-context": lambda: _cpu("context", init_from=GEOMETRY_BUNDLE, model_overrides={"context": {}}),
    # The same, trained on what users upload: every example's input is a simulated scan of the room (partial,
    # noisy, dense near the camera), while the labels still come from the whole room.
    "pt-context-scans": lambda: _scans(_cpu("context", init_from=GEOMETRY_BUNDLE, model_overrides={"context": {}},
                                            out="out/train/point_udf-context-scans")),
    # pt-context-scans continued with colour as a further input of the contextualiser: its colour weights start at
    # zero (it begins as pt-context-scans), the simulated scans' colours are lit with per-view exposure and noise.
    "pt-context-scans-colour": lambda: _colour(_scans(_cpu("context", init_from=CONTEXT_SCANS_BUNDLE, steps=600,
                                                           lr_decay_start=300, val_every=150,
                                                           out="out/train/point_udf-context-scans-colour"))),
    # NDF in two stages (times and scores in assets/models/README.md). First a 64³ voxel grid plus each voxel's mean
    # point offset (a 9 cm voxel is 3 δ; the offsets carry the sub-voxel position): 2,500 steps, the second half
    # decaying.
    "ndf-geometry-64": lambda: _cpu("geometry", architecture="ndf", steps=2500, lr_decay_start=1250,
                                    model=NDFConfig(input_grid="occupancy+offset"), out="out/train/ndf-geometry-64"),
    # Then the same weights on a 128³ grid, which finds finer detail (convolutions do not care about the grid's
    # size; each voxel now spans 1.5 δ; the rest of the architecture comes from the first stage's bundle): 600 steps
    # from lr 3e-4.
    "ndf-geometry": lambda: _cpu("geometry", architecture="ndf", init_from=NDF_COARSE_BUNDLE, steps=600, lr=3e-4,
                                 lr_decay_start=300, val_every=300, model_overrides={"resolution": 128}),
    # Thesis ch. 5 on generated objects (15 classes, 8 material-part labels): encoders trained for reconstruction
    # alone, with part segmentation or with classification; then a head on each frozen encoder (init_from).
    "objects-geometry": lambda: _objects("geometry"),
    "objects-joint": lambda: _objects("joint"),
    "objects-joint-classify": lambda: _objects("joint-classify"),
    "objects-frozen": lambda: _objects("frozen", steps=1000, head=True),
    "objects-classify": lambda: _objects("classify", steps=1000, head=True),
    "pt-geometry-paper": lambda: _paper("geometry"),
    "pt-joint-paper": lambda: _paper("joint"),
}
"""Preset name -> config factory. ``*-paper`` presets follow the thesis's sizes (for GPUs)."""


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()
