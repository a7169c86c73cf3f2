"""Hostile and unusual inputs as a new user gives them: one clear line (or a stated warning), never a traceback, and
never a server path in the browser."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from test_cli import run

from nir_core.data.normalise import describe_spread
from nir_core.errors import NIRStudioError, OutOfMemoryError

BUNDLE = REPO / "assets" / "models" / "pt-geometry"


def _points(kind: str, n: int = 5000) -> np.ndarray:
    t = np.random.default_rng(0).uniform(-1, 1, (n, 3))
    if kind == "coincide":
        return np.tile([[0.3, -1.2, 4.0]], (n, 1))
    if kind == "collinear":
        return np.array([1.0, 2.0, -0.5]) + t[:, :1] * np.array([0.2, 0.5, 1.0])
    if kind == "coplanar":
        return t[:, :1] * np.array([1.0, 0.0, 0.3]) + t[:, 1:2] * np.array([0.0, 1.0, 0.0])
    return t


@pytest.mark.parametrize("kind", ["coincide", "collinear", "coplanar", "volume"])
def test_the_shape_of_a_point_set_is_named(kind):
    assert describe_spread(_points(kind)) == (None if kind == "volume" else kind)
    # Noise far above float rounding makes a real, thin scan: not degenerate.
    noisy = _points(kind) + np.random.default_rng(1).normal(0, 1e-3, (5000, 3))
    assert describe_spread(noisy) is None


def _scan_file(tmp_path, kind):
    path = tmp_path / f"{kind}.npy"
    np.save(path, _points(kind).astype(np.float32))
    return path


@pytest.mark.parametrize("kind, words", [("coincide", "all 5,000 points coincide"),
                                         ("collinear", "the 5,000 points are collinear")])
def test_extract_refuses_a_scan_without_a_surface_in_one_line(capsys, tmp_path, kind, words):
    code, _, err = run(capsys, "extract", str(_scan_file(tmp_path, kind)), "-o", str(tmp_path / "out.ply"))
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not (tmp_path / "out.ply").exists()


@pytest.mark.slow
def test_reconstruct_fails_degenerate_scans_and_warns_of_a_flat_one(capsys, tmp_path):
    inputs = [str(_scan_file(tmp_path, kind)) for kind in ("coincide", "collinear", "coplanar")]
    code, out, err = run(capsys, "reconstruct", *inputs, "--model", str(BUNDLE), "--out", str(tmp_path / "out"),
                         "--resolution", "32", "--format", "ply")
    assert code == 1 and "Traceback" not in err
    assert "points coincide" in err and "points are collinear" in err
    assert "warning:" in err and "coplanar" in err and (tmp_path / "out" / "coplanar.ply").exists()


@pytest.mark.parametrize("command", ["extract", "reconstruct"])
def test_an_out_of_range_resolution_is_refused_up_front(capsys, tmp_path, command):
    args = [str(REPO / "assets" / "samples" / "room_00001_scan.ply"), "-o", str(tmp_path / "out.ply")]
    code, _, err = run(capsys, command, *args, "--resolution", "100000")
    assert code == 2 and "resolution must be from 8 to 2,048, got 100,000" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out.ply").exists()


def test_memory_is_checked_before_the_extraction_allocates(capsys, tmp_path, monkeypatch):
    import nir_core.memory

    monkeypatch.setattr(nir_core.memory, "available_bytes", lambda: 1 << 20)  # a machine with 1 MiB free
    mesh = REPO / "assets" / "samples" / "room_00001_mesh.ply"
    code, _, err = run(capsys, "extract", str(mesh), "-o", str(tmp_path / "out.ply"), "--resolution", "512")
    assert code == 2 and "GiB" in err and "lower resolution" in err and len(err.strip().splitlines()) == 1, err
    from nir_core.data.io import load
    from nir_core.pipeline import Pipeline, PipelineConfig

    with pytest.raises(OutOfMemoryError, match="meshing at 512³"):
        Pipeline(PipelineConfig(resolution=512)).run(load(mesh))


def test_the_browser_sees_file_names_not_server_paths(tmp_path):
    from app.web import WebConfig, bundled_models, user_message
    from app.web.reconstruct import Models, run_reconstruction

    deep = tmp_path / "gradio" / "0123456789abcdef" / "random.ply"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"\x00\x01 not a scan")
    with pytest.raises(NIRStudioError) as info:
        run_reconstruction(WebConfig(work_root=tmp_path), Models(bundled_models()), deep, next(iter(bundled_models())),
                           32, True, tmp_path)
    shown = user_message(info.value)
    assert shown.startswith("random.ply: ") and str(tmp_path) not in shown and "gradio" not in shown
    assert user_message(ValueError("3/4 of /srv/x/y.ply")) == "3/4 of y.ply"


def test_web_settings_are_checked():
    from app.web import WebConfig

    with pytest.raises(ValueError, match="port must be from 1 to 65,535"):
        WebConfig(port=70000)
