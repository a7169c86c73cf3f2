"""Bundle -> quantised model -> ``.nirz`` file, and back: what ``nir-studio compress`` runs."""
from __future__ import annotations

import time
from pathlib import Path

from nir_core.atomic import atomic_write_bytes
from nir_core.bundle import ModelBundle
from nir_core.models.registry import build_model, from_bundle

from . import codec
from .config import CompressConfig, FinetuneConfig
from .finetune import finetune as run_finetune
from .qat import QuantisedLayers, attach, quantise_activations


def quantised_tensors(model, layers: QuantisedLayers) -> dict[str, codec.QuantisedTensor]:
    """State-dict name -> codebook + indices of every fake-quantised layer's weight."""
    out = {}
    for layer in layers.layers:
        q = layer.quantiser
        out[f"{layer.name}.weight"] = codec.QuantisedTensor(
            layer.codebook, q.encode(layer.module.weight, layer.codebook), q.bits, q.name, q.codebook_dtype,
            getattr(q, "block", 0))
    return out


def compress_bundle(source: str | Path, out: str | Path, cfg: CompressConfig, finetune: FinetuneConfig | None = None,
                    progress: bool = True) -> dict:
    """Quantises the bundle at ``source`` into the ``.nirz`` file ``out``: post-training, or after QAT
    fine-tuning on the bundle's own data when ``finetune`` has steps. Returns a report (sizes on disk, coder,
    TLQE, seconds, the fine-tuning run's numbers)."""
    start = time.perf_counter()
    bundle = ModelBundle.load(source)
    tuned = None
    if finetune is not None and finetune.steps > 0:
        model, layers, tuned = run_finetune(str(source), cfg, finetune, progress)
        bundle.state = dict(model.state_dict())
    else:
        model = build_model(bundle.architecture, bundle.model_config)
        model.load_state_dict(bundle.state)
        layers = attach(model, cfg.quantiser, cfg.bits, cfg.layer_bits, cfg.codebook_dtype, cfg.activation_bits,
                        cfg.activation_format)
    quantised = quantised_tensors(model, layers)
    tlqe = layers.tlqe()
    data, header = codec.encode_bundle(bundle, quantised, coder=cfg.coder, raw_float=cfg.raw_float,
                                       extra={"config": cfg.to_json(), "tlqe": tlqe, "source": str(source),
                                              "finetune": tuned})
    size = atomic_write_bytes(out, data).stat().st_size
    return {"file": str(out), "file_bytes": size, "float32_bytes": float32_bytes(bundle), "coder": header["coder"],
            "coded_sizes": header["coded_sizes"], "tlqe": tlqe, "quantised_layers": len(quantised),
            "finetune": tuned, "seconds": round(time.perf_counter() - start, 3)}


def float32_bytes(bundle: ModelBundle) -> int:
    """What the bundle's tensors take as float32 (the size a compression ratio is measured against)."""
    return sum(t.numel() * 4 for t in bundle.state.values())


def model_from_file(path: str | Path):
    """The model a ``.nirz`` file holds, ready to run (activation quantisation re-applied when the file records it),
    and its bundle."""
    bundle = codec.read(path)
    model = from_bundle(bundle, source=path)
    recorded = bundle.extra.get("nirz", {}).get("config") or {}
    if recorded.get("activation_bits"):
        quantise_activations(model, int(recorded["activation_bits"]), recorded.get("activation_format", "minmax"))
    return model, bundle
