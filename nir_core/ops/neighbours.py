"""k nearest neighbours and farthest point sampling on batches of point clouds.

One interface over several implementations; :mod:`._backend` picks one per call:

- :func:`knn`: torch-cluster when installed; otherwise SciPy's KD-tree on the CPU for large scenes (M N >=
  :data:`~._backend.KDTREE_MIN_PAIRS`) and a chunked brute force (``torch.cdist`` + ``topk``) on a GPU or for
  small scenes. Memory stays bounded: the brute force never holds more than :data:`BRUTE_FORCE_BLOCK`
  distances, so no (M, N) matrix exists for large scenes.
- :func:`farthest_point_sampling`: torch_quickfps on the CPU when importable, else torch-cluster when
  installed, else a PyTorch loop over the m samples, vectorised over points and scenes (O(m N) time, O(B N)
  memory).

Every engine is exact, so they differ only in how exact ties are broken. Tensors stay on the caller's device.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
from scipy.spatial import cKDTree

from ._backend import fps_engine, knn_engine, quickfps_module, torch_cluster_module

BRUTE_FORCE_BLOCK = 1 << 24
"""Distances one brute-force kNN step holds (64 MiB in float32): bounds its memory for any M and N."""

KDTREE_QUERY_BLOCK = 1 << 18
"""Queries per KD-tree call: bounds SciPy's float64 (distance, index) buffers to a few tens of MB."""

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------------------------- checks


def _check_points(x: torch.Tensor, name: str) -> None:
    """ValueError unless ``x`` is a finite floating (B, N, D) tensor with D >= 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] < 1:
        raise ValueError(f"{name}: expected shape (B, N, D), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected floating-point coordinates, got dtype {x.dtype}")
    # NaN would silently corrupt the tree search and the argmax of FPS instead of failing.
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf")


def _count(value, name: str) -> int:
    """``value`` as a non-negative int (bools and floats refused), else TypeError / ValueError naming it."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n}")
    return n


def _working_copy(x: torch.Tensor) -> torch.Tensor:
    """Detached coordinates the engines search; half precision is widened (cdist and SciPy lack it on the CPU)."""
    x = x.detach()
    return x.float() if x.dtype in _LOW_PRECISION else x


# ------------------------------------------------------------------------------------------------- kNN


def knn(query: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference points of every query point, scene by scene.

    Parameters
    ----------
    query: (B, M, D) float points whose neighbours are wanted (D = 3 for point clouds).
    ref: (B, N, D) float points to search, on the same device; scene ``b`` of ``query`` searches only scene
        ``b`` of ``ref``. Pass the same tensor twice for a kNN graph.
    k: neighbours per query point, ``1 <= k <= N``.

    Returns
    -------
    idx: (B, M, k) int64 indices into the N axis of ``ref``, nearest first.
    dist: (B, M, k) Euclidean distances (not squared), ascending, in the promoted dtype of the inputs;
        differentiable with respect to ``query`` and ``ref`` (computed from the gathered coordinates).

    Equal distances are ordered by index, so a query point that is also a reference point comes first, at
    distance 0 (among exact duplicates, the lowest index comes first). Which of several points tied at the
    k-th distance is kept depends on the engine.

    Raises
    ------
    ValueError: shapes, devices or dtypes do not match, coordinates are not finite, or ``k`` is not in [1, N].
    """
    _check_points(query, "query")
    _check_points(ref, "ref")
    (B, M, D), N = query.shape, ref.shape[1]
    if ref.shape[0] != B or ref.shape[2] != D:
        raise ValueError(f"query {tuple(query.shape)} and ref {tuple(ref.shape)}: expected (B, M, D) and (B, N, D)")
    if query.device != ref.device:
        raise ValueError(f"query is on {query.device} but ref on {ref.device}")
    k = _count(k, "k")
    if k < 1:
        raise ValueError("k: expected at least 1 neighbour, got 0")
    if k > N:
        raise ValueError(f"k={k} is larger than the number of reference points per scene (N={N})")
    dtype = torch.promote_types(query.dtype, ref.dtype)
    query, ref = query.to(dtype), ref.to(dtype)
    if B == 0 or M == 0:
        return (torch.empty(B, M, k, dtype=torch.long, device=query.device),
                torch.empty(B, M, k, dtype=dtype, device=query.device))
    engine = knn_engine(query.device, M, N)
    with torch.no_grad():
        idx = _KNN_ENGINES[engine](_working_copy(query), _working_copy(ref), k)
    return _sorted_neighbours(query, ref, idx)


def _sorted_neighbours(query: torch.Tensor, ref: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances of (B, M, k) neighbour indices, and both sorted by (distance, index) along the last axis.

    Recomputing the distances (rather than taking an engine's) gives every engine the same dtype, the same
    rounding and the same tie order, and lets gradients flow to the coordinates.
    """
    B, M, k = idx.shape
    D = ref.shape[2]
    nb = torch.gather(ref, 1, idx.reshape(B, M * k, 1).expand(B, M * k, D)).view(B, M, k, D)
    dist = torch.linalg.vector_norm(nb - query.unsqueeze(2), dim=-1)
    with torch.no_grad():
        _, perm = idx.sort(dim=-1)
        _, by_dist = dist.detach().gather(-1, perm).sort(dim=-1, stable=True)
        perm = perm.gather(-1, by_dist)
    return idx.gather(-1, perm), dist.gather(-1, perm)


def _knn_brute_force(query: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    """(B, M, k) neighbour indices (any order per row) from blocks of exact pairwise distances.

    The direct (not matrix-product) distance keeps a point's distance to itself exactly 0, so self-matches are
    never lost to cancellation error.
    """
    (B, M, _), N = query.shape, ref.shape[1]
    scenes = max(1, min(B, BRUTE_FORCE_BLOCK // N))
    rows = max(1, BRUTE_FORCE_BLOCK // (scenes * N))
    out = torch.empty(B, M, k, dtype=torch.long, device=query.device)
    for b in range(0, B, scenes):
        r = ref[b:b + scenes]
        for s in range(0, M, rows):
            d = torch.cdist(query[b:b + scenes, s:s + rows], r, compute_mode="donot_use_mm_for_euclid_dist")
            out[b:b + scenes, s:s + rows] = d.topk(k, dim=-1, largest=False, sorted=False).indices
    return out


def _knn_kdtree(query: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    """(B, M, k) neighbour indices from one SciPy KD-tree per scene (CPU tensors), queries on every core."""
    B, M, _ = query.shape
    q = query.double().numpy()
    r = ref.double().numpy()
    out = np.empty((B, M, k), dtype=np.int64)
    for b in range(B):
        # Unbalanced, uncompacted trees built 2-5x faster on 10k-100k points and queried as fast.
        tree = cKDTree(r[b], balanced_tree=False, compact_nodes=False)
        for s in range(0, M, KDTREE_QUERY_BLOCK):
            _, i = tree.query(q[b, s:s + KDTREE_QUERY_BLOCK], k=k, workers=-1)
            out[b, s:s + KDTREE_QUERY_BLOCK] = i.reshape(-1, k)
    return torch.from_numpy(out)


def _knn_torch_cluster(query: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    """(B, M, k) neighbour indices from ``torch_cluster.knn`` on the flattened scenes."""
    tc = torch_cluster_module()
    (B, M, D), N = query.shape, ref.shape[1]
    scene = torch.arange(B, device=query.device)
    # torch_cluster.knn(x, y, k, batch_x, batch_y) finds, for each y, its k nearest x of the same batch entry,
    # and returns [index into y, index into x] pairs.
    row, col = tc.knn(ref.reshape(B * N, D), query.reshape(B * M, D), k,
                      scene.repeat_interleave(N), scene.repeat_interleave(M))
    if row.numel() != B * M * k:
        raise RuntimeError(f"torch_cluster.knn returned {row.numel()} pairs, expected {B * M * k}")
    col = col[torch.argsort(row, stable=True)]
    return col.view(B, M, k) - (scene * N).view(B, 1, 1)


_KNN_ENGINES = {"torch_cluster": _knn_torch_cluster, "kdtree": _knn_kdtree, "brute_force": _knn_brute_force}


# ---------------------------------------------------------------------------------- farthest point sampling


def farthest_point_sampling(points: torch.Tensor, m: int, *, start: str = "first",
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``m`` points per scene picked by farthest point sampling (FPS).

    The first index is the start; each next one is the point whose Euclidean distance to the points picked so
    far is largest (the PyTorch engine breaks ties by index, counted from the start).

    Parameters
    ----------
    points: (B, N, D) float points (D = 3 for point clouds); not differentiated through.
    m: samples per scene, ``0 <= m <= N``.
    start: ``"first"`` starts every scene at index 0 (deterministic); ``"random"`` at an index drawn uniformly
        per scene from ``generator``.
    generator: the torch.Generator that draws random starts (default: the global one); ignored for
        ``"first"``.

    Returns
    -------
    idx: (B, m) int64 on the device of ``points``, distinct within each scene even when a scene has fewer
        than ``m`` distinct positions.

    Raises
    ------
    ValueError: bad shape, non-finite coordinates, ``m`` outside [0, N] or an unknown ``start``.
    """
    _check_points(points, "points")
    B, N, _ = points.shape
    m = _count(m, "m")
    if m > N:
        raise ValueError(f"m={m} is larger than the number of points per scene (N={N})")
    if start not in ("first", "random"):
        raise ValueError(f"start: expected 'first' or 'random', got {start!r}")
    device = points.device
    offset = None
    if start == "random":
        rng_device = generator.device if generator is not None else "cpu"
        offset = torch.randint(N, (B,), generator=generator, device=rng_device).to(device)
    if B == 0 or m == 0:
        return torch.empty(B, m, dtype=torch.long, device=device)
    pts = _working_copy(points)
    if offset is not None:
        # Rotating each scene so that its start sits at index 0 lets every engine start at 0, so the
        # generator alone decides the start, whatever engine runs.
        pts = torch.gather(pts, 1, _rotation(offset, N).unsqueeze(-1).expand_as(pts))
    engine = fps_engine(device)
    idx = _FPS_ENGINES[engine](pts, m)
    if engine != "torch" and _has_repeats(idx):
        # Library kernels pick an already-chosen point again once every point is covered (fewer distinct
        # positions than m); the PyTorch loop excludes chosen points explicitly.
        idx = _fps_torch(pts, m)
    if offset is not None:
        idx = (idx + offset.unsqueeze(1)) % N
    return idx


def _rotation(offset: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) index map: row ``b`` is ``offset[b], offset[b] + 1, ...`` modulo ``n``."""
    return (torch.arange(n, device=offset.device) + offset.unsqueeze(1)) % n


def _has_repeats(idx: torch.Tensor) -> bool:
    """Whether any row of (B, m) indices holds an index twice."""
    s = idx.sort(dim=1).values
    return bool((s[:, 1:] == s[:, :-1]).any())


def _fps_torch(points: torch.Tensor, m: int) -> torch.Tensor:
    """(B, m) FPS indices starting at index 0: a loop over the m samples, vectorised over points and scenes.

    O(m N B) time and O(N B) memory: one running distance-to-the-samples per point, updated with the newest
    sample at each step. Chosen points get distance -1, so they are never chosen again even when every
    remaining distance is 0 (duplicate points).

    The loop leaves torch's thread count alone (it is process-wide: see :mod:`nir_core.cpu`). Each step's ops
    touch only B N values, and ATen runs a CPU op over fewer than 32768 values on the calling thread, so while
    B N stays below that (one 10k-point scene) the loop is serial whatever the setting. Larger inputs go to the
    thread pool, where each small op waits for every thread, slow when another process holds a core; on the
    CPU this loop is only the fallback of the compiled torch_quickfps engine.
    """
    B, N, D = points.shape
    device = points.device
    coords = points.permute(2, 0, 1).contiguous()  # (D, B, N): each coordinate contiguous for the updates
    flat = coords.view(D, B * N)
    first = torch.arange(B, device=device) * N
    nearest = torch.full((B, N), float("inf"), dtype=points.dtype, device=device)
    d = torch.empty_like(nearest)
    t = torch.empty_like(nearest)
    out = torch.empty(m, B, dtype=torch.long, device=device)
    last = torch.zeros(B, dtype=torch.long, device=device)
    for i in range(m):
        out[i] = last
        chosen = last + first
        c = flat.index_select(1, chosen).unsqueeze(-1)  # (D, B, 1)
        torch.sub(coords[0], c[0], out=d)
        d.square_()
        for j in range(1, D):
            torch.sub(coords[j], c[j], out=t)
            d.addcmul_(t, t)
        torch.minimum(nearest, d, out=nearest)
        nearest.view(-1).index_fill_(0, chosen, -1.0)
        last = nearest.argmax(dim=1)
    return out.t().contiguous()


def _fps_quickfps(points: torch.Tensor, m: int) -> torch.Tensor:
    """(B, m) FPS indices starting at index 0, from torch_quickfps' exact bucket-based FPS (CPU)."""
    return quickfps_module().sample_idx(points.contiguous(), m, start_idx=0).long()


def _fps_torch_cluster(points: torch.Tensor, m: int) -> torch.Tensor:
    """(B, m) FPS indices starting at index 0, from ``torch_cluster.fps`` on the flattened scenes."""
    tc = torch_cluster_module()
    B, N, D = points.shape
    scene = torch.arange(B, device=points.device)
    # torch-cluster takes a ratio and keeps ceil(ratio * N) points per scene, computed in float32: asking for
    # m - 1/2 points lands on exactly m whatever the rounding.
    ratio = (m - 0.5) / N
    out = tc.fps(points.reshape(B * N, D), scene.repeat_interleave(N), ratio, False)
    if out.numel() != B * m:
        raise RuntimeError(f"torch_cluster.fps returned {out.numel()} indices, expected {B * m}")
    return out.view(B, m) - (scene * N).unsqueeze(1)


_FPS_ENGINES = {"quickfps": _fps_quickfps, "torch_cluster": _fps_torch_cluster, "torch": _fps_torch}
