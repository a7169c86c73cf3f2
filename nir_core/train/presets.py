"""Named training configurations: CPU-sized defaults, and the paper-sized ones for GPU users.

Every preset is a :class:`TrainConfig`; ``nir-studio train --preset NAME key=value ...`` overrides any field.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import TrainConfig

MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"
GEOMETRY_BUNDLE = str(MODELS / "pt-geometry")
"""The bundled geometry-only Point Transformer, which the frozen / unfrozen / context presets start from."""
NDF_COARSE_BUNDLE = str(MODELS / "ndf-geometry-64")
"""The bundled 64³ NDF, the first stage of the ``ndf-geometry`` preset."""

PAPER_ENCODER = {"channels": [32, 64, 128, 256, 512], "blocks": [1, 2, 3, 5, 2]}
SCENE_NORMS = {"norm_statistics": "scene"}
"""Encoder setting of the CPU presets, which train on one scene per step: each cloud is normalised by its own
statistics, in inference too, as in training (PointTransformerConfig.norm_statistics). Running averages over single
scenes misled inference: on held-out generated rooms the labelled bundle's mIoU rose from 0.46 to 0.56 without them
(benchmarks/bench_context.py --table 1). On real scans it cost geometry (README, "Reconstruction from 10k points")."""


def _cpu(task: str, architecture: str = "point_udf", **over) -> TrainConfig:
    cfg = TrainConfig(task=task, architecture=architecture, steps=2000, batch_size=1, checkpoint_every=50,
                      val_every=250, out=f"out/train/{architecture}-{task}")
    cfg.data.count = 512
    # 10,240 input points as the thesis; fewer queries per step than its 50k so a CPU step stays ~1 s.
    cfg.data.sampling.num_queries = 16_384
    for key, value in over.items():
        setattr(cfg, key, value)
    return cfg


def _objects(task: str, steps: int = 3000) -> TrainConfig:
    cfg = _cpu(task, steps=steps, lr_decay_start=steps * 3 // 4, val_every=500, out=f"out/train/objects-{task}")
    cfg.data.source, cfg.data.count, cfg.data.val_count = "objects", 15 * 200, 30
    # Objects are small: 2,048 encoder points (a fifth of a room's) and 8,192 queries keep a step short.
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 2048, 8192
    # materials8 parts, generated object classes.
    cfg.model = {"num_classes": 8, "object_classes": 15, "encoder": dict(SCENE_NORMS)}
    return cfg


def _paper(task: str) -> TrainConfig:
    cfg = TrainConfig(task=task, model={"encoder": dict(PAPER_ENCODER)}, steps=100_000, batch_size=12,
                      checkpoint_every=1000, val_every=2000, out=f"out/train/point_udf-{task}-paper")
    cfg.data.count = 20_000
    cfg.data.sampling.num_queries = 50_000  # thesis ch. 6: 10,240 encoder points, 50k decoder queries
    return cfg


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    # 12,000 steps (~75 min here): constant lr, then a cosine decay over the second half.
    "pt-geometry": lambda: _cpu("geometry", steps=12_000, lr_decay_start=6000, model={"encoder": dict(SCENE_NORMS)}),
    # The geometry bundle's schedule.
    "pt-joint": lambda: _cpu("joint", steps=12_000, lr_decay_start=6000, model={"encoder": dict(SCENE_NORMS)}),
    "pt-frozen": lambda: _cpu("frozen", init_from=GEOMETRY_BUNDLE),
    # Thesis ch. 6 Table 1: the geometry encoder fine-tuned on cross-entropy alone.
    "pt-unfrozen": lambda: _cpu("unfrozen", init_from=GEOMETRY_BUNDLE),
    # Contextualiser + semantic head on the frozen default geometry bundle (thesis ch. 6 §3.2).
    "pt-context": lambda: _cpu("context", init_from=GEOMETRY_BUNDLE, model={"context": {}}),
    # NDF in two stages, 85 min in all on a 2-core Intel Xeon (assets/models/README.md). First a 64³ voxel grid plus
    # each voxel's mean point offset (a 9 cm voxel is 3 δ; the offsets carry the sub-voxel position): 2,500 steps,
    # the second half decaying, 59 min.
    "ndf-geometry-64": lambda: _cpu("geometry", architecture="ndf", steps=2500, lr_decay_start=1250,
                                    model={"input_grid": "occupancy+offset"}, out="out/train/ndf-geometry-64"),
    # Then the same weights on a 128³ grid (convolutions do not care about the grid's size; each voxel now spans
    # 1.5 δ; the rest of the architecture comes from the first stage's bundle): 600 steps from lr 3e-4, 26 min. On
    # ScanNet scene0000_00 F1-δ rose from 0.53 to 0.65.
    "ndf-geometry": lambda: _cpu("geometry", architecture="ndf", init_from=NDF_COARSE_BUNDLE, steps=600, lr=3e-4,
                                 lr_decay_start=300, val_every=300, model={"resolution": 128}),
    # Thesis ch. 5 on generated objects (15 classes, 8 material-part labels): encoders trained for reconstruction
    # alone, with part segmentation or with classification; then a head on each frozen encoder (init_from).
    "objects-geometry": lambda: _objects("geometry"),
    "objects-joint": lambda: _objects("joint"),
    "objects-joint-classify": lambda: _objects("joint-classify"),
    "objects-frozen": lambda: _objects("frozen", steps=1000),
    "objects-classify": lambda: _objects("classify", steps=1000),
    "pt-geometry-paper": lambda: _paper("geometry"),
    "pt-joint-paper": lambda: _paper("joint"),
}
"""Preset name -> config factory. ``*-paper`` presets follow the thesis's sizes (for GPUs)."""


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()
