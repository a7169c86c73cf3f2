"""``nir-ns-export RUN --data DATA -o OUT.nirz``: a nir-kmeans-nerf run of ``ns-train`` as a NIR Studio file.

Reads the run's latest checkpoint with ``torch.load(weights_only=True)`` (tensors, numbers and numpy scalars only:
no code is unpickled), rebuilds
NIR Studio's NeRF from the configuration the checkpoint carries, fits the quantiser's codebooks to the final weights
(one last repartition) and writes the ``.nirz`` with the codec every other NIR Studio model uses; a float run is
written as a bundle folder instead. The scene's cameras (for turntables) come from ``DATA``, the dataset the run
trained on. ``nir-studio nerf render OUT.nirz`` then renders and scores it in the main environment.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

EXTRA_STATE = "field._extra_state"


def latest_checkpoint(run: Path) -> tuple[Path, int]:
    """The newest ``nerfstudio_models/step-N.ckpt`` of a run folder (the one holding ``config.yml``) and its step."""
    found = []
    for path in (run / "nerfstudio_models").glob("step-*.ckpt"):
        match = re.fullmatch(r"step-(\d+)\.ckpt", path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        raise SystemExit(f"{run}: no nerfstudio_models/step-*.ckpt (the folder ns-train wrote config.yml in)")
    step, path = max(found)
    return path, step


def _numpy_scalars() -> list:
    """The numpy types a nerfstudio checkpoint holds besides tensors (a scheduler's numpy scalars), allowed to the
    weights-only loader: plain numbers, not code."""
    import numpy as np

    try:
        from numpy.core.multiarray import scalar
    except ImportError:  # pragma: no cover - numpy 2 moved it
        from numpy._core.multiarray import scalar
    return [scalar, np.dtype, *{type(np.dtype(t)) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_)}]


def export(run: Path, data: Path, out: Path, downscale: int = 1) -> dict:
    """Writes ``out`` (``.nirz`` for a quantised run, else a bundle folder); returns what was written."""
    from compress.config import CompressConfig
    from compress.qat_run import QATRun
    from nir_core.bundle import ModelBundle
    from nir_core.data.views import load_views
    from nir_core.nerf.model import NeRF, NeRFConfig
    from nir_core.nerf.render import RenderConfig
    from nir_core.nerf.train import ARCHITECTURE, scene_info

    checkpoint, step = latest_checkpoint(run)
    with torch.serialization.safe_globals(_numpy_scalars()):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["pipeline"]
    keys = [k for k in state if k.endswith(EXTRA_STATE)]
    if not keys:
        raise SystemExit(f"{checkpoint}: not a nir-kmeans-nerf run with NIR Studio's field "
                         "(field_implementation=nerfstudio runs cannot be exported)")
    prefix = keys[0][: -len("_extra_state")]
    spec = state[keys[0]]
    weights = {k[len(prefix) + len("nerf."):]: v for k, v in state.items() if k.startswith(prefix + "nerf.")}
    model = NeRF(NeRFConfig.from_json(spec["model_config"]))
    model.load_state_dict(weights)
    scene = {**scene_info(load_views(data, "train", downscale)), "near": spec["near"], "far": spec["far"]}
    bundle = ModelBundle(architecture=ARCHITECTURE, model_config=spec["model_config"], state=dict(model.state_dict()),
                         training={"config": {"data": str(data), "downscale": downscale}, "trainer": "nerfstudio",
                                   "method": "nir-kmeans-nerf", "step": step, "checkpoint": str(checkpoint)},
                         extra={"scene": scene, "render": RenderConfig(samples=int(spec["samples"])).to_json()})
    if not spec["quantiser"]:
        bundle.save(out)
        return {"bundle": str(out), "step": step}
    qat = QATRun(CompressConfig(quantiser=spec["quantiser"], bits=int(spec["bits"])), int(spec["repartition_every"]))
    qat.attach_to(model)
    return {**qat.write(bundle, out, source=str(checkpoint)), "step": step}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="The ns-train output folder (the one holding config.yml).")
    parser.add_argument("--data", type=Path, required=True, help="The dataset the run trained on.")
    parser.add_argument("--downscale", type=int, default=1, help="The image size the scene is rendered at.")
    parser.add_argument("-o", "--out", type=Path, required=True, help="OUT.nirz (quantised run) or a folder.")
    args = parser.parse_args(argv)
    report = export(args.run, args.data, args.out, args.downscale)
    sizes = ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in (report.get("coded_sizes") or {}).items())
    print(f"step {report['step']} written to {report.get('file') or report['bundle']}"
          + (f" ({report['file_bytes'] / 1024:.1f} KB; {sizes})" if "file_bytes" in report else ""), file=sys.stdout)


if __name__ == "__main__":
    main()
