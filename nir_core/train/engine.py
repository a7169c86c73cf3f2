"""The training engine: one loop for every task and architecture, on one CPU or many GPUs.

``train(cfg)``: build the model (or load ``cfg.init_from``), wrap the task in DistributedDataParallel when
launched by ``torchrun`` (gloo on CPU, nccl on GPU), stream scenes sharded by rank, step Adam, show progress,
validate, checkpoint atomically on rank 0 and resume from the last checkpoint. Batches and samples are seeded
by step, so a resumed run continues exactly where the interrupted one stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..atomic import atomic_write_json
from ..bundle import BundleError, ModelBundle
from ..config import Config
from ..cpu import CpuTuning, applied
from ..data.labels import SCANNET20
from ..models.registry import build_model, config_class, from_bundle, to_bundle
from .augment import AugmentConfig
from .checkpoint import TRAIN_STATE, load_train_state, save_train_state, truncate_log
from .config import TrainConfig
from .data import FileSource, SyntheticObjectSource, SyntheticRoomSource, UDFSceneDataset
from .tasks import TASKS, Task

CHECKPOINT = "checkpoint"
BUNDLE = "bundle"


@dataclass
class TrainHooks:
    """Extension points for wrappers that change how a model computes while it trains (e.g. quantisation-aware
    training in ``compress``) without a second training loop."""

    on_model: Callable[[torch.nn.Module], None] | None = None
    """Called once the model holds its starting (or resumed) weights, before the first step."""
    on_step: Callable[[int, torch.nn.Module], dict | None] | None = None
    """Called after every optimiser step with the step number; a returned dict joins that step's log record."""


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed() -> Distributed:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size())
    return Distributed()


def _sources(cfg: TrainConfig):
    d = cfg.data
    if d.source == "synthetic":
        train = SyntheticRoomSource(d.count, d.seed)
    elif d.source == "objects":
        return SyntheticObjectSource(d.count, d.seed), SyntheticObjectSource(d.val_count, d.val_seed)
    elif d.source == "files":
        train = FileSource([Path(p) for p in d.paths], label_set=SCANNET20 if TASKS[cfg.task].spec.needs_labels
                           else None)
    else:
        raise ValueError(f"unknown data source {d.source!r}; use 'synthetic', 'objects' or 'files'")
    val = FileSource([Path(p) for p in d.val_paths]) if d.val_paths else SyntheticRoomSource(d.val_count, d.val_seed)
    return train, val


def _collate(examples: list[dict]) -> dict:
    keys = ("points", "queries", "udf", "labels", "class", "label_weights", "colours")
    return {k: torch.stack([e[k] for e in examples]) for k in keys if k in examples[0]}


def model_config(cfg: TrainConfig, bundle: ModelBundle | None = None) -> Config:
    """The architecture run ``cfg`` trains: ``cfg.model``, else the ``init_from`` bundle's config (``bundle`` when
    given, else loaded), else the architecture's defaults; with ``cfg.model_overrides`` merged on top."""
    base: dict = {}
    if cfg.model is not None:
        base = cfg.model.to_json()
    elif cfg.init_from:
        base = (bundle or ModelBundle.load(cfg.init_from)).model_config
    return config_class(cfg.architecture).from_json(_merged(base, cfg.model_overrides), path="model")


def _widened_inputs(own: dict, loaded: dict) -> dict:
    """The loaded linear weights (out, in) whose layer now takes more inputs (e.g. a contextualiser that also reads
    colour), placed in their first columns with zeros in the new ones: the layer computes what it did until the new
    inputs' weights learn, so the run starts from the bundle's model."""
    widened = {}
    for name, weight in loaded.items():
        mine = own.get(name)
        if (mine is not None and mine.ndim == weight.ndim == 2 and mine.shape[0] == weight.shape[0]
                and mine.shape[1] > weight.shape[1]):
            widened[name] = torch.cat([weight, weight.new_zeros(weight.shape[0], mine.shape[1] - weight.shape[1])], 1)
    return widened


def _model(cfg: TrainConfig):
    if cfg.init_from:
        bundle = ModelBundle.load(cfg.init_from)
        if bundle.architecture != cfg.architecture:
            raise BundleError(cfg.init_from, f"holds a {bundle.architecture!r} model; this run trains "
                                             f"{cfg.architecture!r}")
        if cfg.model is None and not cfg.model_overrides:
            return from_bundle(bundle, source=cfg.init_from).train(), bundle.model_config
        # The bundle's architecture with this run's changes (e.g. a contextualiser added): every weight whose
        # name and shape still match is loaded; the rest start fresh.
        model = build_model(cfg.architecture, model_config(cfg, bundle))
        own = model.state_dict()
        matching = {k: v for k, v in bundle.state.items() if k in own and own[k].shape == v.shape}
        matching.update(_widened_inputs(own, bundle.state))
        model.load_state_dict(matching, strict=False)
        fresh = sorted({k.split(".")[1] for k in own if k not in matching and k.startswith("parts.")})
        if fresh:
            print(f"initialised from {cfg.init_from}; new or resized parts start fresh: {', '.join(fresh)}")
        return model.train(), model.config_json()
    if cfg.task == "frozen":
        raise ValueError("task 'frozen' needs init_from: the geometry bundle whose encoder it keeps")
    model = build_model(cfg.architecture, model_config(cfg))
    # The whole config, defaults included, not just the run's overrides: a bundle must not change meaning when a
    # default does.
    return model, model.config_json()


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied recursively (nested dicts merged, other values replaced)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _save_checkpoint(out: Path, task: Task, model_config: dict, cfg: TrainConfig, optimizer, step: int,
                     history: list[dict]) -> None:
    path = out / CHECKPOINT
    extra_state = {k: v for k, v in task.state_dict().items() if not k.startswith("model.")}
    bundle = to_bundle(task.model, cfg.architecture, model_config, training={"config": cfg.to_json()},
                       extra={"step": step, "history": history[-50:]})
    bundle.save(path)
    # Optimiser and task tensors beside the weights; written after the bundle, read only with it.
    save_train_state(path, task, optimizer, {f"task.{k}": v for k, v in extra_state.items()})


def _load_checkpoint(out: Path, task: Task, optimizer) -> tuple[int, list[dict]]:
    path = out / CHECKPOINT
    bundle = ModelBundle.load(path)
    task.model.load_state_dict(bundle.state)
    tensors = load_train_state(path, task, optimizer)
    task.load_state_dict({**{f"model.{k}": v for k, v in bundle.state.items()},
                          **{k[5:]: v for k, v in tensors.items() if k.startswith("task.")}})
    return int(bundle.extra["step"]), list(bundle.extra.get("history", []))


def _checksum(module: torch.nn.Module) -> str:
    """Digest of the parameters (not the buffers: batch-norm statistics are per process under DDP)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.named_parameters()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def validate(task: Task, data: UDFSceneDataset) -> dict:
    """Mean clamped-L1 UDF error, mIoU of the queries near the surface when the task labels points, and object
    accuracy when it classifies, over the validation scenes."""
    from ..metrics import mean_iou
    from ..models.decoders import clamped_l1

    was_training = task.training
    task.eval()
    l1, preds, gts, hits = [], [], [], []
    for i in range(len(data)):
        batch = _collate([data[i]])
        enc = task.model.encode(batch["points"], batch.get("colours"))
        l1.append(float(clamped_l1(task.model.udf(enc, batch["queries"]), batch["udf"])))
        if task.spec.needs_labels:
            near = batch["udf"][0] < 0.02
            preds.append(task.model.semantics(enc, batch["queries"][:, near])[0].argmax(-1).numpy())
            gts.append(batch["labels"][0, near].numpy())
        if task.spec.needs_classes:
            hits.append(int(task.model.classify(enc).argmax(-1)[0] == batch["class"][0]))
    task.train(was_training)
    out = {"val_udf_l1": float(np.mean(l1))}
    if hits:
        out["val_accuracy"] = float(np.mean(hits))
    if preds:
        p, g = np.concatenate(preds), np.concatenate(gts)
        out["val_miou_near"] = float(mean_iou(p, g, task.model.num_classes)["miou"])
    return out


def train(cfg: TrainConfig, progress: bool = True, hooks: TrainHooks | None = None) -> Path:
    """Runs (or resumes) a training run; returns the final bundle's folder (``cfg.out/bundle``).

    A run is a whole job, so it makes the process-wide settings it needs and undoes them when it ends: torch's
    thread count (``cfg.threads``, see :mod:`nir_core.cpu`) and torch's global generator, which weight
    initialisation and dropout draw from, seeded with ``cfg.seed``: the run is reproducible and the caller's random
    state is left as it was.
    """
    with applied(CpuTuning(intra_op_threads=cfg.threads)), \
            torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(cfg.seed)
        return _train(cfg, progress, hooks)


def _train(cfg: TrainConfig, progress: bool, hooks: TrainHooks | None) -> Path:
    hooks = hooks or TrainHooks()
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}; known: {', '.join(sorted(TASKS))}")
    env = _setup_distributed()
    out = cfg.out_dir
    model, model_config = _model(cfg)
    if model.reads_colour and not cfg.data.sampling.colour:
        raise ValueError("the model reads colour (model.context.colour) but the examples carry none: set "
                         "data.sampling.colour=true")
    task = TASKS[cfg.task](model)
    optimizer = torch.optim.Adam(task.trainable_parameters(), lr=cfg.lr)
    step, history = 0, []
    if cfg.resume and (out / CHECKPOINT / TRAIN_STATE).exists():
        step, history = _load_checkpoint(out, task, optimizer)
    if hooks.on_model:
        hooks.on_model(task.model)
    wrapped = DistributedDataParallel(task, find_unused_parameters=True) if env.world > 1 else task
    train_source, val_source = _sources(cfg)
    data = UDFSceneDataset(train_source, cfg.data.sampling, seed=cfg.seed)
    # Validation scores the scenes as they are: no crops, turns or class weights.
    val = UDFSceneDataset(val_source, replace(cfg.data.sampling, augment=AugmentConfig()), seed=cfg.seed + 1)
    shard = np.arange(env.rank, len(data), env.world)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "config.json", cfg.to_json())
        truncate_log(out / "log.jsonl", step)
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.task}", unit="step", disable=not (progress and env.main))
    # Training time of the steps kept so far, summed over the processes a resumed run took (None when a checkpoint
    # predates the record: that run's time is unknown).
    earlier_seconds = history[-1].get("elapsed_s") if history else 0.0
    started = time.time()
    task.train()
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])
        data.set_epoch(step)
        batch = _collate([data[int(i)] for i in rng.choice(shard, size=cfg.batch_size, replace=len(shard) < cfg.batch_size)])
        loss, logs = wrapped(batch)
        lr = cfg.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        record = {"step": step, "loss": float(loss.detach()), "lr": lr, **{k: float(v) for k, v in logs.items()},
                  "elapsed_s": None if earlier_seconds is None else round(earlier_seconds + time.time() - started, 2)}
        if hooks.on_step:
            record.update(hooks.on_step(step, task.model) or {})
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "elapsed_s")})
        bar.update(1)
        if cfg.val_every and step % cfg.val_every == 0 and env.main:
            record.update(validate(task, val))
        history.append(record)
        if env.main:
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save_checkpoint(out, task, model_config, cfg, optimizer, step, history)
    bar.close()
    final = validate(task, val) if env.main else {}
    if env.main:
        bundle = to_bundle(task.model, cfg.architecture, model_config,
                           label_set=train_source.label_set.to_json() if task.spec.needs_labels else None,
                           extra={"object_classes": list(train_source.class_names)} if task.spec.needs_classes else {},
                           training={"config": cfg.to_json(), "steps": step,
                                     "seconds": history[-1].get("elapsed_s") if history else earlier_seconds,
                                     "seconds_this_process": round(time.time() - started, 1), "final": final,
                                     "world_size": env.world})
        bundle.save(out / BUNDLE)
    summary = {"rank": env.rank, "world": env.world, "step": step, "checksum": _checksum(task.model), **final}
    if out.exists():
        atomic_write_json(out / f"rank{env.rank}.json", summary)
    if env.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out / BUNDLE
