"""DSConv block quantisation (thesis ch. 3, §3.1 "Quantization Strategy"): a weight tensor is cut into blocks of
``block`` values along its input depth, and each block is stored as ``block`` small signed integers (the mantissas)
and one float scale ξ, so w ≈ ξ m.

The thesis' recipe: scale the block by 2^(b-1) / max|w|, floor and clip to the b-bit range for the mantissas, then
take the ξ that minimises the block's L2 error, ξ = Σ w m / Σ m². Here that is the start; a few alternations of
"nearest mantissas for ξ" and "least-squares ξ for the mantissas" follow, and the scale with the smallest error is
kept. Between refits (quantisation-aware training) the mantissas are the nearest integers to w / ξ, the same rule a
decoded file follows, so a file equals the fake-quantised weights bit for bit. The quantiser built on these
functions is :class:`compress.quantisers.DSConv`.

The mantissas of b >= 2 bits are two's-complement integers in [-2^(b-1), 2^(b-1) - 1]; at 1 bit they are -1 and +1
(a signed 1-bit integer would be -1 and 0, which would zero every positive weight).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

BLOCK = 32
"""Values per block along the input depth (the thesis: 32)."""
REFINEMENTS = 3
"""Alternations of nearest mantissas and least-squares scale after the thesis' start."""


def block_count(shape: tuple[int, ...] | list[int], block: int) -> int:
    """How many blocks a weight of ``shape`` has: out x kernel positions x ceil(in / block) (a vector: ceil(n /
    block))."""
    shape = tuple(shape)
    if len(shape) < 2:
        return math.ceil(math.prod(shape) / block)
    return shape[0] * math.prod(shape[2:]) * math.ceil(shape[1] / block)


def to_blocks(w: Tensor, block: int) -> Tensor:
    """(blocks, block) view of ``w`` (out, in, *kernel) or (n,): the input depth runs along each block, zero-padded
    to a whole number of blocks."""
    rows = w.reshape(1, -1) if w.dim() < 2 else w.movedim(1, -1).reshape(-1, w.shape[1])
    pad = (-rows.shape[1]) % block
    if pad:
        rows = torch.nn.functional.pad(rows, (0, pad))
    return rows.reshape(-1, block)


def from_blocks(blocks: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The inverse of :func:`to_blocks` for a weight of ``shape``."""
    depth = math.prod(shape) if len(shape) < 2 else shape[1]
    rows = blocks.reshape(-1, blocks.numel() // (block_rows(shape)))[:, :depth]
    if len(shape) < 2:
        return rows.reshape(shape)
    return rows.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1)


def block_rows(shape: tuple[int, ...]) -> int:
    """Rows of the (rows, depth) matrix :func:`to_blocks` cuts into blocks."""
    return 1 if len(shape) < 2 else shape[0] * math.prod(shape[2:])


def mantissa_range(bits: int) -> tuple[int, int]:
    """The smallest and largest mantissa of ``bits`` bits."""
    return (-1, 1) if bits == 1 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def mantissas(blocks: Tensor, scales: Tensor, bits: int) -> Tensor:
    """(blocks, block) integer-valued float mantissas nearest to w / ξ, clipped to the b-bit range (0 where ξ is
    0); at 1 bit the sign of w (+1 for 0)."""
    if bits == 1:
        return torch.where(blocks < 0, -1.0, 1.0)
    lo, hi = mantissa_range(bits)
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))[:, None]
    return torch.where(scales[:, None] > 0, torch.round(blocks / safe).clamp(lo, hi), torch.zeros_like(blocks))


def least_squares_scales(blocks: Tensor, m: Tensor, real: Tensor) -> Tensor:
    """(blocks,) ξ = Σ w m / Σ m² over each block's ``real`` (1) entries, not its padding (0); 0 for an all-zero
    mantissa block, never negative."""
    m = m * real
    num, den = (blocks * m).sum(-1), (m * m).sum(-1)
    return torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num)).abs()


def fit_scales(blocks: Tensor, real: Tensor, bits: int, refinements: int = REFINEMENTS) -> Tensor:
    """(blocks,) the scale of each block of ``blocks`` (blocks, block), whose ``real`` (same shape) marks the values
    that are not padding: the thesis' start, then ``refinements`` alternations, keeping the scale with the smallest
    error of each block."""
    lo, hi = mantissa_range(bits)
    peak = blocks.abs().amax(-1, keepdim=True)
    if bits == 1:
        start = torch.where(blocks < 0, -1.0, 1.0)
    else:
        start = torch.where(peak > 0, torch.floor(blocks * 2 ** (bits - 1) / peak.clamp_min(1e-30)).clamp(lo, hi),
                            torch.zeros_like(blocks))
    best = least_squares_scales(blocks, start, real)
    best_error = _errors(blocks, real, best, bits)
    scales = best
    for _ in range(refinements):
        scales = least_squares_scales(blocks, mantissas(blocks, scales, bits), real)
        error = _errors(blocks, real, scales, bits)
        better = error < best_error
        best, best_error = torch.where(better, scales, best), torch.where(better, error, best_error)
    return best


def _errors(blocks: Tensor, real: Tensor, scales: Tensor, bits: int) -> Tensor:
    return (((blocks - scales[:, None] * mantissas(blocks, scales, bits)) * real) ** 2).sum(-1)


def mantissa_index(m: Tensor, bits: int) -> Tensor:
    """Mantissas -> the non-negative indices a file stores."""
    return (m > 0).float() if bits == 1 else m - mantissa_range(bits)[0]


def dequantise(scales: Tensor, indices: Tensor, bits: int, block: int) -> Tensor:
    """The weight a file's scales (blocks,) and indices (the weight's shape) stand for."""
    shape = tuple(indices.shape)
    idx = to_blocks(indices.float(), block)
    m = idx * 2 - 1 if bits == 1 else idx + mantissa_range(bits)[0]
    return from_blocks(scales.float()[:, None] * m, shape)


def block_floating_point(x: Tensor, bits: int, block: int = BLOCK) -> Tensor:
    """``x`` (N, C, *spatial) in block floating point (DSConv's activations): each block of ``block`` channels at
    one sample and position shares one power-of-two step, the smallest that keeps its largest value within the
    signed ``bits``-bit mantissas (2..8 bits), so nothing clips and every value is off by at most half a step.
    An all-zero block stays zero; quantising twice changes nothing."""
    if not 2 <= bits <= 8:
        raise ValueError(f"block floating point needs 2..8 mantissa bits, got {bits}")
    channels = x.shape[1]
    rows = x.movedim(1, -1)
    pad = (-channels) % block
    if pad:
        rows = torch.nn.functional.pad(rows, (0, pad))
    blocks = rows.reshape(*rows.shape[:-1], -1, block)
    peak = blocks.abs().amax(-1, keepdim=True)
    top = mantissa_range(bits)[1]
    # peak / step <= top: no value clips (the symmetric range leaves the lowest two's-complement mantissa unused).
    step = torch.exp2(torch.ceil(torch.log2(peak.clamp_min(torch.finfo(x.dtype).tiny) / top)))
    quantised = torch.where(peak > 0, torch.round(blocks / step) * step, torch.zeros_like(blocks))
    return quantised.reshape(rows.shape)[..., :channels].movedim(-1, 1)


__all__ = ["BLOCK", "block_count", "block_floating_point", "to_blocks", "from_blocks", "fit_scales", "mantissas", "dequantise"]
