"""Volume rendering of a radiance field: stratified samples along each ray (optionally more where the first pass
found density), alpha compositing, and chunked rendering of whole views with a bounded memory.

All samples of a batch of rays go through the network in one call (no Python loop per ray or per sample).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import Config, bounded
from .rays import Rays

FAR_DELTA = 1e10
"""The last sample's interval: it absorbs whatever density is left (NeRF's convention)."""


@dataclass
class RenderConfig(Config):
    """How rays are sampled and composited."""

    samples: int = bounded(64, 1)
    """Stratified samples per ray (NeRF's coarse pass: 64)."""
    importance_samples: int = bounded(0, 0)
    """Further samples per ray drawn where the first pass's weights are (hierarchical sampling, with the same network);
    0: none, as the paper's NeRF."""
    chunk: int = bounded(4096, 1)
    """Rays per network call when rendering whole views (memory grows with chunk x samples)."""


@dataclass
class Rendered:
    rgb: Tensor
    """(M, 3) composited colours."""
    depth: Tensor
    """(M,) expected depth along the ray."""
    opacity: Tensor
    """(M,) accumulated opacity (1 - transmittance left at the far end)."""


def composite(colours: Tensor, sigmas: Tensor, t: Tensor, ray_length: Tensor, white_background: bool
              ) -> tuple[Rendered, Tensor]:
    """colours (M, S, 3), densities (M, S), sample depths (M, S) sorted, |direction| (M,) -> the rendering and the
    weights (M, S) of each sample."""
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], FAR_DELTA)], -1) * ray_length[:, None]
    alpha = 1 - torch.exp(-sigmas * deltas)
    # Transmittance before each sample: the exclusive cumulative product of (1 - alpha).
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-10], -1), -1)[:, :-1]
    weights = alpha * trans
    rgb = (weights[..., None] * colours).sum(1)
    opacity = weights.sum(-1)
    if white_background:
        rgb = rgb + (1 - opacity[:, None])
    return Rendered(rgb, (weights * t).sum(-1), opacity), weights


def stratified(near: float, far: float, rays: int, samples: int, perturb: bool, generator: torch.Generator | None,
               device=None) -> Tensor:
    """(rays, samples) depths: ``samples`` equal bins between near and far, one point per bin (at random within it
    when ``perturb``, else at its centre)."""
    edges = torch.linspace(near, far, samples + 1, device=device)
    lo, width = edges[:-1], edges[1:] - edges[:-1]
    u = torch.rand(rays, samples, generator=generator, device=device) if perturb else torch.full((rays, samples), 0.5)
    return lo + u * width


def importance(t: Tensor, weights: Tensor, samples: int, perturb: bool, generator: torch.Generator | None) -> Tensor:
    """(M, samples) depths drawn from the piecewise-constant density the weights (M, S) put on the bins between the
    depths t (M, S) (inverse transform sampling; deterministic quantiles when not ``perturb``)."""
    mids = 0.5 * (t[:, 1:] + t[:, :-1])
    w = weights[:, 1:-1].detach() + 1e-5
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    u = (torch.rand(len(t), samples, generator=generator) if perturb
         else torch.linspace(0, 1, samples).expand(len(t), samples)).contiguous()
    idx = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)
    c0, c1 = cdf.gather(1, idx - 1), cdf.gather(1, idx)
    b0, b1 = mids.gather(1, idx - 1), mids.gather(1, idx)
    frac = ((u - c0) / (c1 - c0).clamp_min(1e-10)).clamp(0, 1)
    return b0 + frac * (b1 - b0)


def render_rays(model: nn.Module, rays: Rays, near: float, far: float, cfg: RenderConfig, white_background: bool,
                perturb: bool = False, generator: torch.Generator | None = None) -> Rendered:
    """Renders a batch of rays in one pass (no chunking: see :func:`render_chunked`)."""
    m = len(rays)
    t = stratified(near, far, m, cfg.samples, perturb, generator)
    rendered, weights = _shade(model, rays, t, white_background)
    if cfg.importance_samples:
        extra = importance(t, weights, cfg.importance_samples, perturb, generator)
        t, _ = torch.sort(torch.cat([t, extra], -1), -1)
        rendered, _ = _shade(model, rays, t, white_background)
    return rendered


def _shade(model: nn.Module, rays: Rays, t: Tensor, white_background: bool) -> tuple[Rendered, Tensor]:
    points = rays.origins[:, None] + t[..., None] * rays.directions[:, None]
    colours, sigmas = model(points, rays.view_directions)
    return composite(colours, sigmas, t, rays.directions.norm(dim=-1), white_background)


def render_chunked(model: nn.Module, rays: Rays, near: float, far: float, cfg: RenderConfig,
                   white_background: bool) -> Rendered:
    """Renders any number of rays, ``cfg.chunk`` at a time, without autograd (deterministic sample depths)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(rays), cfg.chunk):
            parts.append(render_rays(model, rays[start:start + cfg.chunk], near, far, cfg, white_background))
    return Rendered(*(torch.cat([getattr(p, k) for p in parts]) for k in ("rgb", "depth", "opacity")))


__all__ = ["RenderConfig", "Rendered", "composite", "stratified", "importance", "render_rays", "render_chunked"]


def render_turntable(model: nn.Module, scene: dict, cfg: RenderConfig, frames: int) -> list:
    """``frames`` (H, W, 3) uint8 images along the turntable of ``scene`` (a bundle's ``extra["scene"]``: its orbit,
    camera intrinsics, size, depth range and background)."""
    import numpy as np

    from .paths import turntable
    from .rays import camera_rays

    images = []
    distortion = None if scene.get("distortion") is None else np.asarray(scene["distortion"])
    for pose in turntable(scene["orbit"], frames, scene["ndc"]):
        rays = camera_rays(pose, np.asarray(scene["intrinsics"]), scene["height"], scene["width"], distortion, scene["ndc"])
        rgb = render_chunked(model, rays, scene["near"], scene["far"], cfg, scene["white_background"]).rgb
        images.append((rgb.reshape(scene["height"], scene["width"], 3).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
    return images
