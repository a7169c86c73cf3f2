"""Images stored as networks (COIN-like): fit an :class:`~nir_core.inr.image.ImageINR` to an image, optionally
quantisation-aware from the first step, and store it as one ``.nirz``; decode a ``.nirz`` back to pixels.

The file's size in bits per pixel is what image codecs are compared by (``benchmarks/bench_image_inr.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nir_core.atomic import atomic_write_bytes
from nir_core.bundle import ModelBundle
from nir_core.errors import NIRStudioError
from nir_core.inr.image import ARCHITECTURE, ImageFitConfig, ImageINR, ImageINRConfig, fit_image

from . import codec
from .config import CompressConfig
from .qat_run import QATRun


def read_image(path: str | Path, crop: tuple[int, ...] | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] of an image file; ``crop`` (w, h) from the centre or (w, h, x, y)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise NIRStudioError(f"{path}: no such image")
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise NIRStudioError(f"{path}: not a readable image ({exc})") from None
    if crop is None:
        return rgb
    h, w = rgb.shape[:2]
    cw, ch = crop[0], crop[1]
    x, y = (crop[2], crop[3]) if len(crop) == 4 else ((w - cw) // 2, (h - ch) // 2)
    if not (0 < cw and 0 < ch and 0 <= x and 0 <= y and x + cw <= w and y + ch <= h):
        raise NIRStudioError(f"{path}: the crop {crop} does not fit in its {w}x{h} pixels")
    return np.ascontiguousarray(rgb[y:y + ch, x:x + cw])


def fit_to_file(image: np.ndarray, out: str | Path, cfg: ImageFitConfig, quantisation: CompressConfig | None = None,
                repartition_every: int = 1, progress: bool = True, source: str = "", raw_float: str = "float32") -> dict:
    """Fits ``image`` (H, W, 3) and writes the network to ``out`` (``.nirz``; quantised when ``quantisation`` is
    given, else its weights as ``raw_float``). Returns the fit's report with the file's size and every coder's body
    size, and bits per pixel of both: ``bpp`` (the whole file, header included) and ``body_bpp`` (the coded weights
    alone, what COIN counts)."""
    run = QATRun(quantisation, repartition_every) if quantisation is not None else None
    model, report = fit_image(image, cfg, hooks=run.hooks if run else None, progress=progress)
    h, w = image.shape[:2]
    # Only what decoding needs goes in the file: an image's network is a few hundred bytes, its header would be more.
    bundle = ModelBundle(architecture=ARCHITECTURE, model_config=cfg.model.to_json(), state=dict(model.state_dict()),
                         extra={"height": h, "width": w})
    if run is not None:
        written = run.write(bundle, out, source=source)
    else:
        data, header = codec.encode_bundle(bundle, {}, coder="best", raw_float=raw_float)
        path = atomic_write_bytes(out, data)
        written = {"file": str(path), "file_bytes": path.stat().st_size, "coder": header["coder"],
                   "coded_sizes": header["coded_sizes"]}
    body = written["coded_sizes"][written["coder"]]
    return {**report, **written, "bpp": written["file_bytes"] * 8 / (h * w), "body_bpp": body * 8 / (h * w)}


def decode_file(path: str | Path) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]: the image a ``.nirz`` written by :func:`fit_to_file` holds."""
    bundle = codec.read(path)
    if bundle.architecture != ARCHITECTURE:
        raise codec.NirzError(path, f"holds a {bundle.architecture!r} model, not an image")
    model = ImageINR(ImageINRConfig.from_json(bundle.model_config))
    model.load_state_dict({k: v.to(torch.float32) for k, v in bundle.state.items()})
    return model.eval().render(int(bundle.extra["height"]), int(bundle.extra["width"])).numpy()
