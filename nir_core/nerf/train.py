"""Training a radiance field on posed images: random batches of rays from every training pixel, MSE (or log-MSE)
on the rendered colours, Adam with an exponential learning-rate decay, periodic validation renders, checkpoints
and exact resume (re-running the same command continues the run in ``out``).

The run folder: ``config.json``, ``log.jsonl`` (one record per step), ``checkpoint/`` (bundle + optimiser state),
``val/stepNNNNNN.png`` (validation renders beside their ground truth) and, at the end, ``bundle/``: a
:class:`~nir_core.bundle.ModelBundle` of architecture ``"nerf"`` whose ``extra["scene"]`` tells a renderer the
scene's bounds and background, so it renders without the dataset.

Quantisation-aware training plugs in through :class:`~nir_core.train.engine.TrainHooks` (``compress/`` attaches
its fake-quantised layers in ``on_model`` and refits the codebooks in ``on_step``); this loop knows nothing of it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_write_json
from ..bundle import ModelBundle
from ..config import bounded
from ..cpu import CpuTuning, applied
from ..data.views import PosedViews, ViewsError, load_views
from ..image_metrics import image_metrics, mse_to_psnr
from ..inr.fitting import FitConfig
from ..train.checkpoint import TRAIN_STATE, load_train_state, save_train_state, truncate_log
from ..train.engine import TrainHooks
from .model import NeRF, NeRFConfig
from .paths import orbit_of
from .rays import all_rays, view_rays
from .render import RenderConfig, render_chunked, render_rays

ARCHITECTURE = "nerf"
CHECKPOINT, BUNDLE = "checkpoint", "bundle"


@dataclass
class NerfTrainConfig(FitConfig):
    """One radiance-field training run. The defaults fit a CPU; the paper's settings are in :func:`paper_config`."""

    data: str = ""
    """The dataset: a folder (Blender, transforms.json, LLFF) or a tiny-NeRF ``.npz`` (:func:`load_views`)."""
    downscale: int = bounded(1, 1)
    """Shrink every image by this whole factor (intrinsics follow)."""
    model: NeRFConfig = field(default_factory=NeRFConfig)
    """The network."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """Samples per ray and chunking."""
    steps: int = bounded(5000, 1)
    """Optimiser steps."""
    batch_rays: int = bounded(1024, 1)
    """Rays per step, drawn at random from every training pixel."""
    lr: float = bounded(2e-3, 0.0)
    """Adam's learning rate at the start (higher than an image fit's: a few thousand CPU steps reach far more with it,
    docs/findings.md "Quantised NeRFs")."""
    lr_final: float = bounded(1e-4, 0.0)
    """The learning rate at the last step (exponential decay from ``lr``; equal to ``lr``: constant)."""
    val_every: int = bounded(500, 0)
    """Render the validation views every this many steps (0: only at the end)."""
    val_views: int = bounded(1, 0)
    """Validation views rendered (from the ``val`` split, else ``test``)."""
    checkpoint_every: int = bounded(250, 1)
    """Checkpoint every this many steps (and at the end)."""
    seed: int = bounded(0, 0)
    """Seeds the initial weights and each step's rays and sample jitter (step s draws from seed [seed, s])."""
    out: str = "out/nerf"
    """The run folder."""
    threads: int = bounded(0, 0)
    """torch's threads while the run lasts (0: the process's setting)."""

    def lr_at(self, step: int) -> float:
        """Exponential decay from ``lr`` at step 0 to ``lr_final`` at the last step."""
        if self.lr_final <= 0 or self.lr <= 0:
            return self.lr
        return self.lr * (self.lr_final / self.lr) ** (step / max(1, self.steps))


def paper_config(**over) -> NerfTrainConfig:
    """Gordon et al. §3.3 / §4.3: 4 x 64 ReLU NeRF with positional encoding, 64 samples, no hierarchical sampling,
    Adam 1e-4 with betas (0.99, 0.999) and weight decay 1e-8, 200,000 steps (a GPU's budget)."""
    return NerfTrainConfig(**{"lr": 1e-4, "lr_final": 1e-4, "betas": (0.99, 0.999), "weight_decay": 1e-8,
                              "steps": 200_000, **over})


def scene_info(views: PosedViews) -> dict:
    """What a renderer needs of the scene besides the network (stored in the bundle's ``extra["scene"]``)."""
    return {"near": float(views.near), "far": float(views.far), "white_background": bool(views.white_background),
            "ndc": bool(views.ndc), "height": views.height, "width": views.width,
            "intrinsics": [float(v) for v in views.intrinsics[0]],
            "distortion": None if views.distortion is None else [float(v) for v in views.distortion],
            "orbit": orbit_of(views.poses, views.ndc)}


def _validation_views(cfg: NerfTrainConfig) -> PosedViews | None:
    if cfg.val_views == 0:
        return None
    for split in ("val", "test"):
        try:
            views = load_views(cfg.data, split, cfg.downscale)
        except ViewsError:  # a layout without that split (no transforms_val.json): try the next
            continue
        return views.subset(np.arange(min(cfg.val_views, len(views))))
    return None


def render_view(model: NeRF, views: PosedViews, index: int, render: RenderConfig) -> tuple[torch.Tensor, dict]:
    """(H, W, 3) rendering of view ``index`` and its metrics against the image."""
    rays = view_rays(views, index)
    out = render_chunked(model, rays, views.near, views.far, render, views.white_background)
    image = out.rgb.reshape(views.height, views.width, 3).clamp(0, 1)
    return image, image_metrics(image, torch.from_numpy(views.images[index]))


def train_nerf(cfg: NerfTrainConfig, progress: bool = True, hooks: TrainHooks | None = None) -> Path:
    """Runs (or resumes) the run in ``cfg.out``; returns the final bundle's folder."""
    with applied(CpuTuning(intra_op_threads=cfg.threads)):
        return _train(cfg, progress, hooks or TrainHooks())


def _train(cfg: NerfTrainConfig, progress: bool, hooks: TrainHooks) -> Path:
    out = Path(cfg.out)
    views = load_views(cfg.data, "train", cfg.downscale)
    val = _validation_views(cfg)
    rays = all_rays(views)
    model = _initial_model(cfg)
    optimizer = cfg.optimiser(model.parameters())
    step, history = 0, []
    if (out / CHECKPOINT / TRAIN_STATE).exists():
        step, history = _resume(out, model, optimizer)
    if hooks.on_model:
        hooks.on_model(model)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", cfg.to_json())
    truncate_log(out / "log.jsonl", step)
    earlier = history[-1]["elapsed_s"] if history else 0.0
    started = time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc="train nerf", unit="step", disable=not progress)
    model.train()
    while step < cfg.steps:
        step_start = time.time()
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([cfg.seed, step]).generate_state(1)[0]))
        pick = torch.randint(len(rays), (cfg.batch_rays,), generator=generator)
        batch = rays[pick]
        rendered = render_rays(model, batch, views.near, views.far, cfg.render, views.white_background, perturb=True,
                               generator=generator)
        mse = torch.mean((rendered.rgb - batch.colours) ** 2)
        loss = cfg.objective(mse)
        lr = cfg.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        elapsed = earlier + time.time() - started
        record = {"step": step, "loss": float(loss.detach()), "psnr": mse_to_psnr(float(mse.detach())), "lr": lr,
                  "rays_per_s": round(cfg.batch_rays / max(1e-9, time.time() - step_start), 1),
                  "elapsed_s": round(elapsed, 2)}
        if hooks.on_step:
            record.update(hooks.on_step(step, model) or {})
        if val is not None and cfg.val_every and step % cfg.val_every == 0:
            record.update(_validate(model, val, cfg, out, step))
        history.append(record)
        bar.set_postfix({k: f"{record[k]:.4g}" for k in ("loss", "psnr", "rays_per_s") if k in record})
        bar.update(1)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save(out / CHECKPOINT, model, optimizer, cfg, views, step, history)
    bar.close()
    final = _validate(model, val, cfg, out, step) if val is not None else {}
    bundle = _bundle(model, cfg, views, extra={}, training={
        "config": cfg.to_json(), "steps": step, "seconds": history[-1]["elapsed_s"] if history else earlier,
        "final": final})
    bundle.save(out / BUNDLE)
    return out / BUNDLE


def _initial_model(cfg: NerfTrainConfig) -> NeRF:
    fork = torch.random.fork_rng(devices=[])
    with fork:  # seeded initial weights without touching the caller's global generator afterwards
        torch.manual_seed(cfg.seed)
        return NeRF(cfg.model)


def _bundle(model: NeRF, cfg: NerfTrainConfig, views: PosedViews, extra: dict, training: dict) -> ModelBundle:
    return ModelBundle(architecture=ARCHITECTURE, model_config=cfg.model.to_json(), state=dict(model.state_dict()),
                       training=training, extra={**extra, "scene": scene_info(views), "render": cfg.render.to_json()})


def _save(folder: Path, model: NeRF, optimizer, cfg: NerfTrainConfig, views: PosedViews, step: int,
          history: list[dict]) -> None:
    _bundle(model, cfg, views, extra={"step": step, "history": history[-50:]},
            training={"config": cfg.to_json()}).save(folder)
    save_train_state(folder, model, optimizer)


def _resume(out: Path, model: NeRF, optimizer) -> tuple[int, list[dict]]:
    bundle = ModelBundle.load(out / CHECKPOINT, architecture=ARCHITECTURE)
    model.load_state_dict(bundle.state)
    load_train_state(out / CHECKPOINT, model, optimizer)
    return int(bundle.extra["step"]), list(bundle.extra.get("history", []))


def _validate(model: NeRF, val: PosedViews, cfg: NerfTrainConfig, out: Path, step: int) -> dict:
    from PIL import Image

    was = model.training
    model.eval()
    metrics = []
    for i in range(len(val)):
        image, m = render_view(model, val, i, cfg.render)
        metrics.append(m)
        if i == 0:
            (out / "val").mkdir(parents=True, exist_ok=True)
            side = np.concatenate([image.numpy(), val.images[i]], axis=1)
            Image.fromarray((side * 255 + 0.5).astype(np.uint8)).save(out / "val" / f"step{step:06d}.png")
    model.train(was)
    mean = lambda k: float(np.mean([m[k] for m in metrics]))
    return {"val_psnr": mean("psnr"), "val_ssim": mean("ssim")}


__all__ = ["NerfTrainConfig", "paper_config", "train_nerf", "render_view", "scene_info", "ARCHITECTURE"]
