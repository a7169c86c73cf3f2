"""Per-layer bit-widths from a few parameters: a Bezier curve or a modified Chebyshev series over the layers (thesis
ch. 3, §3.1), so that a search over 8^n bit lists becomes a search over [0, 1]^d.

For a model of n quantisable layers, layer i (1-based) sits at t_i = i / n and gets
g(t_i) = round(clamp(8 p(t_i) + 1, 1, 8)) bits, where p is

- Bezier of degree m (m + 1 parameters, its control points): p(t) = sum_j w_j C(m, j) (1 - t)^(m - j) t^j;
- modified Chebyshev of order d (d parameters): p(t) = ((w - 0.5)^T [T_0(x), ..., T_{d-1}(x)] + 1) / 2 at
  x = 2 t - 1, T_0 = 1, T_1 = x, T_{k+1} = 2 x T_k - T_{k-1}.

Both are linear in w, so the parameters closest to a given bit list are a small linear program
(:func:`fit_parameters`).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

FAMILIES = ("bezier", "chebyshev")
MIN_BITS, MAX_BITS = 1, 8


@dataclass(frozen=True)
class BitSchedule:
    """A family of bit schedules with its size: ``family`` "bezier" (``degree`` = the curve's degree) or "chebyshev"
    (``degree`` = the series' order, its number of terms), and the box its parameters live in."""

    family: str
    degree: int
    box: tuple[float, float] = (0.0, 1.0)
    """Lower and upper bound of every parameter (the thesis: [0, 1]; its Fig. 2 curves need a wider box)."""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown schedule family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        if self.degree < (0 if self.family == "bezier" else 1):
            raise ValueError(f"a {self.family} schedule needs a degree of at least "
                             f"{0 if self.family == 'bezier' else 1}, got {self.degree}")
        if not self.box[0] < self.box[1]:
            raise ValueError(f"the parameter box must have low < high, got {self.box}")

    @property
    def parameters(self) -> int:
        """d: how many numbers (each in ``box``) choose a schedule."""
        return self.degree + 1 if self.family == "bezier" else self.degree

    def basis(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A (len(t), d), c (len(t),)) with p(t) = A w + c."""
        t = np.asarray(t, dtype=np.float64)
        if self.family == "bezier":
            m = self.degree
            return np.stack([comb(m, j) * (1 - t) ** (m - j) * t ** j for j in range(m + 1)], -1), np.zeros_like(t)
        x = 2 * t - 1
        terms = [np.ones_like(x), x]
        while len(terms) < self.degree:
            terms.append(2 * x * terms[-1] - terms[-2])
        phi = np.stack(terms[:self.degree], -1)
        return phi / 2, (1 - phi.sum(-1) / 2) / 2

    def curve(self, w, t) -> np.ndarray:
        """p(t) (len(t),) for the parameters ``w`` (d,)."""
        a, c = self.basis(t)
        return a @ self._checked(w) + c

    def bits(self, w, layers: int) -> list[int]:
        """The bit-width of each of ``layers`` layers for the parameters ``w`` (d,) in ``box``."""
        if layers < 1:
            raise ValueError(f"a schedule needs at least one layer, got {layers}")
        raw = MAX_BITS * self.curve(w, layer_positions(layers)) + 1
        return [int(b) for b in np.floor(np.clip(raw, MIN_BITS, MAX_BITS) + 0.5)]

    def _checked(self, w) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64).reshape(-1)
        if len(w) != self.parameters:
            raise ValueError(f"a {self.family} schedule of degree {self.degree} takes {self.parameters} parameters, "
                             f"got {len(w)}")
        if (w < self.box[0]).any() or (w > self.box[1]).any():
            raise ValueError(f"schedule parameters must lie in [{self.box[0]}, {self.box[1]}], got {w.tolist()}")
        return w


def layer_positions(layers: int) -> np.ndarray:
    """t_i = i / n for i = 1..n (the thesis' b_i = g(i / n))."""
    return np.arange(1, layers + 1, dtype=np.float64) / layers


def fit_parameters(schedule: BitSchedule, bits: list[int]) -> np.ndarray | None:
    """Parameters w in the schedule's box whose schedule gives exactly ``bits`` (one per layer), as far inside every layer's
    rounding interval as possible; None when no parameters of this family give that list.

    Layer i gets b bits when 8 p(t_i) + 1 lies in [b - 0.5, b + 0.5) (below 1.5 for 1 bit, from 7.5 up for 8), a pair
    of linear constraints on w; the linear program maximises the smallest margin to those bounds.
    """
    from scipy.optimize import linprog

    bits = [int(b) for b in bits]
    if not bits or any(not MIN_BITS <= b <= MAX_BITS for b in bits):
        raise ValueError(f"bits must be {MIN_BITS}..{MAX_BITS}, one per layer, got {bits}")
    a, c = schedule.basis(layer_positions(len(bits)))
    d = schedule.parameters
    rows, bounds = [], []
    for ai, ci, b in zip(a, c, bits):
        # 8 (a w + c) + 1 >= b - 0.5 + margin  and  8 (a w + c) + 1 <= b + 0.5 - margin (open ends at 1 and 8)
        if b > MIN_BITS:
            rows.append(np.append(-MAX_BITS * ai, 1.0))
            bounds.append(MAX_BITS * ci + 1 - (b - 0.5))
        if b < MAX_BITS:
            rows.append(np.append(MAX_BITS * ai, 1.0))
            bounds.append(b + 0.5 - MAX_BITS * ci - 1)
    objective = np.zeros(d + 1)
    objective[-1] = -1.0  # maximise the margin
    result = linprog(objective, A_ub=np.array(rows) if rows else None, b_ub=np.array(bounds) if rows else None,
                     bounds=[schedule.box] * d + [(None, 0.5)], method="highs")
    if result.status != 0 or result.x[-1] <= 1e-9:
        return None
    w = result.x[:d]
    return w if schedule.bits(w, len(bits)) == bits else None


__all__ = ["BitSchedule", "FAMILIES", "layer_positions", "fit_parameters"]
