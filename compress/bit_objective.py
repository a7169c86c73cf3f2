"""What the bit-width search evaluates for a trained bundle (:class:`compress.search.Objective`): the layers it
searches quantised with the schedule's bits (every other layer stays float), fine-tuned quantisation-aware for
``fidelity x steps_per_fidelity`` steps on the bundle's own data, written as a ``.nirz``, loaded back from the file
and scored by the protocol (``nir_core.protocol``) on prepared scenes.
"""
from __future__ import annotations

import fnmatch
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nir_core.bundle import ModelBundle
from nir_core.errors import FieldError
from nir_core.models.registry import from_bundle
from nir_core.protocol import EvalConfig, ProtocolScene, evaluate

from .config import CompressConfig, FinetuneConfig
from .qat import quantisable_layers
from .workflow import compress_bundle, model_from_file

METRICS = {"f1_delta": True, "mf1_delta": True, "miou": True, "cd_l1": False, "cd_l2": False}
"""Protocol metrics a search can target -> whether higher is better."""
COLLAPSED = {"f1_delta": 0.0, "mf1_delta": 0.0, "miou": 0.0, "cd_l1": 1.0, "cd_l2": 1.0}
"""The score of a model whose field no longer describes a surface: no overlap, or a distance as large as the unit
cube the scenes are normalised to."""


@dataclass
class BundleObjective:
    """Quantise + fine-tune + score one bundle under a bit schedule; ``layers`` is how many layers the schedule sets."""

    bundle: Path
    """The trained bundle folder."""
    scenes: list[ProtocolScene]
    """Prepared scenes it is scored on (:func:`nir_core.protocol.prepare`)."""
    work: Path
    """Folder for each evaluation's file and fine-tuning run (removed after use)."""
    searched: tuple[str, ...] = ("*encoder.*",)
    """Globs of the quantisable layers the schedule sets, in model order; the others stay float."""
    quantiser: str = "kmeans"
    """The quantiser every searched layer uses."""
    metric: str = "f1_delta"
    """The protocol metric returned (see :data:`METRICS`)."""
    steps_per_fidelity: int = 50
    """Fine-tuning steps per unit of fidelity (a fidelity of 0: post-training quantisation)."""
    finetune_task: str = "whole"
    """The fine-tuning's training task (``FinetuneConfig.task``)."""
    eval_config: EvalConfig = field(default_factory=EvalConfig)
    """The protocol's settings (the scenes were prepared with them)."""
    semantic: bool = False
    """Score the semantic head too (needed for mf1_delta / miou)."""

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")
        CompressConfig(quantiser=self.quantiser)  # an unknown quantiser is refused now, not at the first evaluation
        if self.metric in ("mf1_delta", "miou") and not self.semantic:
            raise ValueError(f"the metric {self.metric} scores the labels: it needs semantic scoring")
        self.bundle, self.work = Path(self.bundle), Path(self.work)
        model = from_bundle(ModelBundle.load(self.bundle), source=self.bundle)
        layers = dict(quantisable_layers(model))
        self.all_layers = list(layers)
        self.layer_names = [n for n in self.all_layers if any(fnmatch.fnmatchcase(n, g) for g in self.searched)]
        self.weights = [layers[n].weight.numel() for n in self.layer_names]
        """Weights of each searched layer, in schedule order (a schedule's memory: their sum weighted by its bits)."""
        if not self.layer_names:
            raise ValueError(f"{self.bundle}: no quantisable layer matches {list(self.searched)}; its layers are "
                             f"{', '.join(self.all_layers)}")
        self.layers = len(self.layer_names)

    @property
    def maximise(self) -> bool:
        return METRICS[self.metric]

    def layer_bits(self, bits: list[int]) -> dict[str, int]:
        """Bits of every quantisable layer: the schedule's for the searched ones, 0 (float) for the rest."""
        return {name: 0 for name in self.all_layers} | dict(zip(self.layer_names, bits))

    def quantise(self, bits: list[int], fidelity: int, path: Path) -> dict:
        """Writes the bundle quantised with ``bits`` and fine-tuned for ``fidelity`` units to the ``.nirz`` at
        ``path``; returns the compression report (:func:`compress.workflow.compress_bundle`)."""
        run = self.work / "finetune" / Path(path).stem
        shutil.rmtree(run, ignore_errors=True)  # a run left by an interrupted evaluation would resume, not restart
        steps = fidelity * self.steps_per_fidelity
        tune = FinetuneConfig(steps=steps, task=self.finetune_task, out=str(run)) if steps else None
        try:
            return compress_bundle(self.bundle, path, CompressConfig(quantiser=self.quantiser,
                                                                     layer_bits=self.layer_bits(bits)),
                                   tune, progress=False)
        finally:
            shutil.rmtree(run, ignore_errors=True)

    def evaluate(self, bits: list[int], fidelity: int) -> float:
        path = self.work / f"{''.join(map(str, bits))}-{fidelity}.nirz"
        self.quantise(bits, fidelity, path)
        model, _ = model_from_file(path)
        try:
            score = evaluate(model, self.scenes, self.eval_config, semantic=self.semantic)["mean"].get(self.metric)
        except FieldError:  # quantised too hard: the field no longer describes a surface
            score = None
        finally:
            path.unlink(missing_ok=True)
        return COLLAPSED[self.metric] if score is None else float(score)  # None: no surface was extracted


__all__ = ["BundleObjective", "METRICS"]
