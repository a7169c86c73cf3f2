"""Architectures by name: build a model from its config JSON, and move models in and out of bundles."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ..bundle import BundleError, ModelBundle
from .base import ImplicitModel

# name -> "module:function" returning a model from a config dict; imported lazily so a bundle of one
# architecture does not import every other.
_BUILDERS: dict[str, str] = {
    "point_udf": "nir_core.models.point_udf:build",
    "ndf": "nir_core.models.ndf:build",
}


def register(name: str, target: str) -> None:
    """Registers ``target`` (``"package.module:function"``, ``function(config: dict) -> ImplicitModel``)."""
    _BUILDERS[name] = target


def architectures() -> list[str]:
    return sorted(_BUILDERS)


def build_model(name: str, config: dict) -> ImplicitModel:
    """A freshly initialised model of architecture ``name``."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(architectures()) or 'none'}")
    module, function = _BUILDERS[name].split(":")
    builder: Callable[[dict], ImplicitModel] = getattr(importlib.import_module(module), function)
    return builder(config)


def to_bundle(model: ImplicitModel, name: str, config: dict, **meta) -> ModelBundle:
    """A bundle of ``model`` (architecture ``name`` built from ``config``)."""
    return ModelBundle(architecture=name, model_config=config, state=dict(model.state_dict()), **meta)


def from_bundle(bundle: ModelBundle | str | Path, *, source: str | Path | None = None) -> ImplicitModel:
    """The model stored in a bundle (loaded from a folder when a path is given), in eval mode."""
    if not isinstance(bundle, ModelBundle):
        source = bundle
        bundle = ModelBundle.load(bundle)
    where = source or "<bundle>"
    try:
        model = build_model(bundle.architecture, bundle.model_config)
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(where, f"cannot build {bundle.architecture!r} from its config ({exc})") from None
    missing, unexpected = model.load_state_dict(bundle.state, strict=False)
    if missing or unexpected:
        raise BundleError(where, f"weights do not fit the {bundle.architecture!r} config "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()
