"""The web UI under a user's hands: click-to-result time in a real browser, and concurrent requests.

A local server (the same `build_ui` as `nir-studio web`, default settings: 256³, labels on) is driven by headless
Chromium: upload a bundled sample, click Reconstruct, wait until the result is shown and the downloads are enabled;
the time from the click is what a user waits. Then 5 clients call the same job at once through `gradio_client`
(the queue runs them one after another); all must complete without error. The page screenshot is saved as
docs/web.png.

Run: ``.venv/bin/python benchmarks/bench_web.py [--resolution 256]``
"""
from __future__ import annotations

import argparse
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import REPO, Experiment, Table

from app.web import WebConfig, build_ui, bundled_models
from app.web.browser import reconstruct_in_browser
from nir_core.protocol import RESOLUTION

SAMPLE = REPO / "assets" / "samples" / "room_00001_scan.ply"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--clients", type=int, default=5)
    args = parser.parse_args()
    from gradio_client import Client

    exp = Experiment(name="web", title="Web UI: click to result, concurrent requests",
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="nir-web-bench-"))
    ui = build_ui(WebConfig(work_root=work, port=port, default_resolution=args.resolution))
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        reconstruct_in_browser(url, SAMPLE)  # warm-up: the model loads on the first job
        click = reconstruct_in_browser(url, SAMPLE, REPO / "docs" / "web.png")
        model = next(iter(bundled_models()))

        def one(_):
            start = time.perf_counter()
            Client(url, verbose=False).predict(None, SAMPLE.name, model, args.resolution, True, api_name="/on_run")
            return time.perf_counter() - start

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            waits = list(pool.map(one, range(args.clients)))
        together = time.perf_counter() - start
    finally:
        ui.close()
    exp.tables["Timings"] = Table(["measure", "value"], [
        [f"click to labelled result on screen, {SAMPLE.name} at {args.resolution}³ (s)", f"{click:.1f}"],
        [f"{args.clients} concurrent requests: all completed, wall time (s)", f"{together:.1f}"],
        ["slowest single wait among them (s)", f"{max(waits):.1f}"]])
    exp.notes.append("Screenshot of the page after the click: docs/web.png.")
    exp.metrics = {"click_to_result_s": click, "concurrent": {"clients": args.clients, "wall_s": together,
                                                              "waits_s": waits}}
    exp.save()


if __name__ == "__main__":
    main()
