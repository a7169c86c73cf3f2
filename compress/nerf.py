"""Quantised radiance fields: a NeRF trained with quantisation-aware layers from the first step (Gordon et al.
Algorithm 1: fake-quantised weights, straight-through gradients, codebooks refitted every F steps), written as one
``.nirz`` (codebook + indices per layer, coded by BZIP2, LZMA and the range coder, the smallest kept).

The training loop is :func:`nir_core.nerf.train.train_nerf`; this module only hooks the quantisation into it.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from nir_core.atomic import atomic_write_bytes
from nir_core.bundle import ModelBundle
from nir_core.nerf.model import NeRF, NeRFConfig
from nir_core.nerf.train import ARCHITECTURE, BUNDLE, NerfTrainConfig, train_nerf
from nir_core.train.engine import TrainHooks

from . import codec
from .config import CompressConfig
from .qat import QuantisedLayers, RepartitionSchedule, attach
from .workflow import float32_bytes, quantised_tensors

NIRZ_NAME = "model.nirz"
"""The quantised file a quantised run writes in its folder."""


def train_quantised(cfg: NerfTrainConfig, quantisation: CompressConfig | None, repartition_every: int = 100,
                    progress: bool = True) -> dict:
    """Trains (or resumes) the NeRF of ``cfg``; with ``quantisation``, quantisation-aware from the first step, and
    writes ``cfg.out/model.nirz``. Returns a report: the bundle, the file, its size by every coder, the float size,
    the final TLQE and the training time."""
    held: dict = {}
    hooks = TrainHooks()
    if quantisation is not None:
        schedule = RepartitionSchedule(every=repartition_every)

        def on_model(model) -> None:
            q = quantisation
            held["model"] = model
            held["layers"] = attach(model, q.quantiser, q.bits, q.layer_bits, q.codebook_dtype)

        def on_step(step: int, model) -> dict:
            layers: QuantisedLayers = held["layers"]
            return {"tlqe": layers.repartition()} if schedule.due(step, layers) else {}

        hooks = TrainHooks(on_model=on_model, on_step=on_step)
    start = time.perf_counter()
    bundle_path = train_nerf(cfg, progress=progress, hooks=hooks)
    report = {"bundle": str(bundle_path), "seconds": round(time.perf_counter() - start, 1)}
    bundle = ModelBundle.load(bundle_path, architecture=ARCHITECTURE)
    report["float32_bytes"] = float32_bytes(bundle)
    if quantisation is None:
        return report
    layers: QuantisedLayers = held["layers"]
    q = quantisation
    data, header = codec.encode_bundle(bundle, quantised_tensors(held["model"], layers), coder=q.coder,
                                       raw_float=q.raw_float,
                                       extra={"config": q.to_json(), "tlqe": layers.tlqe(), "source": str(bundle_path),
                                              "repartition_every": repartition_every})
    path = atomic_write_bytes(Path(cfg.out) / NIRZ_NAME, data)
    return {**report, "file": str(path), "file_bytes": path.stat().st_size, "coder": header["coder"],
            "coded_sizes": header["coded_sizes"], "tlqe": layers.tlqe()}


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
