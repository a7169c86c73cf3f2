"""The ``.nirz`` format for :func:`nir_core.pipeline.load_model`, registered through the
``nir_studio.model_loaders`` entry point (``pyproject.toml``), so nir_core never imports compress."""
from __future__ import annotations

from pathlib import Path

from nir_core.pipeline import ModelLoader


def _is_nirz(path: Path) -> bool:
    return path.suffix.lower() == ".nirz"


def _load(path: Path):
    from .workflow import model_from_file

    return model_from_file(path)


NIRZ_LOADER = ModelLoader("nirz", _is_nirz, _load)
"""A compressed model file: decoded weights, activation quantisation re-applied when the file records it."""
