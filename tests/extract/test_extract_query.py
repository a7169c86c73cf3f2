"""Batched field evaluation: fast paths, NaN detection, autograd gradients, query counting."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from nir_core.data.ground_truth import MeshField
from nir_core.errors import FieldError, NIRStudioError
from nir_core.extract.query import QueryCounter, autograd_udf_and_grad, field_grid, grid_axis, query_field, sample_grid
from nir_core.field import TorchField

R = 0.3


class SphereNet(TorchField, torch.nn.Module):
    """A torch-only field (``query_np`` from TorchField): |q| - r, gradients by autograd, like a network."""

    def __init__(self, nan_below_x: float | None = None):
        super().__init__()
        self.radius = torch.nn.Parameter(torch.tensor(R))
        self.nan_below_x = nan_below_x
        self.udf_calls = 0

    def udf(self, q):
        self.udf_calls += 1
        d = (q.norm(dim=1) - self.radius).abs()
        if self.nan_below_x is not None:
            d = torch.where(q[:, 0] < self.nan_below_x, torch.full_like(d, float("nan")), d)
        return d

    def udf_and_grad(self, q):
        return autograd_udf_and_grad(self.udf, q)


def _points(n=1000, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (n, 3)).astype(np.float32)


def test_autograd_gradient_of_sphere_udf_is_radial():
    q = torch.from_numpy(_points())
    d, g = autograd_udf_and_grad(lambda x: x.norm(dim=1) - R, q)
    expected = q / q.norm(dim=1, keepdim=True)
    assert torch.allclose(g, expected, atol=1e-5)
    assert torch.allclose(d, q.norm(dim=1) - R)
    assert not d.requires_grad and not g.requires_grad


def test_autograd_works_under_no_grad_and_for_constant_fields():
    q = torch.from_numpy(_points(10))
    with torch.no_grad():
        _, g = autograd_udf_and_grad(lambda x: x.norm(dim=1), q)
    assert g.abs().sum() > 0
    _, g0 = autograd_udf_and_grad(lambda x: torch.ones(len(x)), q)
    assert torch.equal(g0, torch.zeros_like(q))


def test_torch_path_batches_and_matches_analytic():
    net = SphereNet()
    p = _points(1000)
    counter = QueryCounter()
    d, g = query_field(net, p, grad=True, batch_size=300, counter=counter)
    assert d.dtype == np.float32 and d.shape == (1000,) and g.shape == (1000, 3)
    r = np.linalg.norm(p, axis=1)
    np.testing.assert_allclose(d, np.abs(r - R), atol=1e-6)
    np.testing.assert_allclose(g, np.sign(r - R)[:, None] * p / r[:, None], atol=1e-5)
    assert counter.calls == 4 and counter.queries == 1000 and counter.grad_queries == 1000
    d2, g2 = query_field(net, p, grad=False, batch_size=300, counter=counter)
    assert g2 is None and counter.queries == 2000 and counter.grad_queries == 1000
    np.testing.assert_array_equal(d, d2)
    assert net.radius.grad is None  # queries never accumulate parameter gradients


def test_ground_truth_fields_use_numpy_fast_path():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=R)
    field = MeshField(sphere)
    p = _points(500)
    d, g = query_field(field, p, grad=True, batch_size=128)
    d_ref, g_ref, _ = field.query_np(p, grad=True, labels=False)
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(g, g_ref)


def test_nan_field_raises_field_error_with_count_and_example():
    net = SphereNet(nan_below_x=-0.4)
    p = _points(1000)
    expected = int((p[:, 0] < -0.4).sum())
    with pytest.raises(FieldError, match=f"{expected} non-finite distances") as info:
        query_field(net, p, grad=False)
    assert isinstance(info.value, NIRStudioError)
    assert info.value.count == expected and info.value.example[0] < -0.4
    with pytest.raises(FieldError, match="non-finite"):
        query_field(net, p, grad=True)


def test_wrong_shape_raises_field_error():
    class Bad(TorchField):
        def udf(self, q):
            return torch.zeros(len(q) + 1)

    with pytest.raises(FieldError, match="shape"):
        query_field(Bad(), _points(10), grad=False)


def test_sample_grid_layout_and_counter():
    axis = grid_axis(5)
    vol = sample_grid(lambda q: q[:, 0] + 10 * q[:, 1] + 100 * q[:, 2], 5, batch_size=7)
    i, j, k = 1, 3, 4
    assert vol.shape == (5, 5, 5)
    assert vol[i, j, k] == pytest.approx(axis[i] + 10 * axis[j] + 100 * axis[k], abs=1e-5)
    counter = QueryCounter()
    field_grid(SphereNet(), 8, counter=counter, batch_size=100)
    assert counter.queries == 512 and counter.fraction_of_grid(8) == 1.0
    with pytest.raises(FieldError):
        sample_grid(lambda q: np.full(len(q), np.inf), 4)
