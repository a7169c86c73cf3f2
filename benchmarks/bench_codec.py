"""The compressed file and its costs: coder sizes, compress / decompress time, and what repartitioning costs in QAT.

On the default labelled bundle (pt-context): for each quantiser at 2 / 3 / 4 / 8 bits, the body each coder makes
of the same quantised weights (BZIP2 as the paper, LZMA, the range coder), the file the default ("best") picks,
its ratio to the BZIP2 file, and the wall time of compress (quantise + code with all three coders + write) and of
decompress (read + decode + dequantise). Then a short QAT fine-tuning run (the whole model) with K-means at
3 bits measures a training step and a repartition of all layers, and reports the repartition's cost as a share
of the training time at the default interval (every 50 steps). A byte budget of the K-means 3-bit file shows
what an ideal coder could still save: the indices at their entropy, with and without a model per channel, and
the unquantised float tensors.

Run: ``.venv/bin/python benchmarks/bench_codec.py [--qat-steps 60]``
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from results import REPO, Experiment, Table

from compress import codec
from compress.config import CompressConfig, FinetuneConfig
from compress.quantisers import QUANTISERS
from compress.workflow import compress_bundle

BUNDLE = REPO / "assets" / "models" / "pt-context"
BITS = (2, 3, 4, 8)


def _entropy_bits(symbols: np.ndarray, levels: int) -> float:
    """Order-0 entropy of ``symbols`` times their count: the bits an ideal static coder needs."""
    counts = np.bincount(symbols, minlength=levels).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum() * symbols.size)


def _context_bits(matrix: np.ndarray, levels: int) -> float:
    """Bits of an ideal adaptive coder with one model per row of ``matrix``: each row's entropy plus the cost of
    learning its distribution ((L - 1) / 2 log2 n bits, the KT estimator's overhead)."""
    return float(sum(_entropy_bits(row, levels) + (levels - 1) / 2 * np.log2(max(row.size, 2)) for row in matrix))


def byte_budget(path: Path) -> dict:
    """Where a ``.nirz`` file's bytes go: the quantised weights' indices (bit-packed, at their order-0 entropy, and
    with a separate model per output or per input channel) and the float tensors left unquantised (raw, after
    LZMA on byte planes as the range coder stores them, after BZIP2)."""
    import bz2
    import lzma

    from compress.coders import shuffle

    header, state, quantised = codec.decode(path)
    n = order0 = per_out = per_in = packed = 0.0
    for q in quantised.values():
        idx = q.indices.numpy().astype(np.int64)
        levels = len(q.codebook)
        matrix = idx.reshape(idx.shape[0], -1)
        n += idx.size
        packed += idx.size * q.bits / 8
        order0 += _entropy_bits(idx.ravel(), levels) / 8
        per_out += _context_bits(matrix, levels) / 8
        per_in += _context_bits(matrix.T, levels) / 8
    floats = b"".join(state[e["name"]].numpy().astype("<f4").tobytes() for e in header["tensors"]
                      if e["kind"] == "raw" and e["dtype"] == "float32")
    return {"weights": int(n), "indices_packed_bytes": packed, "indices_order0_bytes": order0,
            "indices_per_output_channel_bytes": per_out, "indices_per_input_channel_bytes": per_in,
            "bits_per_index": 8 * order0 / max(n, 1), "float_values": len(floats) // 4, "float_raw_bytes": len(floats),
            "float_lzma_planes_bytes": len(lzma.compress(shuffle(floats), preset=9)),
            "float_bzip2_bytes": len(bz2.compress(floats, 9))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--qat-steps", type=int, default=60)
    parser.add_argument("--interval", type=int, default=FinetuneConfig.repartition_every)
    args = parser.parse_args()
    exp = Experiment(name="codec", title="The compressed file: coders, speed, repartitioning cost",
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    work = Path(tempfile.mkdtemp(prefix="nir-bench-codec-"))
    sizes = Table(["quantiser", "bits", "BZIP2 body (B)", "LZMA body (B)", "range body (B)", "file, best coder (B)",
                   "best / BZIP2 file", "compress (s)", "decompress (s)"])
    rows = []
    try:
        for quantiser in QUANTISERS:
            for bits in BITS:
                best = work / f"{quantiser}{bits}.nirz"
                report = compress_bundle(args.bundle, best, CompressConfig(quantiser=quantiser, bits=bits))
                start = time.perf_counter()
                codec.read(best)
                decompress = time.perf_counter() - start
                bz = work / f"{quantiser}{bits}-bzip2.nirz"
                bz_bytes = compress_bundle(args.bundle, bz, CompressConfig(quantiser=quantiser, bits=bits,
                                                                           coder="bzip2"))["file_bytes"]
                coded = report["coded_sizes"]
                rows.append({"quantiser": quantiser, "bits": bits, "coded": coded, "file_bytes": report["file_bytes"],
                             "bzip2_file_bytes": bz_bytes, "coder": report["coder"], "compress_s": report["seconds"],
                             "decompress_s": decompress})
                sizes.rows.append([quantiser, str(bits), f"{coded['bzip2']:,}", f"{coded['lzma']:,}",
                                   f"{coded['range']:,}", f"{report['file_bytes']:,} ({report['coder']})",
                                   f"{report['file_bytes'] / bz_bytes:.3f}", f"{report['seconds']:.2f}",
                                   f"{decompress:.2f}"])
                print(quantiser, bits, report["file_bytes"], bz_bytes, f"{report['seconds']:.2f}", flush=True)
        exp.tables[f"{args.bundle.name}: the same quantised weights through each coder"] = sizes
        budget = byte_budget(work / "kmeans3.nirz")
        exp.tables["Where the bytes of the K-means 3-bit file go (ideal coders)"] = Table(
            ["quantised weights", "indices bit-packed (B)", "entropy bits / index", "indices at order-0 entropy (B)",
             "one model per output channel (B)", "one model per input channel (B)", "unquantised floats",
             "floats raw (B)", "floats, LZMA on byte planes (B)", "floats, BZIP2 (B)"],
            [[f"{budget['weights']:,}", f"{budget['indices_packed_bytes']:,.0f}", f"{budget['bits_per_index']:.3f}",
              f"{budget['indices_order0_bytes']:,.0f}", f"{budget['indices_per_output_channel_bytes']:,.0f}",
              f"{budget['indices_per_input_channel_bytes']:,.0f}", f"{budget['float_values']:,}",
              f"{budget['float_raw_bytes']:,}", f"{budget['float_lzma_planes_bytes']:,}",
              f"{budget['float_bzip2_bytes']:,}"]])
        run = work / "qat"
        start = time.perf_counter()
        compress_bundle(args.bundle, work / "qat.nirz", CompressConfig(quantiser="kmeans", bits=3),
                        FinetuneConfig(steps=args.qat_steps, repartition_every=args.interval // 5 or 1, out=str(run),
                                       log_tlqe_every=0), progress=False)
        total = time.perf_counter() - start
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        refits = [r["repartition_s"] for r in log if "repartition_s" in r]
        step_s = float(np.median([r["step_s"] for r in log[1:]]))  # the first step includes warm-up
        refit_s = float(np.median(refits))
        share = refit_s / (args.interval * step_s + refit_s)
        exp.tables["Repartitioning in QAT (K-means, 3 bits, every Linear layer)"] = Table(
            ["training step (s)", "repartition of all layers (s)", f"share of training time at every {args.interval} "
             "steps", "fits measured"],
            [[f"{step_s:.3f}", f"{refit_s:.3f}", f"{share:.2%}", str(len(refits))]])
        exp.metrics = {"rows": rows, "byte_budget": budget,
                       "qat": {"step_s": step_s, "repartition_s": refits, "share": share, "steps": args.qat_steps,
                               "wall_s": total}}
        best3 = next(r for r in rows if r["quantiser"] == "kmeans" and r["bits"] == 3)
        exp.notes.append(f"K-means, 3 bits: the best coder's file is {best3['file_bytes'] / best3['bzip2_file_bytes']:.3f}"
                         f" of the BZIP2 file (the bar: <= 0.9); compress + decompress "
                         f"{best3['compress_s'] + best3['decompress_s']:.2f} s (the bar: <= 2 s).")
        exp.save()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
