"""Architectures by name: each one's model and config class, building a model from its config, and moving models in
and out of bundles."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

from ..bundle import BundleError, ModelBundle
from ..config import Config
from .base import ImplicitModel

# name -> ("module:model", "module:config"): the model is called with an instance of the config class. Imported
# lazily, so a bundle of one architecture does not import every other.
_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "point_udf": ("nir_core.models.point_udf:PointUDFModel", "nir_core.models.point_udf:PointUDFConfig"),
    "ndf": ("nir_core.models.ndf:NDFModel", "nir_core.models.ndf:NDFConfig"),
}


NOT_SCAN_MODELS = {"nerf": "a radiance field (render it with nir-studio nerf render)",
                   "image_inr": "an image (decode it with nir-studio image decode)"}
"""Architectures of other files the codec stores, which no scan pipeline runs: what to do with each instead."""


def register(name: str, builder: str, config: str) -> None:
    """Registers architecture ``name``: ``builder`` (``"package.module:callable"``, ``callable(cfg) ->
    ImplicitModel``, e.g. the model class) and ``config`` (``"package.module:ConfigClass"``, a
    :class:`~nir_core.config.Config` whose JSON is what bundles record as ``model_config``)."""
    _ARCHITECTURES[name] = (builder, config)


def architectures() -> list[str]:
    return sorted(_ARCHITECTURES)


def _target(name: str, which: int):
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(architectures()) or 'none'}")
    module, attribute = _ARCHITECTURES[name][which].split(":")
    return getattr(importlib.import_module(module), attribute)


def config_class(name: str) -> type[Config]:
    """The config class of architecture ``name`` (ValueError for an unknown name)."""
    return _target(name, 1)


def build_model(name: str, config: Config | Mapping | None = None) -> ImplicitModel:
    """A freshly initialised model of architecture ``name``.

    ``config``: its config, or that config's JSON (missing keys take their defaults; None: all defaults). A config
    goes through its JSON too, so settings derived from others (a head's input width from the encoder's) follow
    changes made to it in place.
    """
    cls = config_class(name)
    if isinstance(config, Config):
        if not isinstance(config, cls):
            raise ValueError(f"architecture {name!r} takes a {cls.__name__}, not a {type(config).__name__}")
        config = config.to_json()
    builder: Callable[[Config], ImplicitModel] = _target(name, 0)
    return builder(cls.from_json(config or {}))


def to_bundle(model: ImplicitModel, name: str, config: dict, **meta) -> ModelBundle:
    """A bundle of ``model`` (architecture ``name`` built from ``config``)."""
    return ModelBundle(architecture=name, model_config=config, state=dict(model.state_dict()), **meta)


def from_bundle(bundle: ModelBundle | str | Path, *, source: str | Path | None = None) -> ImplicitModel:
    """The model stored in a bundle (loaded from a folder when a path is given), in eval mode."""
    if not isinstance(bundle, ModelBundle):
        source = bundle
        bundle = ModelBundle.load(bundle)
    where = source or "<bundle>"
    if bundle.architecture in NOT_SCAN_MODELS:
        raise BundleError(where, f"holds {NOT_SCAN_MODELS[bundle.architecture]}, not a model of scans")
    try:
        model = build_model(bundle.architecture, bundle.model_config)
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(where, f"cannot build {bundle.architecture!r} from its config ({exc})") from None
    missing, unexpected = model.load_state_dict(bundle.state, strict=False)
    if missing or unexpected:
        raise BundleError(where, f"weights do not fit the {bundle.architecture!r} config "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()
