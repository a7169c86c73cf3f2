"""The settings of ``nir-studio compress`` (how a bundle is quantised and coded, and the optional QAT run) and of
``nir-studio search-bits`` (the bit-width search).

Kept apart from the modules that use them (which load torch) so that the command line builds its options from them
at no cost.
"""
from __future__ import annotations

from dataclasses import dataclass

from nir_core.config import Config, bounded, check_ranges


@dataclass
class CompressConfig(Config):
    """How a bundle is quantised and coded."""

    quantiser: str = "kmeans"
    """One of explicit, minmax, distributional, kmeans."""
    bits: int = bounded(3, 1, 8)
    """Bits per weight of every Linear / Conv layer the layer spec does not set otherwise."""
    layer_bits: str | dict | None = None
    """Per-layer bits: "8,8,7,..." or "888777..." in layer order, "pattern=bits,..." globs (0 = keep float), or a
    bit search's result file "RESULT.json" (its best schedule; "RESULT.json#k": its k-th)."""
    codebook_dtype: str = "float32"
    """Codebook precision in the file: float32 or float16."""
    raw_float: str = "float32"
    """Precision of the float tensors left unquantised (biases, norms): float32 or float16."""
    coder: str = "best"
    """Entropy coder: bzip2 (the paper's), lzma, range, or best (all three tried, the smallest kept)."""
    activation_bits: int | None = bounded(None, 1, 8)
    """Also quantise every conv layer's activations to this many bits (``activation_format``); recorded in the file
    and applied whenever it is loaded."""
    activation_format: str = "minmax"
    """``minmax``: each conv layer's output per tensor, so a conv encoder's feature grids hold at most 2^bits values;
    ``bfp``: each conv layer's input in block floating point, 32 channels sharing an exponent (DSConv, 2..8 bits)."""

    def __post_init__(self):
        from .qat import ACTIVATION_FORMATS  # loads torch: when a config is made, not when the CLI starts
        from .quantisers import QUANTISERS

        if self.quantiser not in QUANTISERS:
            raise ValueError(f"unknown quantiser {self.quantiser!r}; choose one of {', '.join(QUANTISERS)}")
        check_ranges(self)
        if self.activation_format not in ACTIVATION_FORMATS:
            raise ValueError(f"unknown activation format {self.activation_format!r}; choose one of "
                             f"{', '.join(ACTIVATION_FORMATS)}")
        if self.activation_format == "bfp" and self.activation_bits == 1:
            raise ValueError("block floating point activations need at least 2 bits")


@dataclass
class FinetuneConfig(Config):
    """The QAT fine-tuning run."""

    steps: int = bounded(0, 0)
    """Quantisation-aware fine-tuning steps on the bundle's own training data, with fake-quantised weights, before
    the file is written (0: post-training quantisation only)."""
    task: str = "whole"
    """Training task: "whole" (every part, each by its own loss), "own" (the bundle's recorded task) or any task."""
    lr: float = 1e-4
    """Adam learning rate (the paper's QAT setting)."""
    repartition_every: int = bounded(50, 1)
    """Refit the codebooks every this many steps (Algorithm 1's repartition interval)."""
    tlqe_growth: float | None = bounded(None, 0.0)
    """Also refit when the TLQE has grown by this much since the last refit (paper Eq. 6)."""
    log_tlqe_every: int = bounded(10, 1)
    """Steps between TLQE entries in the run's log.jsonl (every refit is logged too)."""
    out: str = "out/compress/finetune"
    """Run folder (checkpoints, log.jsonl, the float bundle of the last step)."""

    def __post_init__(self):
        check_ranges(self)


@dataclass
class SearchConfig(Config):
    """One bit-width search."""

    family: str = "bezier"
    """Schedule family: ``bezier`` or ``chebyshev`` (:mod:`compress.schedules`)."""
    degree: int = bounded(2, 0)
    """The Bezier curve's degree (degree + 1 parameters) or the Chebyshev series' order (that many parameters)."""
    box: tuple[float, float] = (0.0, 1.0)
    """Bounds of every schedule parameter (the thesis: [0, 1])."""
    fidelities: tuple[int, ...] = (0, 1, 2, 8)
    """Fine-tuning epochs (or steps) of each task, increasing; the last is the one the search predicts (the thesis:
    0, 1, 2, 15)."""
    costs: tuple[float, ...] | None = None
    """The cost of one evaluation at each fidelity, in any unit (None: 1 + epochs, an evaluation plus the
    fine-tuning)."""
    budget: float = bounded(40.0, 0.0)
    """Total cost of the evaluations the search may run, in the unit of ``costs``."""
    budget_seconds: float = bounded(0.0, 0.0)
    """Also stop after this much wall time across resumes (0: no time limit)."""
    initial: int = bounded(0, 0)
    """Quasi-random schedules evaluated at the lowest fidelity before the acquisition takes over (0: 2 d + 1)."""
    initial_target: int = bounded(2, 0)
    """Quasi-random schedules evaluated at the highest fidelity at the start (the GP needs some to relate the tasks)."""
    maximise: bool = True
    """Higher metric is better (accuracy, PSNR, F1); off for Chamfer distances and errors."""
    penalty: float = bounded(100.0, 0.0)
    """k of the effective metric: each bit above ``reference_bits`` per layer costs 1/k of the metric (0: no
    penalty)."""
    reference_bits: float = bounded(4.0, 1.0, 8.0)
    """The uniform bit-width that is neither rewarded nor penalised (the thesis: 4)."""
    acquisition_candidates: int = bounded(256, 8)
    """Quasi-random schedules the acquisition is evaluated on at each fidelity, each step."""
    ranking_candidates: int = bounded(2048, 8)
    """Quasi-random schedules ranked by the GP at the end (with every evaluated one)."""
    top: int = bounded(5, 1)
    """Schedules reported, best predicted effective metric first."""
    seed: int = bounded(0, 0)
    """Seeds the quasi-random designs and the acquisition's samples."""

    def __post_init__(self):
        from .schedules import FAMILIES

        check_ranges(self)
        if self.family not in FAMILIES:
            raise ValueError(f"unknown schedule family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        if not self.fidelities or list(self.fidelities) != sorted(set(self.fidelities)) or min(self.fidelities) < 0:
            raise ValueError(f"fidelities must be distinct, increasing and >= 0, got {list(self.fidelities)}")
        if self.costs is not None and (len(self.costs) != len(self.fidelities) or min(self.costs) <= 0):
            raise ValueError(f"costs must give one positive cost per fidelity, got {self.costs}")

    @property
    def schedule(self):
        """The :class:`~compress.schedules.BitSchedule` of these settings."""
        from .schedules import BitSchedule

        return BitSchedule(self.family, self.degree, tuple(self.box))

    @property
    def task_costs(self) -> list[float]:
        return list(self.costs) if self.costs is not None else [1.0 + f for f in self.fidelities]

    def effective(self, metric: float, bits: list[int]) -> float:
        """The value the search maximises: the metric (negated when lower is better) minus the bit penalty."""
        signed = metric if self.maximise else -metric
        return signed - self.bit_penalty(bits)

    def bit_penalty(self, bits: list[int]) -> float:
        return (sum(bits) - self.reference_bits * len(bits)) / self.penalty if self.penalty else 0.0

    def metric_of(self, effective: float, bits: list[int]) -> float:
        """The inverse of :meth:`effective`."""
        signed = effective + self.bit_penalty(bits)
        return signed if self.maximise else -signed
