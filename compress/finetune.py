"""Quantisation-aware fine-tuning of a trained bundle on its own training data, through the training engine.

The bundle's recorded training config (its data and sampling) is rerun from the bundle's weights for a few steps
with every selected layer fake-quantised (straight-through gradients), the codebooks refitted on the repartition
schedule and the TLQE logged with each step; the run folder checkpoints and resumes like any training run. By
default every part trains (the ``whole`` task: each part by the loss that trained it), since every part is
quantised; ``task="own"`` keeps the bundle's recorded task, which for a contextualiser bundle leaves the quantised
encoder as it was quantised. The paper's QAT settings: Adam at 1e-4 (§3.3), repartitioning every F steps
(Algorithm 1).
"""
from __future__ import annotations

import time

from nir_core.bundle import BundleError, ModelBundle
from nir_core.train import TASKS, TrainConfig, TrainHooks, train

from .config import FinetuneConfig
from .qat import QuantisedLayers, RepartitionSchedule, attach


def finetune(source: str, quantisation, cfg: FinetuneConfig, progress: bool = True):
    """Runs the QAT fine-tuning with the quantisation of ``quantisation`` (a
    :class:`~compress.workflow.CompressConfig`); returns (model, its quantised layers with final codebooks, run
    report)."""
    bundle = ModelBundle.load(source)
    recorded = bundle.training.get("config")
    if not isinstance(recorded, dict):
        raise BundleError(source, "records no training config, so there is no task to fine-tune it on "
                                  "(compress it without --finetune-steps)")
    run = TrainConfig.from_json(recorded)
    # The bundle's own architecture, as it stands: no model settings of the recorded run apply to it again.
    run.init_from, run.model, run.model_overrides = str(source), None, {}
    run.steps, run.lr, run.lr_decay_start = cfg.steps, cfg.lr, 0
    if cfg.task != "own":
        if cfg.task not in TASKS:
            raise ValueError(f"unknown fine-tuning task {cfg.task!r}; choose own or one of {', '.join(TASKS)}")
        run.task = cfg.task
    run.out, run.val_every, run.checkpoint_every, run.resume = cfg.out, 0, min(50, cfg.steps), True
    schedule = RepartitionSchedule(every=cfg.repartition_every, tlqe_growth=cfg.tlqe_growth)
    held: dict = {}

    def on_model(model) -> None:
        held["model"] = model
        q = quantisation
        held["layers"] = attach(model, q.quantiser, q.bits, q.layer_bits, q.codebook_dtype, q.activation_bits,
                                q.activation_format)
        held["tlqe_start"] = held["layers"].tlqe_at_fit
        held["last"] = time.perf_counter()

    def on_step(step: int, model) -> dict:
        layers: QuantisedLayers = held["layers"]
        now = time.perf_counter()
        record = {"step_s": now - held.get("last", now)}  # the step alone: refits and logging come after
        if schedule.due(step, layers):
            record["tlqe"] = layers.repartition()
            record["repartition_s"] = time.perf_counter() - now
        elif cfg.log_tlqe_every and step % cfg.log_tlqe_every == 0:
            record["tlqe"] = layers.tlqe()
        held["last"] = time.perf_counter()
        return record

    started = time.perf_counter()
    final = train(run, progress=progress, hooks=TrainHooks(on_model=on_model, on_step=on_step))
    layers = held["layers"]
    tlqe_end = layers.repartition()  # the map the file stores fits the last weights
    report = {"steps": cfg.steps, "task": run.task, "lr": cfg.lr, "repartitions": layers.repartitions,
              "tlqe_start": held["tlqe_start"],
              "tlqe_end": tlqe_end, "seconds": round(time.perf_counter() - started, 1), "run": cfg.out,
              "validation": ModelBundle.load(final).training.get("final", {})}
    return held["model"], layers, report
