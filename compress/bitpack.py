"""Bit packing of codebook indices: n values of k bits in ceil(n k / 8) bytes, most significant bit first."""
from __future__ import annotations

import numpy as np


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` values of ``bits`` bits take."""
    return (count * bits + 7) // 8


def pack(indices: np.ndarray, bits: int) -> bytes:
    """``indices`` (n,) integers in [0, 2^bits) -> ``packed_size(n, bits)`` bytes."""
    values = np.asarray(indices).reshape(-1)
    if values.size and (values.min() < 0 or values.max() >= 1 << bits):
        raise ValueError(f"indices must lie in [0, {1 << bits}) to pack in {bits} bits")
    as_bits = np.unpackbits(values.astype(np.uint8)[:, None], axis=1)[:, 8 - bits:]
    return np.packbits(as_bits.reshape(-1)).tobytes()


def unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    """The inverse of :func:`pack`: (count,) uint8. ``data`` must hold exactly ``packed_size(count, bits)`` bytes."""
    if len(data) != packed_size(count, bits):
        raise ValueError(f"{count} values of {bits} bits take {packed_size(count, bits)} bytes, got {len(data)}")
    as_bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    full = np.zeros((count, 8), dtype=np.uint8)
    full[:, 8 - bits:] = as_bits
    return np.packbits(full, axis=1).reshape(-1)
