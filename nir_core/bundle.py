"""ModelBundle: what a trained model is on disk and what the applications load.

A bundle is a folder holding ``config.json`` (format version, architecture name and config, label set,
normalisation convention, training provenance) and ``model.safetensors`` (the weights). Weights are never
pickled; a bundle from another architecture or a newer format fails with one clear :class:`BundleError`.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import NIRStudioError

FORMAT = "nir-studio-bundle"
VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MAX_CONFIG_BYTES = 1024 * 1024


class BundleError(NIRStudioError):
    """A bundle could not be read or does not fit what was asked of it."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass
class ModelBundle:
    """Architecture + weights + the metadata needed to use them."""

    architecture: str
    """Registered model name (see :mod:`nir_core.models.registry`)."""
    model_config: dict
    """The model's config dataclass as JSON."""
    state: dict[str, torch.Tensor]
    """Weights by parameter / buffer name."""
    label_set: dict | None = None
    """:meth:`LabelSet.to_json` of the semantic classes, when the model labels."""
    training: dict = field(default_factory=dict)
    """Provenance: task, command, data, steps, seed, time, git commit, metrics."""
    extra: dict = field(default_factory=dict)
    """Anything else a consumer may need (e.g. optimiser step counts in checkpoints)."""

    def config_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "architecture": self.architecture,
                "model_config": self.model_config, "label_set": self.label_set, "training": self.training,
                "extra": self.extra, "normalisation": "unit cube [-0.5, 0.5]^3, longest side 1, centred"}

    def save(self, path: str | Path) -> Path:
        """Writes the bundle folder atomically (a temp folder beside it, then renamed over it)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            (tmp / CONFIG_NAME).write_text(json.dumps(self.config_json(), indent=2) + "\n")
            tensors = {k: v.detach().cpu().contiguous() for k, v in self.state.items()}
            save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT, "version": str(VERSION)})
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, *, architecture: str | None = None) -> ModelBundle:
        """Reads a bundle folder; ``architecture`` (when given) must match the bundle's."""
        path = Path(path)
        if not path.exists():
            raise BundleError(path, "no such bundle")
        if not path.is_dir():
            raise BundleError(path, f"a bundle is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
        cfg_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
        for p in (cfg_path, weights_path):
            if not p.is_file():
                raise BundleError(path, f"{p.name} is missing")
        if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
            raise BundleError(cfg_path, "config is larger than 1 MiB")
        try:
            cfg = json.loads(cfg_path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(cfg_path, f"not valid JSON ({exc})") from None
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise BundleError(cfg_path, f"not a {FORMAT} config")
        if int(cfg.get("version", -1)) > VERSION:
            raise BundleError(cfg_path, f"format version {cfg.get('version')} is newer than this release reads "
                                        f"({VERSION})")
        if architecture is not None and cfg.get("architecture") != architecture:
            raise BundleError(path, f"bundle holds a {cfg.get('architecture')!r} model, not {architecture!r}")
        try:
            state = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise BundleError(weights_path, f"unreadable weights ({exc})") from None
        return cls(architecture=str(cfg["architecture"]), model_config=dict(cfg.get("model_config") or {}),
                   state=state, label_set=cfg.get("label_set"), training=dict(cfg.get("training") or {}),
                   extra=dict(cfg.get("extra") or {}))

    def size_bytes(self, path: str | Path) -> int:
        """Size on disk of a saved bundle folder."""
        return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())
