"""The desktop viewer for radiance fields: turntables side by side, offscreen as a contact sheet or in a window."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image
from test_nerf import tiny_config

from app.nerf_viewer import contact_sheet, frames_of, side_by_side


def test_side_by_side_pads_to_the_tallest_and_the_sheet_tiles_the_rows():
    a = [np.zeros((4, 5, 3), np.uint8)] * 3
    b = [np.full((6, 2, 3), 9, np.uint8)] * 2
    rows = side_by_side([a, b])
    assert len(rows) == 2 and rows[0].shape == (6, 5 + 4 + 2, 3)
    assert (rows[0][4:, :5] == 255).all() and (rows[0][:, -2:] == 9).all()
    sheet = contact_sheet(rows * 3, columns=4)
    assert sheet.shape[0] == 2 * 6 + 4 and sheet.shape[1] == 4 * rows[0].shape[1] + 3 * 16


@pytest.mark.slow
def test_a_model_and_a_render_folder_play_along_the_same_path(tmp_path, capsys):
    from app.cli import main
    from compress.config import CompressConfig
    from compress.nerf import train_quantised

    report = train_quantised(tiny_config(tmp_path, steps=5, val_every=0), CompressConfig(quantiser="kmeans", bits=3),
                             progress=False)
    folder = tmp_path / "renders"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(np.full((25, 25, 3), 40 * k, np.uint8)).save(folder / f"test_{k:03d}.png")
    frames = frames_of([tmp_path / "run", folder], 3)
    assert [len(f) for f in frames] == [3, 3] and frames[0][0].shape == (25, 25, 3)
    assert not np.array_equal(frames[0][0], frames[0][1])  # the camera moves
    sheet = tmp_path / "sheet.png"
    with pytest.raises(SystemExit) as code:
        main(["nerf", "view", report["file"], "--compare", str(tmp_path / "run"), "--frames", "2", "--screenshot",
              str(sheet)])
    assert code.value.code == 0 and Image.open(sheet).size == (2 * (2 * 25 + 4) + 16, 25)
    with pytest.raises(SystemExit) as code:
        main(["nerf", "view", str(tmp_path / "empty"), "--screenshot", str(sheet)])
    assert code.value.code == 2


@pytest.mark.slow
def test_the_window_plays_under_a_virtual_display(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (scripts/setup.sh installs it as root)")
    for name, value in (("a", 30), ("b", 200)):
        (tmp_path / name).mkdir()
        for k in range(4):
            Image.fromarray(np.full((48, 64, 3), (value, 40 * k, 90), np.uint8)).save(tmp_path / name / f"{k}.png")
    shot = tmp_path / "display.png"
    command = ["xvfb-run", "-a", "-s", "-screen 0 1024x600x24", sys.executable, "-m", "app.cli", "nerf", "view",
               str(tmp_path / "a"), "--compare", str(tmp_path / "b"), "--close-after", "6", "--grab", str(shot)]
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # Both sequences are on screen: pixels with the first's red level and with the second's.
    assert (np.abs(pixels[:, 0] - 30) < 3).sum() > 1000 and (np.abs(pixels[:, 0] - 200) < 3).sum() > 1000
