"""The nir-studio command as a user runs it: real files, one-line errors, exit codes, outputs on disk."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, shared_file

from app.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_info_on_a_scannet_room(capsys):
    code, out, err = run(capsys, "info", str(shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")))
    assert code == 0, err
    assert "50000" in out and "scannet20" in out and "wall" in out and "%" in out


@pytest.mark.slow
def test_info_json_on_every_file_of_a_dataset_folder(capsys):
    folder = shared_file("modelnet40_samples")
    code, out, err = run(capsys, "info", "--json", str(folder))
    assert code == 0, err
    records = [json.loads(chunk) for chunk in out.replace("}\n{", "}\x00{").split("\x00")]
    assert len(records) == 12 and all(r["kind"] == "mesh" for r in records)
    assert {r["category"] for r in records} == {"airplane", "bathtub", "bed", "chair", "toilet"}


def test_info_on_camera_dataset_files(capsys):
    code, out, err = run(capsys, "info", str(shared_file("nerf_llff_fern_8x", "poses_bounds.npy")),
                         str(shared_file("nerf_synthetic_lego_200", "transforms_val.json")))
    assert code == 0, err
    assert "nerf-llff" in out and "nerf-blender" in out


def test_bad_inputs_give_one_line_each_and_exit_2(capsys, tmp_path):
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((10, 3), np.nan))
    code, out, err = run(capsys, "info", str(empty), str(nan), str(tmp_path / "missing.obj"))
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 3
    assert all(ln.startswith("error: ") for ln in lines)
    assert str(empty) in lines[0] and "empty" in lines[0]
    assert str(nan) in lines[1] and "NaN" in lines[1]
    assert "missing.obj" in lines[2] and "no such file" in lines[2]


def test_good_files_still_reported_when_one_is_bad(capsys, tmp_path):
    bad = tmp_path / "bad.off"
    bad.write_text("OFF\n8 12 0\n0 0 0\n")
    code, out, err = run(capsys, "info", str(bad), str(shared_file("classic_meshes", "spot.obj")))
    assert code == 2 and "spot.obj" in out and "bad.off" in err


@pytest.mark.slow
def test_console_script_prints_one_line_and_exits_nonzero(tmp_path):
    path = tmp_path / "scan.weird"
    path.write_text("1 2 3")
    exe = REPO / ".venv" / "bin" / "nir-studio"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    proc = subprocess.run([*cmd, "info", str(path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown file type" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_flag_is_a_usage_error(capsys):
    code, _, err = run(capsys, "info", "--no-such-flag", "x.ply")
    assert code == 2 and "no-such-flag" in err
