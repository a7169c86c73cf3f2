"""Normalisation into the unit cube and back, on a real mesh and on points."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from nir_core.data.io import load
from nir_core.data.normalise import Normalisation


def test_fit_puts_longest_side_at_one_and_centre_at_origin():
    rng = np.random.default_rng(0)
    pts = rng.uniform([-3, 10, 5], [7, 12, 6], (1000, 3))
    t = Normalisation.fit(pts)
    unit = t.apply(pts)
    np.testing.assert_allclose(unit.max(0) + unit.min(0), 0, atol=1e-6)
    assert np.isclose((unit.max(0) - unit.min(0)).max(), 1.0)
    np.testing.assert_allclose(t.invert(unit), pts, rtol=1e-5, atol=1e-4)


def test_margin_and_matrix_agree_with_apply():
    pts = np.random.default_rng(1).normal(size=(100, 3))
    t = Normalisation.fit(pts, margin=0.05)
    unit = t.apply(pts.astype(np.float64))
    assert np.abs(unit).max() == pytest.approx(0.45)
    homo = np.c_[pts, np.ones(len(pts))] @ t.matrix().T
    np.testing.assert_allclose(homo[:, :3], unit, atol=1e-12)


def test_composition_and_json_round_trip():
    pts = np.random.default_rng(2).normal(size=(50, 3)) * 4 + 9
    a = Normalisation(center=(1.0, 2.0, 3.0), scale=0.5)
    b = Normalisation.fit(a.apply(pts.astype(np.float64)))
    both = a.then(b)
    np.testing.assert_allclose(both.apply(pts.astype(np.float64)), b.apply(a.apply(pts.astype(np.float64))))
    assert Normalisation.from_json(both.to_json()) == both


def test_degenerate_extent_stays_invertible():
    t = Normalisation.fit(np.ones((5, 3)))
    assert t.scale == 1.0 and np.allclose(t.apply(np.ones((1, 3))), 0)


def test_scan_normalised_keeps_the_way_back():
    scan = load(shared_file("open_surfaces_mgn_garments", "Pants1.obj"))
    unit = scan.normalised()
    assert np.abs(unit.points).max() <= 0.5 + 1e-6
    assert np.isclose(np.ptp(unit.points, axis=0).max(), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit.mesh.vertices, unit.points, atol=1e-6)
    np.testing.assert_allclose(unit.normalisation.invert(unit.points), scan.points, atol=1e-5)
    # Normalising twice composes: the stored transform still maps the file's coordinates.
    again = unit.normalised(margin=0.1)
    np.testing.assert_allclose(again.normalisation.apply(scan.points), again.points, atol=1e-5)
    assert scan.mesh.vertices[0].tolist() != unit.mesh.vertices[0].tolist()  # the source scan is untouched
