"""The compressed model file (``.nirz``): a versioned, validated header and an entropy-coded body.

Layout::

    b"NIRZ" | version: u16 LE | header length: u32 LE | header: zlib-compressed UTF-8 JSON | body (coded by
    header["coder"])

The header holds the bundle's metadata (architecture, model config, label set, provenance), the coder, the
body's size and CRC-32, and one entry per tensor in body order: name, shape, and either ``raw`` (stored as
``dtype``), ``quantised`` (bits, quantiser, codebook length and precision) or ``blocks`` (DSConv: bits, block size,
number of blocks, scale precision). A quantised tensor is its codebook followed by one index per element; a block
tensor its scales followed by one mantissa index per element. Decoding gives exactly the fake-quantised weights.
A file with block tensors is format version 2 (a reader of version 1 says to update), any other version 1. Every
size is checked against hard limits and against the file before anything is allocated; a bad file raises one
:class:`NirzError` naming the file and the reason.
"""
from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nir_core.atomic import atomic_write_bytes
from nir_core.bundle import ModelBundle
from nir_core.errors import NIRStudioError

from . import dsconv
from .coders import CODERS, CodingError, IndexStream
from .quantisers import BLOCK_QUANTISERS, CODEBOOK_DTYPES, MAX_BITS, QUANTISERS

MAGIC = b"NIRZ"
VERSION = 2
"""The newest format version this release reads and writes (2: ``blocks`` tensors)."""
SUFFIX = ".nirz"
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_TENSORS = 100_000
MAX_FILE_BYTES = 1 << 31
"""Largest file read (2 GiB): a model file is megabytes; anything bigger is refused before it is read."""
MAX_ELEMENTS = 1 << 31
"""Upper bound on the elements of all tensors together: a header claiming more is refused unread."""
_PREFIX = struct.Struct("<4sHI")

RAW_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "int32": torch.int32,
              "uint8": torch.uint8, "bool": torch.bool}
_NUMPY = {"float32": "<f4", "float16": "<f2", "int64": "<i8", "int32": "<i4", "uint8": "u1", "bool": "?"}


class NirzError(NIRStudioError):
    """A ``.nirz`` file could not be read or written."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass
class QuantisedTensor:
    """A tensor as the file stores it when quantised."""

    codebook: torch.Tensor
    """(L,) float32, sorted, already rounded to ``codebook_dtype``; for a block quantiser (``block`` > 0) the
    (blocks,) scales."""
    indices: torch.Tensor
    """Same shape as the weight, integer, each < L (a block quantiser: < 2^bits, its mantissa indices)."""
    bits: int
    quantiser: str
    codebook_dtype: str = "float32"
    block: int = 0
    """Values per block of a block quantiser (DSConv); 0 for a codebook quantiser."""

    def dequantised(self) -> torch.Tensor:
        if self.block:
            return dsconv.dequantise(self.codebook, self.indices, self.bits, self.block)
        return self.codebook[self.indices.long()]


def _dtype_name(dtype: torch.dtype) -> str:
    for name, d in RAW_DTYPES.items():
        if d == dtype:
            return name
    raise ValueError(f"tensors of dtype {dtype} cannot be stored")


def encode_bundle(bundle: ModelBundle, quantised: dict[str, QuantisedTensor], coder: str = "best",
                  raw_float: str = "float32", extra: dict | None = None) -> tuple[bytes, dict]:
    """The ``.nirz`` bytes of ``bundle`` with the tensors in ``quantised`` stored as codebook + indices, and the
    header written into them (the coder chosen, every coder's body size).

    ``coder``: "bzip2", "lzma", "range", or "best" (all three, the smallest kept). ``raw_float``: the precision
    ("float32" / "float16") of float tensors that are not quantised (biases, norms).
    """
    if raw_float not in ("float32", "float16"):
        raise ValueError(f"raw_float must be float32 or float16, got {raw_float!r}")
    unknown = set(quantised) - set(bundle.state)
    if unknown:
        raise ValueError(f"quantised tensors {sorted(unknown)[:3]} are not in the bundle")
    entries, parts = [], []
    for name, tensor in bundle.state.items():
        if name in quantised:
            q = quantised[name]
            codebook = q.codebook.detach().cpu().to(CODEBOOK_DTYPES[q.codebook_dtype])
            entry = {"name": name, "shape": list(tensor.shape), "kind": "blocks" if q.block else "quantised",
                     "bits": int(q.bits), "quantiser": q.quantiser, "levels": int(codebook.numel()),
                     "codebook_dtype": q.codebook_dtype}
            if q.block:
                entry["block"] = int(q.block)
            entries.append(entry)
            parts.append(codebook.numpy().astype(_NUMPY[q.codebook_dtype]).tobytes())
            parts.append(IndexStream(q.indices.detach().cpu().reshape(-1).numpy().astype(np.uint8), int(q.bits),
                                     _alphabet(entry)))
        else:
            t = tensor.detach().cpu()
            stored = raw_float if t.is_floating_point() else _dtype_name(t.dtype)
            entries.append({"name": name, "shape": list(t.shape), "kind": "raw", "dtype": stored})
            parts.append(t.to(RAW_DTYPES[stored]).contiguous().numpy().astype(_NUMPY[stored]).tobytes())
    names = list(CODERS) if coder == "best" else [coder]
    if any(n not in CODERS for n in names):
        raise ValueError(f"unknown coder {coder!r}; choose best or one of {', '.join(CODERS)}")
    bodies = {n: CODERS[n].encode(parts) for n in names}
    chosen = min(bodies, key=lambda n: len(bodies[n]))
    body = bodies[chosen]
    version = 2 if any(e["kind"] == "blocks" for e in entries) else 1
    header = {"format": "nirz", "version": version, "coder": chosen, "body_bytes": len(body),
              "body_crc32": zlib.crc32(body), "coded_sizes": {n: len(b) for n, b in bodies.items()},
              "bundle": {"architecture": bundle.architecture, "model_config": bundle.model_config,
                         "label_set": bundle.label_set, "training": bundle.training, "extra": bundle.extra},
              "compression": extra or {}, "tensors": entries}
    # Tensor names repeat long prefixes, so the JSON header compresses to a small fraction of its size.
    head = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    return _PREFIX.pack(MAGIC, version, len(head)) + head + body, header


def _alphabet(entry: dict) -> int:
    """How many distinct indices a quantised tensor's entry allows: its codebook's length, or 2^bits mantissas."""
    return 2 ** entry["bits"] if entry["kind"] == "blocks" else entry["levels"]


def write(path: str | Path, bundle: ModelBundle, quantised: dict[str, QuantisedTensor], **options) -> int:
    """Writes the ``.nirz`` file atomically; returns its size on disk in bytes."""
    path = Path(path)
    atomic_write_bytes(path, encode_bundle(bundle, quantised, **options)[0])
    return path.stat().st_size


def read_header(path: str | Path) -> tuple[dict, bytes]:
    """The validated header and the body of a ``.nirz`` file (the body's CRC checked)."""
    path = Path(path)
    if not path.is_file():
        raise NirzError(path, "no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise NirzError(path, f"{path.stat().st_size:,} bytes is more than a model file may be ({MAX_FILE_BYTES:,})")
    data = path.read_bytes()
    if len(data) < _PREFIX.size:
        raise NirzError(path, "too short to be a .nirz file (truncated?)")
    magic, version, head_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise NirzError(path, "not a .nirz file (wrong magic bytes)")
    if version > VERSION:
        raise NirzError(path, f"written in .nirz format version {version}, newer than this release reads ({VERSION}); "
                              "update NIR Studio")
    if head_len > MAX_HEADER_BYTES:
        raise NirzError(path, f"header claims {head_len} bytes, more than the {MAX_HEADER_BYTES} allowed")
    if _PREFIX.size + head_len > len(data):
        raise NirzError(path, "truncated inside the header")
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(data[_PREFIX.size:_PREFIX.size + head_len], MAX_HEADER_BYTES)
        if not inflate.eof or inflate.unconsumed_tail:
            raise ValueError(f"it does not inflate to at most {MAX_HEADER_BYTES} bytes")
        header = json.loads(text.decode())
    except (zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise NirzError(path, f"header is unreadable ({exc})") from None
    try:
        _validate(header)
    except (KeyError, TypeError, ValueError) as exc:
        raise NirzError(path, f"invalid header ({exc})") from None
    body = data[_PREFIX.size + head_len:]
    if len(body) != header["body_bytes"]:
        raise NirzError(path, f"body is {len(body)} bytes, the header says {header['body_bytes']} (truncated?)")
    if zlib.crc32(body) != header["body_crc32"]:
        raise NirzError(path, "body checksum mismatch (the file is corrupt)")
    return header, body


def _validate(header: dict) -> None:
    if not isinstance(header, dict) or header.get("format") != "nirz":
        raise ValueError("not a nirz header")
    if header["coder"] not in CODERS:
        raise ValueError(f"unknown coder {header['coder']!r}")
    for key in ("body_bytes", "body_crc32"):
        if not isinstance(header[key], int) or header[key] < 0:
            raise ValueError(f"{key} must be a non-negative integer")
    bundle = header["bundle"]
    if not isinstance(bundle, dict) or not isinstance(bundle["architecture"], str):
        raise ValueError("bundle metadata missing")
    tensors = header["tensors"]
    if not isinstance(tensors, list) or len(tensors) > MAX_TENSORS:
        raise ValueError("tensor list missing or too long")
    total = 0
    for t in tensors:
        shape = t["shape"]
        if not isinstance(t["name"], str) or not isinstance(shape, list) or len(shape) > 8 or \
                not all(isinstance(s, int) and 0 <= s <= MAX_ELEMENTS for s in shape):
            raise ValueError(f"bad name or shape in tensor entry {str(t)[:80]}")
        total += math.prod(shape)
        if total > MAX_ELEMENTS:
            raise ValueError(f"tensors claim more than {MAX_ELEMENTS} elements")
        if t["kind"] == "raw":
            if t["dtype"] not in RAW_DTYPES:
                raise ValueError(f"unknown dtype {t['dtype']!r}")
        elif t["kind"] in ("quantised", "blocks"):
            if not (isinstance(t["bits"], int) and 1 <= t["bits"] <= MAX_BITS):
                raise ValueError(f"bits must be 1..{MAX_BITS}")
            if t["codebook_dtype"] not in CODEBOOK_DTYPES or t["quantiser"] not in QUANTISERS:
                raise ValueError("unknown codebook dtype or quantiser")
            if (t["kind"] == "blocks") != (t["quantiser"] in BLOCK_QUANTISERS):
                raise ValueError(f"quantiser {t['quantiser']!r} cannot store a {t['kind']!r} tensor")
            if t["kind"] == "quantised" and not (isinstance(t["levels"], int) and 1 <= t["levels"] <= 2 ** t["bits"]):
                raise ValueError("codebook length must be 1..2^bits")
            if t["kind"] == "blocks" and not (isinstance(t["block"], int) and 1 <= t["block"] <= 4096
                                              and t["levels"] == dsconv.block_count(shape, t["block"])):
                raise ValueError("block size must be 1..4096 and the scales one per block of the shape")
        else:
            raise ValueError(f"unknown tensor kind {t['kind']!r}")


def itemsize(dtype: str) -> int:
    """Bytes per element of a stored dtype name ("float32", "float16", "int64", ...)."""
    return np.dtype(_NUMPY[dtype]).itemsize


def _layout(header: dict) -> list:
    layout = []
    for t in header["tensors"]:
        n = math.prod(t["shape"])
        if t["kind"] == "raw":
            layout.append(n * itemsize(t["dtype"]))
        else:
            layout.append(t["levels"] * itemsize(t["codebook_dtype"]))
            layout.append((n, t["bits"], _alphabet(t)))
    return layout


def decode(path: str | Path) -> tuple[dict, dict[str, torch.Tensor], dict[str, QuantisedTensor]]:
    """Header, full state dict (quantised tensors dequantised to float32) and the quantised tensors themselves."""
    header, body = read_header(path)
    try:
        parts = iter(CODERS[header["coder"]].decode(body, _layout(header)))
    except CodingError as exc:
        raise NirzError(path, str(exc)) from None
    state, quantised = {}, {}
    for t in header["tensors"]:
        if t["kind"] == "raw":
            array = np.frombuffer(next(parts), dtype=_NUMPY[t["dtype"]]).reshape(t["shape"])
            tensor = torch.from_numpy(array.copy())
            state[t["name"]] = tensor.float() if t["dtype"] == "float16" else tensor
            continue
        codebook = torch.from_numpy(np.frombuffer(next(parts), dtype=_NUMPY[t["codebook_dtype"]]).astype(np.float32))
        stream = next(parts)
        q = QuantisedTensor(codebook, torch.from_numpy(stream.indices.astype(np.int64)).reshape(t["shape"]),
                            t["bits"], t["quantiser"], t["codebook_dtype"], t.get("block", 0))
        quantised[t["name"]] = q
        state[t["name"]] = q.dequantised()
    return header, state, quantised


def read(path: str | Path) -> ModelBundle:
    """The model a ``.nirz`` file holds, as a :class:`ModelBundle` the registry and the apps load."""
    header, state, _ = decode(path)
    meta = header["bundle"]
    extra = dict(meta.get("extra") or {})
    extra["nirz"] = {"coder": header["coder"], "file_bytes": Path(path).stat().st_size,
                     "coded_sizes": header.get("coded_sizes"), **header.get("compression", {})}
    return ModelBundle(architecture=meta["architecture"], model_config=dict(meta.get("model_config") or {}),
                       state=state, label_set=meta.get("label_set"), training=dict(meta.get("training") or {}),
                       extra=extra)
