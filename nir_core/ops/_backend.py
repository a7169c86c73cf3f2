"""Which implementation the neighbour ops use: torch-cluster when installed, fast CPU fallbacks otherwise.

torch-cluster is optional (source-only on PyPI, a long compile), so nothing here requires it: the ops fall
back to SciPy's KD-tree (kNN on the CPU), a chunked brute force (kNN on a GPU or for small sets) and a
vectorised PyTorch loop (farthest point sampling). ``torch_quickfps``, an exact bucket-based FPS shipped as a
wheel, is used for farthest point sampling on the CPU when it is importable.

Set the environment variable ``NIR_STUDIO_OPS=fallback`` to ignore torch-cluster even when it is installed
(to compare backends, or to work around a broken build); it is read at every call.
"""
from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

import torch

ENV_VAR = "NIR_STUDIO_OPS"
"""Environment variable choosing the backend: unset, empty or ``auto`` (torch-cluster when importable) or
``fallback`` (never torch-cluster)."""

_ENV_VALUES = ("auto", "fallback")

KDTREE_MIN_PAIRS = 1 << 17
"""On the CPU, kNN uses the KD-tree once ``M * N`` (queries times reference points, per scene) reaches this
(about 360 points against 360); below it the brute force's vectorised pass beats building a tree per scene."""


@functools.cache
def _optional_module(name: str) -> ModuleType | None:
    """The module ``name``, or None when it is not installed or fails to load (a broken build falls back).

    Any exception counts, not just ImportError: an extension built against another torch raises OSError or
    RuntimeError when it loads.
    """
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def torch_cluster_module() -> ModuleType | None:
    """``torch_cluster`` if importable, else None (independent of :data:`ENV_VAR`)."""
    return _optional_module("torch_cluster")


def quickfps_module() -> ModuleType | None:
    """``torch_quickfps`` if importable, else None."""
    return _optional_module("torch_quickfps")


def _requested() -> str:
    value = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if value not in _ENV_VALUES:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r}: expected one of {', '.join(_ENV_VALUES)} (or unset)")
    return value


def backend() -> str:
    """The backend the ops use now: ``"torch_cluster"`` or ``"fallback"``.

    ``"torch_cluster"`` when ``import torch_cluster`` works and :data:`ENV_VAR` is not ``fallback``.
    """
    if _requested() == "fallback" or torch_cluster_module() is None:
        return "fallback"
    return "torch_cluster"


def knn_engine(device: torch.device, num_query: int, num_ref: int) -> str:
    """The kNN implementation for one call: ``"torch_cluster"``, ``"kdtree"`` or ``"brute_force"``.

    Parameters
    ----------
    device: where the points are.
    num_query, num_ref: points per scene (M and N).
    """
    if backend() == "torch_cluster":
        return "torch_cluster"
    # SciPy runs on the CPU only; on a GPU the chunked brute force stays on the device and is fast there.
    if device.type == "cpu" and num_query * num_ref >= KDTREE_MIN_PAIRS:
        return "kdtree"
    return "brute_force"


def fps_engine(device: torch.device) -> str:
    """The farthest-point-sampling implementation for one call: ``"quickfps"``, ``"torch_cluster"`` or ``"torch"``.

    On the CPU, torch_quickfps comes first even when torch-cluster is installed: its bucketed FPS is exact and
    was measured ~15x faster than the plain O(m N) loop, which is what torch-cluster's CPU kernel runs. Its
    PyPI wheel is CPU-only, so on a GPU torch-cluster's kernel (or the PyTorch loop) is used.
    """
    if device.type == "cpu" and quickfps_module() is not None:
        return "quickfps"
    if backend() == "torch_cluster":
        return "torch_cluster"
    return "torch"
