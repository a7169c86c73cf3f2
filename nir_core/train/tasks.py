"""Training tasks: which parts of a model train, on which loss. The engine is the same for all of them.

- ``geometry``: encoder + UDF head on the clamped L1 UDF loss (no labels needed).
- ``joint``: encoder + UDF head + semantic head; UDF and cross-entropy losses balanced by learned
  uncertainty weights (Kendall et al.), the RangeUDF baseline of thesis ch. 6.
- ``frozen``: only the semantic head trains, on the encodings of a frozen geometry model.
- ``unfrozen``: encoder + semantic head on cross-entropy only (no geometry loss).
- ``classify`` / ``joint-classify`` (thesis ch. 5): the object classifier on a frozen encoder's pooled encodings,
  or trained with the encoder and UDF head under uncertainty weighting.

A task is a small ``nn.Module`` whose ``forward(batch)`` returns the loss, so DistributedDataParallel wraps it
as it is; new tasks (the contextualiser's) register here without touching the engine.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.labels import IGNORE_LABEL
from ..models.base import ImplicitModel
from ..models.decoders import clamped_l1, task_log_vars, uncertainty_weighted_loss


@dataclass(frozen=True)
class TaskSpec:
    """A task's name, the model parts it trains and whether it needs labels."""

    name: str
    trains: tuple[str, ...]
    needs_labels: bool
    """Per-point labels (a semantic head)."""
    needs_classes: bool = False
    """Per-scene object classes (a classifier head)."""


class Task(nn.Module):
    """Base: holds the model, freezes what the task does not train, computes the loss of a batch."""

    spec: TaskSpec

    def __init__(self, model: ImplicitModel):
        super().__init__()
        self.model = model
        if self.spec.needs_labels and model.num_classes <= 0:
            raise ValueError(f"task {self.spec.name!r} needs a model with a semantic head")
        if self.spec.needs_classes and "classifier" not in getattr(model, "parts", {}):
            raise ValueError(f"task {self.spec.name!r} needs a model with a classifier head (model.object_classes)")
        trained = {id(p) for p in model.part_parameters(self.spec.trains)}
        for p in model.parameters():
            p.requires_grad_(id(p) in trained)

    def train(self, mode: bool = True):
        super().train(mode)
        for name, part in self.model.parts.items():  # frozen parts stay in eval mode (batch-norm statistics)
            if name not in self.spec.trains:
                part.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, batch: dict) -> tuple[Tensor, dict]:
        raise NotImplementedError


def _semantic_loss(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """Cross-entropy over the labelled queries; ``weights`` (same shape as ``labels``, e.g. the batch's
    ``label_weights``) make it a weighted mean."""
    if not (labels != IGNORE_LABEL).any():
        return logits.sum() * 0.0  # a batch without labelled queries still has a graph
    flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    if weights is None:
        return F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE_LABEL)
    each = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE_LABEL, reduction="none")
    w = weights.reshape(-1) * (flat_labels != IGNORE_LABEL)
    return (each * w).sum() / w.sum().clamp_min(1e-12)


class GeometryTask(Task):
    spec = TaskSpec("geometry", ("encoder", "udf"), needs_labels=False)

    def forward(self, batch):
        enc = self.model.encode(batch["points"], batch.get("colours"))
        loss = clamped_l1(self.model.udf(enc, batch["queries"]), batch["udf"])
        return loss, {"udf_l1": loss.detach()}


class JointTask(Task):
    spec = TaskSpec("joint", ("encoder", "udf", "semantic"), needs_labels=True)

    def __init__(self, model):
        super().__init__(model)
        # s = log sigma^2 per task; L = sum exp(-s) L_i + s (Kendall et al. 2018, as in RangeUDF).
        self.log_vars = task_log_vars(("udf", "semantic"))

    def forward(self, batch):
        enc = self.model.encode(batch["points"], batch.get("colours"))
        udf = clamped_l1(self.model.udf(enc, batch["queries"]), batch["udf"])
        sem = _semantic_loss(self.model.semantics(enc, batch["queries"]), batch["labels"], batch.get("label_weights"))
        loss = uncertainty_weighted_loss({"udf": udf, "semantic": sem}, self.log_vars)
        return loss, {"udf_l1": udf.detach(), "ce": sem.detach()}


class FrozenTask(Task):
    spec = TaskSpec("frozen", ("semantic",), needs_labels=True)

    def forward(self, batch):
        with torch.no_grad():
            enc = self.model.encode(batch["points"], batch.get("colours"))
        sem = _semantic_loss(self.model.semantics(enc, batch["queries"]), batch["labels"], batch.get("label_weights"))
        return sem, {"ce": sem.detach()}


class UnfrozenTask(Task):
    spec = TaskSpec("unfrozen", ("encoder", "semantic"), needs_labels=True)

    def forward(self, batch):
        enc = self.model.encode(batch["points"], batch.get("colours"))
        sem = _semantic_loss(self.model.semantics(enc, batch["queries"]), batch["labels"], batch.get("label_weights"))
        return sem, {"ce": sem.detach()}


class ClassifyTask(Task):
    """Thesis ch. 5: the object classifier on the pooled encodings of a frozen encoder."""

    spec = TaskSpec("classify", ("classifier",), needs_labels=False, needs_classes=True)

    def forward(self, batch):
        with torch.no_grad():
            enc = self.model.encode(batch["points"], batch.get("colours"))
        ce = F.cross_entropy(self.model.classify(enc), batch["class"])
        return ce, {"class_ce": ce.detach()}


class JointClassifyTask(Task):
    """Thesis ch. 5: encoder + UDF head + classifier, the two losses balanced by learned uncertainty weights."""

    spec = TaskSpec("joint-classify", ("encoder", "udf", "classifier"), needs_labels=False, needs_classes=True)

    def __init__(self, model):
        super().__init__(model)
        self.log_vars = task_log_vars(("udf", "class"))

    def forward(self, batch):
        enc = self.model.encode(batch["points"], batch.get("colours"))
        udf = clamped_l1(self.model.udf(enc, batch["queries"]), batch["udf"])
        ce = F.cross_entropy(self.model.classify(enc), batch["class"])
        loss = uncertainty_weighted_loss({"udf": udf, "class": ce}, self.log_vars)
        return loss, {"udf_l1": udf.detach(), "class_ce": ce.detach()}


class WholeTask(Task):
    """A finished model fine-tuned as a whole (quantisation-aware training): every part trains. The UDF loss trains
    the encoder and the UDF head; the semantic and classification losses reach only the parts above the encoder
    (contextualiser, semantic head, classifier), whose input encodings they see detached, as the context and
    frozen recipes train them. Every quantised weight therefore moves, while the encoder stays a reconstruction
    encoder. The losses touch disjoint parameters, so their plain sum trains each part by its own loss."""

    spec = TaskSpec("whole", (), needs_labels=False)

    def __init__(self, model):
        parts = getattr(model, "parts", {})
        self.spec = TaskSpec("whole", tuple(parts), needs_labels=model.num_classes > 0,
                             needs_classes="classifier" in parts)
        if (self.spec.needs_labels or self.spec.needs_classes) and not hasattr(model, "encode_geometry"):
            raise ValueError(f"task 'whole' cannot separate {type(model).__name__}'s encodings from its heads")
        super().__init__(model)

    def forward(self, batch):
        encode = getattr(self.model, "encode_geometry", self.model.encode)
        geometry = encode(batch["points"], batch.get("colours"))
        udf = clamped_l1(self.model.udf(geometry, batch["queries"]), batch["udf"])
        loss, logs = udf, {"udf_l1": udf.detach()}
        if not (self.spec.needs_labels or self.spec.needs_classes):
            return loss, logs
        above = self.model.contextualise(geometry._replace(features=geometry.features.detach()))
        if self.spec.needs_labels:
            ce = _semantic_loss(self.model.semantics(above, batch["queries"]), batch["labels"],
                                batch.get("label_weights"))
            loss, logs["ce"] = loss + ce, ce.detach()
        if self.spec.needs_classes:
            class_ce = F.cross_entropy(self.model.classify(above), batch["class"])
            loss, logs["class_ce"] = loss + class_ce, class_ce.detach()
        return loss, logs


TASKS: dict[str, Callable[[ImplicitModel], Task]] = {
    t.spec.name: t for t in (GeometryTask, JointTask, FrozenTask, UnfrozenTask, ClassifyTask, JointClassifyTask,
                             WholeTask)
}
"""Registered tasks by name; later modules add theirs with :func:`register_task`."""


def register_task(task_cls: type[Task]) -> type[Task]:
    """Class decorator: makes a task available to the engine and the CLI by its spec's name."""
    TASKS[task_cls.spec.name] = task_cls
    return task_cls
