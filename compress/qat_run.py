"""Quantisation-aware training of a coordinate network from its first step (Gordon et al. Algorithm 1): the training
loop's hooks that fake-quantise every layer and refit the codebooks every F steps, and the ``.nirz`` file of the
result. Used by the NeRF and image trainers, whose loops know nothing of quantisation."""
from __future__ import annotations

from pathlib import Path

from nir_core.atomic import atomic_write_bytes
from nir_core.bundle import ModelBundle
from nir_core.train.engine import TrainHooks

from . import codec
from .config import CompressConfig
from .qat import QuantisedLayers, RepartitionSchedule, attach
from .workflow import quantised_tensors


class QATRun:
    """One quantisation-aware run: pass :attr:`hooks` to the training loop, then :meth:`write` the file."""

    def __init__(self, quantisation: CompressConfig, repartition_every: int = 100):
        self.quantisation, self.repartition_every = quantisation, repartition_every
        self.schedule = RepartitionSchedule(every=repartition_every)
        self.model = None
        self.layers: QuantisedLayers | None = None
        self.hooks = TrainHooks(on_model=self.attach_to, on_step=self._on_step)

    def attach_to(self, model) -> None:
        """Fake-quantises every layer of ``model`` (the training loop calls this through :attr:`hooks`)."""
        q = self.quantisation
        self.model, self.layers = model, attach(model, q.quantiser, q.bits, q.layer_bits, q.codebook_dtype)

    def _on_step(self, step: int, model) -> dict:
        return {"tlqe": self.layers.repartition()} if self.schedule.due(step, self.layers) else {}

    def write(self, bundle: ModelBundle, path: str | Path, source: str = "") -> dict:
        """Writes ``bundle`` with the run's quantised weights to ``path``: its size, the coder kept, every coder's
        body size, the TLQE."""
        q = self.quantisation
        data, header = codec.encode_bundle(bundle, quantised_tensors(self.model, self.layers), coder=q.coder,
                                           raw_float=q.raw_float,
                                           extra={"config": q.to_json(), "tlqe": self.layers.tlqe(), "source": source,
                                                  "repartition_every": self.repartition_every})
        path = atomic_write_bytes(path, data)
        return {"file": str(path), "file_bytes": path.stat().st_size, "coder": header["coder"],
                "coded_sizes": header["coded_sizes"], "tlqe": self.layers.tlqe()}
