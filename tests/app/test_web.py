"""The web UI as a person uses it: the job behind the button on real files, its limits, and the served app."""
from __future__ import annotations

import socket

import pytest
import trimesh
from conftest import REPO, shared_file

from app.web import WebConfig, build_ui, bundled_models, bundled_variants, session_folder
from app.web.previews import legend_html, points_glb
from app.web.reconstruct import Models, run_reconstruction, summary

SAMPLE = REPO / "assets" / "samples" / "room_00001_scan.ply"


@pytest.fixture(scope="module")
def models():
    return Models(bundled_models())


@pytest.mark.slow
def test_reconstruct_job_on_a_sample_writes_previews_downloads_and_stats(tmp_path, models):
    cfg = WebConfig(work_root=tmp_path)
    name = next(iter(cfg.models or bundled_models()))
    result = run_reconstruction(cfg, models, SAMPLE, name, 32, True, session_folder(cfg, "s1"))
    for key in ("preview", "shown", "glb", "ply", "report"):
        assert result[key].exists() and result[key].stat().st_size > 0
    preview = trimesh.load(result["preview"], force="mesh")
    assert len(preview.faces) == 8 * min(10_000, cfg.preview_points)  # the 10k-point scan's points as octahedra
    assert result["preview"].name == "labelled_points.glb"  # after a labelled run: the predicted classes
    stats = summary(result["data"])
    assert stats["mesh faces"] > 100 and set(stats["time per stage (s)"]) >= {"load", "encode", "extract", "export",
                                                                           "display"}
    assert stats["mesh faces shown"] == stats["mesh faces"]  # within the budget: shown as it is


def test_the_browser_gets_a_mesh_within_the_face_budget_and_the_download_keeps_every_face(tmp_path):
    import numpy as np

    from app.web.previews import display_glb
    from nir_core.data.io import load, save_scan
    from nir_core.data.scan import Scan

    sphere = trimesh.creation.icosphere(subdivisions=6, radius=0.4)  # 81,920 faces
    colours = np.where(sphere.vertices[:, 2:] > 0, [[200, 30, 30]], [[30, 30, 200]]).astype(np.uint8)
    full = save_scan(Scan(points=sphere.vertices.astype("float32"), mesh=sphere, colors=colours), tmp_path / "s.ply")
    shown, faces = display_glb(trimesh.load(full, process=False), tmp_path / "s.glb", max_faces=20_000)
    back = load(shown)
    assert faces == len(back.mesh.faces) and 5_000 < faces <= 20_000
    assert abs(back.mesh.area - sphere.area) / sphere.area < 0.02 and back.colors is not None
    top = back.points[:, 2] > 0.05
    assert (back.colors[top, 0] > back.colors[top, 2]).all()  # the colours went with their vertices
    assert len(load(full).mesh.faces) == len(sphere.faces)


def test_limits_and_bad_files_give_messages(tmp_path, models):
    name = next(iter(bundled_models()))
    with pytest.raises(ValueError, match="100-point limit"):
        run_reconstruction(WebConfig(work_root=tmp_path, max_points=100), models, SAMPLE, name, 32, True, tmp_path)
    with pytest.raises(ValueError, match="upload limit"):
        run_reconstruction(WebConfig(work_root=tmp_path, max_upload_mb=0), models, SAMPLE, name, 32, True, tmp_path)
    bad = tmp_path / "bad.ply"
    bad.write_text("ply\nformat ascii 1.0\nelement vertex 2\nend_header\n")
    from nir_core.errors import NIRStudioError

    with pytest.raises(NIRStudioError, match="bad.ply"):
        run_reconstruction(WebConfig(work_root=tmp_path), models, bad, name, 32, True, tmp_path)


def test_previews_of_a_real_scannet_room_and_the_legend(tmp_path):
    import numpy as np

    from nir_core.data.io import load

    room = load(shared_file("scannet_votenet_50k", "scene0003_00_vert.npy"))
    path = points_glb(room.points, room.label_set.colorize(room.labels), tmp_path / "room.glb", max_points=5000)
    mesh = trimesh.load(path, force="mesh")
    assert len(mesh.faces) == 8 * 5000 and mesh.visual.kind == "vertex"
    html = legend_html({"wall": "#aec7e8", "chair<x>": "#bcbd22"}, {"wall": 3, "chair<x>": 1})
    assert "75.0%" in html and "chair&lt;x&gt;" in html and "#bcbd22" in html
    assert np.isfinite(mesh.vertices).all()


@pytest.mark.slow
def test_served_app_answers_on_localhost_and_runs_a_job(tmp_path):
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ui = build_ui(WebConfig(work_root=tmp_path, port=port))
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        model = next(iter(bundled_models()))
        out = client.predict(None, "room_00001_scan.ply", model, 64, True, api_name="/on_run")
        preview, result, legend, stats = out[:4]
        assert trimesh.load(result, force="mesh").faces.shape[0] > 100
        assert stats["mesh faces"] > 100
        sessions = [p for p in tmp_path.iterdir() if p.is_dir()]
        assert len(sessions) == 1 and sessions[0].name != "anonymous"  # a folder per browser session
    finally:
        ui.close()


@pytest.mark.slow
def test_a_real_browser_uploads_a_scan_and_sees_the_result(tmp_path):
    import numpy as np
    from PIL import Image

    from app.web.browser import chromium_path, reconstruct_in_browser

    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it as root)")
    pytest.importorskip("playwright")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ui = build_ui(WebConfig(work_root=tmp_path / "work", port=port, default_resolution=64))
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        shot = tmp_path / "page.png"
        seconds = reconstruct_in_browser(f"http://127.0.0.1:{port}/", SAMPLE, shot)
    finally:
        ui.close()
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert seconds < 120
    # Not blank: the page holds the drawn point cloud and mesh, so many distinct colours.
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50


@pytest.mark.slow
def test_compare_job_float_against_a_quantised_variant(tmp_path, models):
    from app.web.compare import run_comparison

    cfg = WebConfig(work_root=tmp_path)
    mesh_sample = SAMPLE.with_name("room_00001_mesh.ply")
    name = next(iter(bundled_models()))
    result = run_comparison(cfg, models, mesh_sample, name, "kmeans", 3, None, 32, True, session_folder(cfg, "s2"))
    s = result["summary"]
    sizes = s["model size on disk (bytes)"]
    nirz = result["sides"]["compressed"]["path"]
    assert sizes["compressed"] == nirz.stat().st_size and sizes["float"] > 5 * sizes["compressed"]
    assert 0.0 <= s["compressed mesh vs float mesh"]["f1_delta"] <= 1.0
    assert "float mesh vs the input's surface" in s and "compressed mesh vs the input's surface" in s
    for side in ("float", "compressed"):
        assert result["sides"][side]["glb"].exists() and len(result["sides"][side]["mesh"].faces) > 100
    # the same variant uploaded as a file gives the same mesh
    again = run_comparison(cfg, models, mesh_sample, name, "minmax", 8, nirz, 32, True, session_folder(cfg, "s2"))
    assert len(again["sides"]["compressed"]["mesh"].faces) == len(result["sides"]["compressed"]["mesh"].faces)
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"PK")
    with pytest.raises(ValueError, match="upload a compressed model"):
        run_comparison(cfg, models, mesh_sample, name, "kmeans", 3, bad, 32, True, tmp_path)


def test_the_shipped_compressed_variants_are_the_nirz_files_beside_the_bundles(tmp_path, monkeypatch):
    import app.batch

    (tmp_path / "ndf-geometry").mkdir()
    (tmp_path / "ndf-geometry" / "config.json").write_text("{}")
    for name in ("pt-geometry-searched.nirz", "ndf-geometry-searched.nirz", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(app.batch, "MODELS_DIR", tmp_path)
    assert bundled_variants() == {"ndf-geometry-searched.nirz": tmp_path / "ndf-geometry-searched.nirz",
                                  "pt-geometry-searched.nirz": tmp_path / "pt-geometry-searched.nirz"}
    monkeypatch.setattr(app.batch, "MODELS_DIR", tmp_path / "missing")
    assert bundled_variants() == {}


def test_the_server_runs_torch_on_one_thread_unless_told_otherwise():
    from app.web import server_tuning

    assert server_tuning(WebConfig(), environ={}).intra_op_threads == 1
    assert server_tuning(WebConfig(torch_threads=0), environ={}).intra_op_threads == 0
    assert server_tuning(WebConfig(), environ={"NIR_STUDIO_THREADS": "2"}).intra_op_threads == 2


@pytest.mark.slow
def test_a_real_browser_compares_the_shipped_nerfs(tmp_path):
    import numpy as np
    from PIL import Image

    from app.web import bundled_nerfs
    from app.web.browser import chromium_path, compare_nerfs_in_browser

    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it as root)")
    if not bundled_nerfs():
        pytest.skip("assets/nerfs is empty (make nerf-assets)")
    pytest.importorskip("playwright")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ui = build_ui(WebConfig(work_root=tmp_path / "work", port=port))
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        shot = tmp_path / "page.png"
        seconds = compare_nerfs_in_browser(f"http://127.0.0.1:{port}/", shot)
    finally:
        ui.close()
    assert seconds < 120
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50  # the renderings and the plot are on the page
