"""The ``context`` task (thesis ch. 6 §3.2): train the contextualiser and the semantic head on frozen encodings.

The encoder and its UDF head come from a geometry-only bundle and do not change; the contextualiser reads their
encodings ``E_g`` and the semantic head reads ``E_g ⊕ f_ctx(E_g)``; the loss is cross-entropy alone. Registered
with the engine through :func:`register_task`, like any later task.
"""
from __future__ import annotations

import torch

from .tasks import Task, TaskSpec, _semantic_loss, register_task


@register_task
class ContextTask(Task):
    spec = TaskSpec("context", ("context", "semantic"), needs_labels=True)

    def __init__(self, model):
        if "context" not in getattr(model, "parts", {}):
            raise ValueError("task 'context' needs a model with a contextualiser: start from a geometry bundle "
                             "with init_from=BUNDLE and model.context={} (the preset pt-context does)")
        super().__init__(model)

    def forward(self, batch):
        with torch.no_grad():  # the encoder is frozen: its encodings are inputs here
            encoding = self.model.encode_geometry(batch["points"], batch.get("colours"))
        encoding = self.model.contextualise(encoding)
        sem = _semantic_loss(self.model.semantics(encoding, batch["queries"]), batch["labels"],
                             batch.get("label_weights"))
        return sem, {"ce": sem.detach()}
