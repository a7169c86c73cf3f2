"""The settings of ``nir-studio compress``: how a bundle is quantised and coded, and the optional QAT run.

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
    """Per-layer bits: "8,8,7,..." or "888777..." in layer order, or "pattern=bits,..." globs (0 = keep float)."""
    codebook_dtype: str = "float32"
    """Codebook precision in the file: float32 or float16."""
    raw_float: str = "float32"
    """Precision of the float tensors left unquantised (biases, norms): float32 or float16."""
    coder: str = "best"
    """Entropy coder: bzip2 (the paper's), lzma, range, or best (all three tried, the smallest kept)."""
    activation_bits: int | None = bounded(None, 1, 8)
    """Also quantise every conv layer's output to this many bits (conv encoders: their feature grids hold at most
    2^bits values); recorded in the file and applied whenever it is loaded."""

    def __post_init__(self):
        from .quantisers import QUANTISERS  # loads torch: when a config is made, not when the CLI starts

        if self.quantiser not in QUANTISERS:
            raise ValueError(f"unknown quantiser {self.quantiser!r}; choose one of {', '.join(QUANTISERS)}")
        check_ranges(self)


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
