"""Scalar weight quantisers: explicit [-1, 1], min-max and distributional uniform, and K-means cluster quantisation
(and, in :mod:`compress.dsconv`, DSConv block quantisation, whose "codebook" is one scale per block).

Every quantiser here maps a tensor onto a sorted *codebook* of at most 2^k values and each weight to its nearest
entry, so one representation serves all of them: :meth:`Quantiser.fit` returns the codebook (the quantiser's
state), :meth:`Quantiser.quantize` the fake-quantised tensor and :meth:`Quantiser.encode` the indices a file
stores. Codebooks are rounded to the storage precision when fitted, so a decoded file equals the fake-quantised
weights bit for bit.

The quantisers follow the paper's §3.1: explicit [-1, 1] (Rastegari et al.'s k-bit formula, Eq. 10),
distributional (uniform over mean ± d standard deviations, d = 3 + 3(k - 1)/15, Eq. 11), min-max (uniform
over the data's range) and K-means (2^k centroids of the 1-D k-means: optimal through ``kmeans1d``, or Lloyd's
iterations from a near-optimal start where the optimal algorithm would be too slow; see :class:`KMeans`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from . import dsconv

MAX_BITS = 8
CODEBOOK_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass(frozen=True)
class Quantiser:
    """A k-bit scalar quantiser; subclasses say how the codebook is chosen."""

    bits: int
    """Bits per weight, 1..8: at most 2^bits distinct values per tensor."""
    codebook_dtype: str = "float32"
    """Precision the codebook is stored in ("float32" or "float16"); fitting rounds to it."""

    name: ClassVar[str] = ""

    def __post_init__(self):
        if not 1 <= int(self.bits) <= MAX_BITS:
            raise ValueError(f"bits must be 1..{MAX_BITS}, got {self.bits}")
        if self.codebook_dtype not in CODEBOOK_DTYPES:
            raise ValueError(f"codebook_dtype must be one of {sorted(CODEBOOK_DTYPES)}, got {self.codebook_dtype!r}")

    @property
    def levels(self) -> int:
        return 2 ** int(self.bits)

    def fit(self, w: torch.Tensor) -> torch.Tensor:
        """The codebook for ``w`` (any shape): sorted, unique, (L,) float32 with L <= 2^bits."""
        values = self._codebook(w.detach().reshape(-1).float())
        stored = values.to(CODEBOOK_DTYPES[self.codebook_dtype]).float()
        return torch.unique(stored)  # sorted; rounding to float16 may merge entries

    def quantize(self, w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        """``w`` with every entry replaced by its nearest codebook value (same shape and dtype)."""
        return codebook.to(w.dtype)[self.encode(w, codebook)]

    def encode(self, w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook entry per weight: same shape as ``w``, int64 in [0, L)."""
        return nearest(w.detach(), codebook)

    def _codebook(self, flat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def nearest(w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest entry of the sorted ``codebook`` (L,) for each element of ``w`` (a tie goes to the upper entry)."""
    if codebook.numel() == 1:
        return torch.zeros_like(w, dtype=torch.long)
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(w.float(), midpoints.to(w.device), right=True)


def _uniform(lo: float, hi: float, levels: int) -> torch.Tensor:
    if not hi > lo:  # a constant tensor: one value is exact
        return torch.tensor([lo], dtype=torch.float32)
    return torch.linspace(lo, hi, levels, dtype=torch.float64).float()


@dataclass(frozen=True)
class ExplicitUniform(Quantiser):
    """Uniform over the fixed range [-1, 1] (paper Eq. 10): data-agnostic, weights outside are clipped."""

    name: ClassVar[str] = "explicit"

    def _codebook(self, flat):
        # q_k(x) = 2 (round((2^k - 1)(x + 1)/2) / (2^k - 1) - 1/2): the 2^k evenly spaced values of [-1, 1].
        return _uniform(-1.0, 1.0, self.levels)


@dataclass(frozen=True)
class MinMaxUniform(Quantiser):
    """Uniform over the tensor's own [min, max]."""

    name: ClassVar[str] = "minmax"

    def _codebook(self, flat):
        return _uniform(float(flat.min()), float(flat.max()), self.levels)


@dataclass(frozen=True)
class DistributionalUniform(Quantiser):
    """Uniform over mean ± d standard deviations, d = 3 + 3(k - 1)/15 (paper Eq. 11, from Dupont et al.)."""

    name: ClassVar[str] = "distributional"

    def _codebook(self, flat):
        d = 3 + 3 * (int(self.bits) - 1) / 15
        mean, std = float(flat.mean()), float(flat.std(unbiased=False)) if flat.numel() > 1 else 0.0
        # Never wider than the data: levels outside [min, max] would be wasted.
        lo, hi = max(mean - d * std, float(flat.min())), min(mean + d * std, float(flat.max()))
        return _uniform(lo, hi, self.levels)


@dataclass(frozen=True)
class KMeans(Quantiser):
    """Cluster quantisation: 2^k centroids of the 1-D k-means of the tensor's values.

    ``exact`` runs the optimal 1-D k-means (``kmeans1d``) on every tensor. Its cost grows with values times
    clusters, too slow to repeat on every repartition of a whole model, so by default only small tensors get it
    and the others Lloyd's iterations on the sorted values from a companding start (centroid density ∝ p(w)^(1/3),
    the high-resolution optimum), each iteration O(k log n) with prefix sums.
    ``tests/compress/test_quantisers.py`` checks the fast path against the optimum.
    """

    name: ClassVar[str] = "kmeans"
    exact: bool = False
    """Optimal 1-D k-means for every tensor (slow for large tensors at high bits)."""

    EXACT_BUDGET: ClassVar[int] = 1 << 12
    """Tensors with values x clusters up to this use the optimal algorithm even when ``exact`` is off."""

    def _codebook(self, flat):
        values = np.sort(flat.cpu().double().numpy())
        distinct = np.unique(values)
        if distinct.size <= self.levels:  # fewer values than clusters: every value is its own centroid
            return torch.from_numpy(distinct).float()
        if self.exact or values.size * self.levels <= self.EXACT_BUDGET:
            import kmeans1d

            return torch.tensor(kmeans1d.cluster(values, self.levels).centroids, dtype=torch.float32)
        return torch.from_numpy(lloyd_sorted(values, companding_start(values, self.levels))).float()


def companding_start(values: np.ndarray, k: int) -> np.ndarray:
    """k starting centroids with density ∝ p^(1/3) of the values' histogram (Panter-Dite); (k,) float64."""
    bins = int(np.clip(4 * np.sqrt(values.size), 64, 4096))
    hist, edges = np.histogram(values, bins=bins)
    cdf = np.concatenate([[0.0], np.cumsum(hist.astype(np.float64) ** (1 / 3))])
    return np.interp((np.arange(k) + 0.5) / k, cdf / cdf[-1], edges)


def lloyd_sorted(x: np.ndarray, centroids: np.ndarray, max_iters: int = 300) -> np.ndarray:
    """Lloyd's k-means iterations on sorted values ``x`` (n,) from ``centroids`` (k,); returns (k,) sorted.

    Clusters of sorted 1-D data are runs, so an iteration is k binary searches plus prefix-sum differences.
    """
    prefix = np.concatenate([[0.0], np.cumsum(x)])
    c = np.sort(centroids)
    for _ in range(max_iters):
        cuts = np.searchsorted(x, (c[1:] + c[:-1]) / 2, side="right")
        bounds = np.concatenate([[0], cuts, [x.size]])
        counts = np.diff(bounds)
        updated = np.where(counts > 0, (prefix[bounds[1:]] - prefix[bounds[:-1]]) / np.maximum(counts, 1), c)
        if np.array_equal(updated, c):
            break
        c = updated
    return c


@dataclass(frozen=True)
class DSConv(Quantiser):
    """Block quantisation: per block of ``block`` input-depth values, b-bit integer mantissas and one float scale.
    Its "codebook" is the (blocks,) scales, stored at ``codebook_dtype``."""

    name: ClassVar[str] = "dsconv"
    block: int = dsconv.BLOCK
    """Values per block along the input depth."""

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= int(self.block) <= 4096:
            raise ValueError(f"block must be 1..4096, got {self.block}")

    def fit(self, w: torch.Tensor) -> torch.Tensor:
        """(blocks,) float32 scales of ``w``, rounded to the storage precision."""
        w = w.detach().float()
        real = dsconv.to_blocks(torch.ones_like(w), self.block)  # 0 where a block is padded
        scales = dsconv.fit_scales(dsconv.to_blocks(w, self.block), real, int(self.bits))
        return scales.to(CODEBOOK_DTYPES[self.codebook_dtype]).float()

    def quantize(self, w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        blocks = dsconv.to_blocks(w.detach().float(), self.block)
        values = codebook[:, None] * dsconv.mantissas(blocks, codebook, int(self.bits))
        return dsconv.from_blocks(values, tuple(w.shape)).to(w.dtype)

    def encode(self, w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        """Mantissa + 2^(b-1) per weight (at 1 bit: 0 for -1, 1 for +1), same shape as ``w``, int64 in [0, 2^b)."""
        m = dsconv.mantissas(dsconv.to_blocks(w.detach().float(), self.block), codebook, int(self.bits))
        return dsconv.from_blocks(dsconv.mantissa_index(m, int(self.bits)), tuple(w.shape)).long()


QUANTISERS: dict[str, type[Quantiser]] = {q.name: q for q in (ExplicitUniform, MinMaxUniform, DistributionalUniform,
                                                                KMeans, DSConv)}
"""Quantiser name (as the CLI and the file header spell it) -> class."""
BLOCK_QUANTISERS = frozenset({DSConv.name})
"""Quantisers whose "codebook" is one scale per block of weights (stored as the file's ``blocks`` kind)."""


def make_quantiser(name: str, bits: int, codebook_dtype: str = "float32") -> Quantiser:
    """The quantiser called ``name`` at ``bits`` bits; a clear ``ValueError`` for an unknown name."""
    if name not in QUANTISERS:
        raise ValueError(f"unknown quantiser {name!r}; choose one of {', '.join(QUANTISERS)}")
    return QUANTISERS[name](bits=int(bits), codebook_dtype=codebook_dtype)


def quantisation_error(w: torch.Tensor, q: Quantiser, codebook: torch.Tensor) -> float:
    """||w - Q(w)||² (paper Eq. 2)."""
    w = w.detach().float()
    return float(((w - q.quantize(w, codebook)) ** 2).sum())
