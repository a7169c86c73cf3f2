"""The web UI under a user's hands: click-to-result time in a real browser, the server's share of it, concurrency.

A local server (the same `build_ui` as `nir-studio web`, default settings: 256³, labels on, the default model) is
driven by headless Chromium: upload a 10,000-point real room (ScanNet scene0000_00, 10,000 of its points with their
colours, written to a PLY), click Reconstruct, wait until the downloads are enabled; the time from the click is what
a user waits. The same in the Compare encoders tab (the float model and its 3-bit K-means variant, each
reconstructed), until the comparison is shown. Beside them, for the same file: the server's job alone
(`run_reconstruction`, no browser), `nir-studio reconstruct` as a command (process start included) and the faces of
the mesh the browser is sent (the downloads keep them all). Then 5 clients call the job at once through
`gradio_client` (the queue runs them one after another); all must complete without error. The page screenshots
are saved as docs/web.png and docs/web_compare.png.

Run: ``.venv/bin/python benchmarks/bench_web.py [--resolution 256] [--input FILE]``
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import REPO, Experiment, Table

from app.web import WebConfig, build_ui, bundled_models, server_tuning
from app.web.browser import compare_in_browser, reconstruct_in_browser
from app.web.reconstruct import Models, run_reconstruction
from nir_core import cpu
from nir_core.protocol import RESOLUTION

ROOM = REPO.parent / "shared" / "data" / "scannet_scene0000_00_fullres" / "scene0000_00_vert_all.npy"
INPUT_POINTS = 10_000


def real_room(folder: Path) -> Path:
    """A 10,000-point real room as a user would upload it: ``INPUT_POINTS`` of scene0000_00's points (fixed seed)
    with their colours, as a PLY in ``folder``."""
    import numpy as np

    from nir_core.data.io import load, save_scan
    from nir_core.data.scan import Scan

    room = load(ROOM)
    pick = np.random.default_rng(0).choice(len(room), INPUT_POINTS, replace=False)
    return save_scan(Scan(points=room.points[pick], colors=None if room.colors is None else room.colors[pick]),
                     folder / "scene0000_00_10k.ply")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--input", type=Path, default=None, help="scan to upload (default: a 10k-point real room)")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    exp = Experiment(name="web", title="Web UI: click to result, the server's share, concurrent requests",
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="nir-web-bench-"))
    scan = args.input or real_room(work)
    cfg = WebConfig(work_root=work / "ui", port=port, default_resolution=args.resolution)
    cpu.apply(server_tuning(cfg))  # as `nir-studio web` does
    ui = build_ui(cfg)
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    model = next(iter(bundled_models()))
    try:
        reconstruct_in_browser(url, scan)  # warm-up: the model loads on the first job
        click = reconstruct_in_browser(url, scan, REPO / "docs" / "web.png")
        compare = compare_in_browser(url, scan, REPO / "docs" / "web_compare.png")
        start = time.perf_counter()
        job = run_reconstruction(cfg, Models(bundled_models()), scan, model, args.resolution, True, work / "job")
        server = time.perf_counter() - start

        def one(_):
            start = time.perf_counter()
            Client(url, verbose=False).predict(handle_file(str(scan)), "", model, args.resolution, True,
                                               api_name="/on_run")
            return time.perf_counter() - start

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            waits = list(pool.map(one, range(args.clients)))
        together = time.perf_counter() - start
    finally:
        ui.close()
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "nir-studio"), "reconstruct", str(scan), "-o", str(work / "cli"),
                    "--resolution", str(args.resolution)], check=True, capture_output=True)
    cli = time.perf_counter() - start
    data = job["data"]
    exp.tables["Timings"] = Table(["measure", "value"], [
        [f"Reconstruct tab: click to labelled result on screen, {scan.name} at {args.resolution}³ (s)", f"{click:.1f}"],
        ["Compare encoders tab: click to both results and the comparison (s)", f"{compare:.1f}"],
        ["the server's job alone, no browser (s)", f"{server:.1f}"],
        ["nir-studio reconstruct, the same file, process start included (s)", f"{cli:.1f}"],
        ["mesh faces: downloaded / shown in the browser",
         f"{data['mesh_unit_cube']['faces']:,} / {data['display_faces']:,}"],
        [f"{args.clients} concurrent requests: all completed, wall time (s)", f"{together:.1f}"],
        ["slowest single wait among them (s)", f"{max(waits):.1f}"]])
    exp.notes.append("Screenshots of the pages after the clicks: docs/web.png, docs/web_compare.png.")
    exp.metrics = {"input": scan.name, "click_to_result_s": click, "compare_click_to_result_s": compare,
                   "server_job_s": server, "cli_s": cli, "timings_s": data["timings_s"],
                   "display_s": data["display_s"], "faces": data["mesh_unit_cube"]["faces"],
                   "display_faces": data["display_faces"],
                   "concurrent": {"clients": args.clients, "wall_s": together, "waits_s": waits}}
    exp.save()


if __name__ == "__main__":
    main()
