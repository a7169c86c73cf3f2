"""Quantised radiance fields: a NeRF trained with quantisation-aware layers from the first step (Gordon et al.
Algorithm 1: fake-quantised weights, straight-through gradients, codebooks refitted every F steps), written as one
``.nirz`` (codebook + indices per layer, coded by BZIP2, LZMA and the range coder, the smallest kept).

The training loop is :func:`nir_core.nerf.train.train_nerf`; this module only hooks the quantisation into it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from nir_core.bundle import ModelBundle
from nir_core.nerf.model import NeRF, NeRFConfig
from nir_core.nerf.train import ARCHITECTURE, BUNDLE, NerfTrainConfig, train_nerf

from . import codec
from .config import CompressConfig
from .qat_run import QATRun
from .workflow import float32_bytes

NIRZ_NAME = "model.nirz"
"""The quantised file a quantised run writes in its folder."""


def train_quantised(cfg: NerfTrainConfig, quantisation: CompressConfig | None, repartition_every: int = 100,
                    progress: bool = True) -> dict:
    """Trains (or resumes) the NeRF of ``cfg``; with ``quantisation``, quantisation-aware from the first step, and
    writes ``cfg.out/model.nirz``. Returns a report: the bundle, the file, its size by every coder, the float size,
    the final TLQE and the training time (the run's own clock, summed over every resume)."""
    run = QATRun(quantisation, repartition_every) if quantisation is not None else None
    bundle_path = train_nerf(cfg, progress=progress, hooks=run.hooks if run else None)
    bundle = ModelBundle.load(bundle_path, architecture=ARCHITECTURE)
    report = {"bundle": str(bundle_path), "seconds": round(float(bundle.training["seconds"]), 1),
              "float32_bytes": float32_bytes(bundle)}
    if run is None:
        return report
    return {**report, **run.write(bundle, Path(cfg.out) / NIRZ_NAME, source=str(bundle_path))}


def load_nerf(path: str | Path) -> tuple[NeRF, ModelBundle]:
    """The radiance field in a bundle folder (a run's ``bundle/`` or the run folder itself) or a ``.nirz`` file, in
    eval mode, and its bundle (whose ``extra["scene"]`` and ``extra["render"]`` say how to render it)."""
    path = Path(path)
    if path.is_dir() and (path / BUNDLE).is_dir():  # a run folder: its final bundle
        path = path / BUNDLE
    bundle = codec.read(path) if path.suffix == codec.SUFFIX else ModelBundle.load(path, architecture=ARCHITECTURE)
    if bundle.architecture != ARCHITECTURE:
        raise codec.NirzError(path, f"holds a {bundle.architecture!r} model, not a radiance field")
    model = NeRF(NeRFConfig.from_json(bundle.model_config))
    model.load_state_dict({k: v.to(torch.float32) for k, v in bundle.state.items()})
    return model.eval(), bundle


def scored_views(model_path: str | Path, bundle: ModelBundle, split: str, data: str | Path | None = None):
    """The posed images of ``split`` a radiance field is scored on, at the size it was trained at: ``data`` when
    given, else the dataset its training recorded. A relative recorded path is looked up from the working folder,
    then from each folder above ``model_path`` (a project folder moved as a whole, the shipped examples)."""
    from nir_core.data.views import load_views
    from nir_core.errors import NIRStudioError

    recorded = bundle.training.get("config") or {}
    downscale = int(recorded.get("downscale", 1))
    if data is not None:
        return load_views(data, split, downscale)
    source = Path(recorded.get("data", ""))
    if str(source) and str(source) != ".":
        candidates = [source] if source.is_absolute() else [source, *(p / source for p in Path(model_path).resolve().parents)]
        for candidate in candidates:
            if candidate.exists():
                return load_views(candidate, split, downscale)
    raise NIRStudioError(f"{model_path}: the dataset it was trained on ({recorded.get('data') or 'unknown'}) is not "
                         "here; name the dataset folder")
