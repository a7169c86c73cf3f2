"""What a compressed file holds, layer by layer, and the sizes that count: the file's own size on disk."""
from __future__ import annotations

import math
from pathlib import Path

from . import codec
from .bitpack import packed_size


def layer_table(path: str | Path) -> tuple[list[dict], dict]:
    """Rows (name, shape, params, stored, codebook, bytes before entropy coding) and totals of a ``.nirz`` file."""
    header, _ = codec.read_header(path)
    rows = []
    for t in header["tensors"]:
        n = math.prod(t["shape"])
        if t["kind"] == "quantised":
            book = t["levels"] * codec.itemsize(t["codebook_dtype"])
            rows.append({"name": t["name"], "shape": t["shape"], "params": n,
                         "stored": f"{t['quantiser']} {t['bits']}-bit",
                         "codebook": f"{t['levels']} x {t['codebook_dtype']}", "bytes": book + packed_size(n, t["bits"])})
        else:
            rows.append({"name": t["name"], "shape": t["shape"], "params": n, "stored": t["dtype"], "codebook": "-",
                         "bytes": n * codec.itemsize(t["dtype"])})
    params = sum(r["params"] for r in rows)
    size = Path(path).stat().st_size
    totals = {"architecture": header["bundle"]["architecture"], "coder": header["coder"], "params": params,
              "float32_bytes": 4 * params, "packed_bytes": sum(r["bytes"] for r in rows), "file_bytes": size,
              "ratio": 4 * params / size}
    return rows, totals
