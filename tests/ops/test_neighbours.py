"""kNN and farthest point sampling: every engine against brute-force references, backend selection, errors."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch

import nir_core.ops._backend as backend_mod
import nir_core.ops.neighbours as neighbours_mod
from nir_core.ops import backend, farthest_point_sampling, knn

KNN_ENGINES = ["kdtree", "brute_force"]
FPS_ENGINES = ["torch", "quickfps"]
NO_TORCH_CLUSTER = "torch_cluster is not installed (optional accelerator: pip install 'nir-studio[pyg]')"


def _points(*shape, seed=0, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def _brute_knn(query, ref, k):
    """(idx, dist) from float64 exact distances, sorted by (distance, index)."""
    d = torch.cdist(query.double(), ref.double(), compute_mode="donot_use_mm_for_euclid_dist")
    # Columns start in index order, so a stable sort by distance leaves ties in index order.
    dist, order = d.sort(dim=-1, stable=True)
    return order[..., :k], dist[..., :k]


def _reference_fps(points: np.ndarray, m: int, start: int = 0) -> list[int]:
    """Textbook FPS on one (N, D) scene: O(m N), lowest index wins ties, chosen points never re-chosen."""
    p = points.astype(np.float64)
    nearest = np.full(len(p), np.inf)
    out = [start]
    for _ in range(1, m):
        nearest = np.minimum(nearest, ((p - p[out[-1]]) ** 2).sum(1))
        nearest[out] = -1.0
        out.append(int(np.argmax(nearest)))
    return out


def _assert_valid_fps(points: torch.Tensor, idx: torch.Tensor, tol: float = 1e-5) -> None:
    """Each pick (after the first) is a farthest point from the picks before it; picks are distinct."""
    assert idx.unique().numel() == idx.numel(), "repeated indices"
    d = torch.cdist(points.double(), points[idx].double())  # (N, m)
    covered = torch.cummin(d, dim=1).values  # column i: distance to the first i + 1 picks
    picked = covered[idx[1:], torch.arange(len(idx) - 1)]
    best = covered[:, :-1].max(dim=0).values
    assert (picked >= best - tol).all(), f"step {int((picked < best - tol).nonzero()[0]) + 1} is not farthest"


@pytest.fixture
def knn_engine(request, monkeypatch):
    """Forces the kNN engine named by the parameter for the public :func:`knn`."""
    name = request.param
    monkeypatch.setattr(neighbours_mod, "knn_engine", lambda *a: name)
    return name


@pytest.fixture
def fps_engine(request, monkeypatch):
    """Forces the FPS engine named by the parameter; skips when its package is absent."""
    name = request.param
    if name == "quickfps" and backend_mod.quickfps_module() is None:
        pytest.skip("torch_quickfps is not installed (optional CPU accelerator for FPS)")
    monkeypatch.setattr(neighbours_mod, "fps_engine", lambda *a: name)
    return name


# ------------------------------------------------------------------------------------------------- kNN


@pytest.mark.parametrize("knn_engine", KNN_ENGINES, indirect=True)
def test_knn_matches_brute_force_on_random_batches(knn_engine):
    query, ref = _points(3, 257, 3, seed=1), _points(3, 400, 3, seed=2)
    idx, dist = knn(query, ref, 9)
    ref_idx, ref_dist = _brute_knn(query, ref, 9)
    assert idx.shape == dist.shape == (3, 257, 9) and idx.dtype == torch.int64 and dist.dtype == torch.float32
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(dist.double(), ref_dist, atol=1e-6, rtol=1e-6)
    assert (dist[..., 1:] >= dist[..., :-1]).all()


@pytest.mark.parametrize("knn_engine", KNN_ENGINES, indirect=True)
def test_knn_of_a_cloud_in_itself_finds_each_point_first(knn_engine):
    pts = _points(2, 300, 3, seed=3)
    idx, dist = knn(pts, pts, 5)
    assert torch.equal(idx[..., 0], torch.arange(300).expand(2, 300))
    assert (dist[..., 0] == 0).all() and (dist[..., 1] > 0).all()


@pytest.mark.parametrize("knn_engine", KNN_ENGINES, indirect=True)
def test_knn_stays_exact_far_from_the_origin(knn_engine):
    # Scans in world coordinates: |x|^2 - 2 x.y + |y|^2 would lose the 1 mm spacing to float32 cancellation.
    pts = 1000.0 + 0.1 * _points(2, 400, 3, seed=25)
    idx, dist = knn(pts, pts, 6)
    ref_idx, ref_dist = _brute_knn(pts, pts, 6)
    assert torch.equal(idx[..., 0], torch.arange(400).expand(2, 400))
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(dist.double(), ref_dist, atol=1e-4, rtol=0)


@pytest.mark.parametrize("knn_engine", KNN_ENGINES, indirect=True)
def test_knn_ties_on_a_lattice_are_exact_and_ordered_by_index(knn_engine):
    # A 6^3 integer lattice: every interior point has exactly 6 neighbours at distance 1, many exact ties.
    axis = torch.arange(6.0)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(1, -1, 3)
    idx, dist = knn(grid, grid, 7)
    _, ref_dist = _brute_knn(grid, grid, 7)
    torch.testing.assert_close(dist.double(), ref_dist)  # the tie at the 7th place may pick either point
    assert torch.equal(idx[..., 0], torch.arange(216).unsqueeze(0))
    tied = dist[..., 1:] == dist[..., :-1]
    assert (idx[..., 1:][tied] > idx[..., :-1][tied]).all()
    assert all(len(set(row)) == 7 for row in idx[0].tolist())
    interior = ((grid[0] > 0) & (grid[0] < 5)).all(dim=1)
    faces = torch.cdist(grid[0], grid[0]).eq(1)
    for i in interior.nonzero().flatten().tolist()[:20]:
        assert set(idx[0, i, 1:].tolist()) == set(faces[i].nonzero().flatten().tolist())


@pytest.mark.parametrize("knn_engine", KNN_ENGINES, indirect=True)
def test_knn_scenes_are_searched_independently(knn_engine):
    query, ref = _points(3, 150, 3, seed=4), _points(3, 200, 3, seed=5)
    idx, dist = knn(query, ref, 4)
    for b in range(3):
        one_idx, one_dist = knn(query[b:b + 1], ref[b:b + 1], 4)
        assert torch.equal(idx[b:b + 1], one_idx) and torch.equal(dist[b:b + 1], one_dist)


def test_knn_brute_force_blocks_bound_memory_without_changing_results(monkeypatch):
    query, ref = _points(5, 90, 3, seed=6), _points(5, 70, 3, seed=7)
    expected = neighbours_mod._knn_brute_force(query, ref, 6)
    # 150 distances per block: 2 scenes and 1 row per step, so both loops run many times.
    monkeypatch.setattr(neighbours_mod, "BRUTE_FORCE_BLOCK", 150)
    assert torch.equal(neighbours_mod._knn_brute_force(query, ref, 6).sort(-1).values, expected.sort(-1).values)


def test_knn_kdtree_query_blocks_do_not_change_results(monkeypatch):
    query, ref = _points(2, 100, 3, seed=8), _points(2, 120, 3, seed=9)
    expected = neighbours_mod._knn_kdtree(query, ref, 5)
    monkeypatch.setattr(neighbours_mod, "KDTREE_QUERY_BLOCK", 7)
    assert torch.equal(neighbours_mod._knn_kdtree(query, ref, 5), expected)


def test_knn_engine_choice_follows_device_and_size(monkeypatch):
    monkeypatch.setattr(backend_mod, "torch_cluster_module", lambda: None)
    cpu = torch.device("cpu")
    assert backend_mod.knn_engine(cpu, 10_240, 10_240) == "kdtree"
    assert backend_mod.knn_engine(cpu, 64, 64) == "brute_force"
    assert backend_mod.knn_engine(torch.device("meta"), 100_000, 100_000) == "brute_force"


def test_knn_distances_carry_gradients_to_the_coordinates():
    query = _points(1, 20, 3, seed=10).requires_grad_()
    ref = _points(1, 30, 3, seed=11).requires_grad_()
    idx, dist = knn(query, ref, 3)
    dist.sum().backward()
    nb = ref.detach()[0, idx[0]]  # (20, 3, 3)
    expected = ((query.detach()[0, :, None] - nb) / dist.detach()[0, :, :, None]).sum(1)
    torch.testing.assert_close(query.grad[0], expected)
    assert ref.grad.abs().sum() > 0


def test_knn_promotes_dtypes_and_accepts_half_precision():
    idx, dist = knn(_points(1, 50, 3, dtype=torch.float16), _points(1, 60, 3, seed=1, dtype=torch.float64), 2)
    assert dist.dtype == torch.float64
    idx, dist = knn(_points(1, 50, 3, dtype=torch.float16), _points(1, 60, 3, seed=1, dtype=torch.float16), 2)
    assert dist.dtype == torch.float16 and idx.shape == (1, 50, 2)


def test_knn_with_k_larger_than_the_reference_set_raises():
    with pytest.raises(ValueError, match=r"k=11 is larger than .*N=10"):
        knn(_points(1, 5, 3), _points(1, 10, 3), 11)


@pytest.mark.parametrize(("query", "ref", "k", "match"), [
    (torch.rand(2, 5, 3), torch.rand(3, 5, 3), 1, "expected"),
    (torch.rand(1, 5, 3), torch.rand(1, 5, 2), 1, "expected"),
    (torch.rand(5, 3), torch.rand(5, 3), 1, r"\(B, N, D\)"),
    (torch.ones(1, 5, 3, dtype=torch.long), torch.rand(1, 5, 3), 1, "floating"),
    (torch.full((1, 5, 3), float("nan")), torch.rand(1, 5, 3), 1, "NaN"),
    (torch.rand(1, 5, 3), torch.rand(1, 5, 3), 0, "at least 1"),
])
def test_knn_rejects_bad_input(query, ref, k, match):
    with pytest.raises(ValueError, match=match):
        knn(query, ref, k)


def test_knn_with_no_queries_returns_empty():
    idx, dist = knn(torch.rand(2, 0, 3), torch.rand(2, 5, 3), 3)
    assert idx.shape == dist.shape == (2, 0, 3)


# ------------------------------------------------------------------------------------- farthest point sampling


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_on_a_line_picks_the_ends_then_the_middle(fps_engine):
    x = torch.tensor([0.0, 3, 10, 7, 5, 1, 9, 2, 8, 4, 6])  # index 0 is one end, index 2 the other, 4 the middle
    line = torch.stack([x, torch.zeros(11), torch.zeros(11)], dim=1).unsqueeze(0)
    idx = farthest_point_sampling(line, 3)
    assert idx.tolist() == [[0, 2, 4]]


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_matches_a_reference_implementation_exactly(fps_engine):
    pts = _points(3, 300, 3, seed=12)
    idx = farthest_point_sampling(pts, 60)
    assert idx.shape == (3, 60) and idx.dtype == torch.int64
    for b in range(3):
        assert idx[b].tolist() == _reference_fps(pts[b].numpy(), 60)


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_picks_are_distinct_and_each_is_farthest(fps_engine):
    pts = _points(2, 2000, 3, seed=13)
    idx = farthest_point_sampling(pts, 250)
    for b in range(2):
        _assert_valid_fps(pts[b], idx[b])
    # FPS covers at least as well as the FPS guarantee allows: within 2x of any m-center optimum, whose lower
    # bound is half the smallest gap between m + 1 points pairwise that far apart (the picks plus the next one).
    full = farthest_point_sampling(pts[:1], 251)[0]
    radius = torch.cdist(pts[0], pts[0, idx[0]]).min(dim=1).values.max()
    gaps = torch.cdist(pts[0, full], pts[0, full]) + torch.eye(251) * 10
    assert radius <= 2 * (gaps.min() / 2) + 1e-6


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_with_duplicate_points_still_returns_distinct_indices(fps_engine):
    base = _points(5, 3, seed=14)
    pts = base.repeat(4, 1).unsqueeze(0)  # 20 points at 5 positions
    idx = farthest_point_sampling(pts, 12)[0]
    assert idx.unique().numel() == 12
    assert set((idx[:5] % 5).tolist()) == set(range(5))  # every position is covered before any repeat


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_scenes_are_independent(fps_engine):
    pts = _points(4, 500, 3, seed=15)
    idx = farthest_point_sampling(pts, 40)
    for b in range(4):
        assert torch.equal(idx[b:b + 1], farthest_point_sampling(pts[b:b + 1], 40))


@pytest.mark.parametrize("fps_engine", FPS_ENGINES, indirect=True)
def test_fps_random_start_comes_from_the_generator(fps_engine):
    pts = _points(3, 400, 3, seed=16)
    idx = farthest_point_sampling(pts, 30, start="random", generator=torch.Generator().manual_seed(7))
    starts = torch.randint(400, (3,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(idx[:, 0], starts)
    for b in range(3):
        assert idx[b].tolist() == _reference_fps(pts[b].numpy(), 30, start=int(starts[b]))
    again = farthest_point_sampling(pts, 30, start="random", generator=torch.Generator().manual_seed(7))
    assert torch.equal(idx, again)


def test_fps_of_every_point_is_a_permutation_and_zero_points_is_empty():
    pts = _points(2, 64, 3, seed=17)
    assert torch.equal(farthest_point_sampling(pts, 64).sort(dim=1).values, torch.arange(64).expand(2, 64))
    assert farthest_point_sampling(pts, 0).shape == (2, 0)


@pytest.mark.parametrize(("m", "start", "match"), [(65, "first", r"m=65 is larger .*N=64"), (3, "middle", "start")])
def test_fps_rejects_bad_arguments(m, start, match):
    with pytest.raises(ValueError, match=match):
        farthest_point_sampling(_points(1, 64, 3), m, start=start)


def test_fps_library_repeats_fall_back_to_the_exact_loop(monkeypatch):
    # A library kernel that re-picks covered points must not leak repeats to callers.
    monkeypatch.setattr(neighbours_mod, "fps_engine", lambda *a: "quickfps")
    monkeypatch.setitem(neighbours_mod._FPS_ENGINES, "quickfps", lambda p, m: torch.zeros(p.shape[0], m, dtype=torch.long))
    pts = _points(2, 50, 3, seed=18)
    assert torch.equal(farthest_point_sampling(pts, 10), neighbours_mod._fps_torch(pts, 10))


# ------------------------------------------------------------------------------------- backend selection


class _FakeTorchCluster(types.ModuleType):
    """torch_cluster's documented knn / fps contracts, by brute force, pairs returned in shuffled order."""

    def __init__(self):
        super().__init__("torch_cluster")
        self.calls = []

    def knn(self, x, y, k, batch_x, batch_y):
        self.calls.append("knn")
        rows, cols = [], []
        for i in range(len(y)):
            same = (batch_x == batch_y[i]).nonzero().flatten()
            near = torch.cdist(y[i:i + 1], x[same]).flatten().topk(k, largest=False).indices
            rows.append(torch.full((k,), i))
            cols.append(same[near])
        out = torch.stack([torch.cat(rows), torch.cat(cols)])
        return out[:, torch.randperm(out.shape[1], generator=torch.Generator().manual_seed(0))]

    def fps(self, src, batch, ratio, random_start):
        self.calls.append("fps")
        assert random_start is False
        out = []
        for b in range(int(batch.max()) + 1):
            where = (batch == b).nonzero().flatten()
            count = math.ceil(float(torch.tensor(len(where), dtype=torch.float32) * torch.tensor(ratio)))
            out += [int(where[0]) + i for i in _reference_fps(src[where].numpy(), count)]
        return torch.tensor(out)


@pytest.fixture
def fake_torch_cluster(monkeypatch):
    fake = _FakeTorchCluster()
    for mod in (backend_mod, neighbours_mod):
        monkeypatch.setattr(mod, "torch_cluster_module", lambda: fake)
    monkeypatch.setattr(backend_mod, "quickfps_module", lambda: None)
    monkeypatch.delenv(backend_mod.ENV_VAR, raising=False)
    return fake


def test_backend_reports_fallback_without_torch_cluster(monkeypatch):
    monkeypatch.setattr(backend_mod, "torch_cluster_module", lambda: None)
    monkeypatch.delenv(backend_mod.ENV_VAR, raising=False)
    assert backend() == "fallback"


def test_torch_cluster_path_flattens_scenes_and_restores_batches(fake_torch_cluster):
    assert backend() == "torch_cluster"
    query, ref = _points(3, 40, 3, seed=19), _points(3, 50, 3, seed=20)
    idx, dist = knn(query, ref, 4)
    ref_idx, ref_dist = _brute_knn(query, ref, 4)
    assert torch.equal(idx, ref_idx)
    pts = _points(3, 100, 3, seed=21)
    # m / N rounds up in float32 for m = 15 and 27 (ceil would keep one point too many): the ratio must not.
    for m in (1, 15, 27, 50, 100):
        idx = farthest_point_sampling(pts, m)
        assert [idx[b].tolist() for b in range(3)] == [_reference_fps(pts[b].numpy(), m) for b in range(3)]
    assert fake_torch_cluster.calls[:2] == ["knn", "fps"]


def test_environment_variable_forces_the_fallback(fake_torch_cluster, monkeypatch):
    monkeypatch.setenv(backend_mod.ENV_VAR, "fallback")
    assert backend() == "fallback"
    knn(_points(1, 30, 3), _points(1, 30, 3, seed=1), 2)
    farthest_point_sampling(_points(1, 30, 3), 5)
    assert fake_torch_cluster.calls == []


def test_unknown_environment_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(backend_mod.ENV_VAR, "cuda-please")
    with pytest.raises(ValueError, match=backend_mod.ENV_VAR):
        backend()


def test_real_torch_cluster_agrees_with_the_fallback(monkeypatch):
    if backend_mod.torch_cluster_module() is None:
        pytest.skip(NO_TORCH_CLUSTER)
    monkeypatch.delenv(backend_mod.ENV_VAR, raising=False)
    query, ref = _points(2, 300, 3, seed=22), _points(2, 400, 3, seed=23)
    pts = _points(2, 500, 3, seed=24)
    monkeypatch.setattr(backend_mod, "quickfps_module", lambda: None)  # so FPS runs torch-cluster too
    assert backend() == "torch_cluster"
    fast = knn(query, ref, 8), farthest_point_sampling(pts, 64)
    monkeypatch.setenv(backend_mod.ENV_VAR, "fallback")
    slow = knn(query, ref, 8), farthest_point_sampling(pts, 64)
    assert torch.equal(fast[0][0], slow[0][0])
    torch.testing.assert_close(fast[0][1], slow[0][1])
    assert torch.equal(fast[1], slow[1])
