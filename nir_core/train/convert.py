"""Switching a trained Point Transformer bundle to per-scene norm statistics without retraining it.

A run trained with the reference batch norm (``norm_statistics: "batch"``) on one scene per step computed exactly
what ``"scene"`` computes in training (tests/models/test_point_transformer.py); only inference differs, where
"batch" uses running averages over very different scenes. Such a bundle can therefore be switched: its running
averages are dropped and its config says "scene". Not so when the encoder was frozen during the run (tasks that
train heads on its encodings): those heads learnt from encodings normalised by the averages.

Usage: ``python -c "from nir_core.train.convert import convert_folder; convert_folder('RUN/bundle')"``.
"""
from __future__ import annotations

from pathlib import Path

from ..bundle import BundleError, ModelBundle
from .tasks import TASKS

RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def to_scene_statistics(bundle: ModelBundle, source: str | Path = "<bundle>") -> ModelBundle:
    """The same weights with per-scene norm statistics in the encoder (and the contextualiser, which follows it).

    Raises :class:`BundleError` for a bundle this would change: not a Point Transformer model, trained on batches
    of several scenes, or trained on a frozen encoder."""
    if bundle.architecture != "point_udf":
        raise BundleError(source, f"holds a {bundle.architecture!r} model; only Point Transformer bundles have "
                                  "these norms")
    run = bundle.training.get("config", {})
    if run.get("batch_size") != 1:
        raise BundleError(source, f"was trained on batches of {run.get('batch_size')} scenes: its batch norms "
                                  "pooled them, so per-scene statistics would change what it computes")
    task = run.get("task")
    if task not in TASKS or "encoder" not in TASKS[task].spec.trains:
        raise BundleError(source, f"task {task!r} trained its heads on a frozen encoder normalised by running "
                                  "averages; retrain it on a per-scene encoder instead")
    config = {**bundle.model_config, "encoder": {**bundle.model_config["encoder"], "norm_statistics": "scene"}}
    if config.get("context") is not None:
        network = {**config["context"].get("network", {}), "norm_statistics": "scene"}
        config["context"] = {**config["context"], "network": network}
    state = {k: v for k, v in bundle.state.items() if not k.endswith(RUNNING_STATISTICS)}
    note = "trained with 'batch' norm statistics at one scene per step; switched to 'scene' afterwards"
    return ModelBundle(architecture=bundle.architecture, model_config=config, state=state,
                       label_set=bundle.label_set, training=bundle.training,
                       extra={**bundle.extra, "norm_statistics": note})


def convert_folder(path: str | Path) -> Path:
    """Switches the bundle folder ``path`` in place (atomically); returns it."""
    return to_scene_statistics(ModelBundle.load(path), source=path).save(path)
