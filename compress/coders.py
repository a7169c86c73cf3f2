"""Entropy coders for the compressed file's body: BZIP2 (as the paper), LZMA, and a range coder.

A body is a list of parts: plain bytes (codebooks, float tensors) and index streams (one per quantised tensor).
BZIP2 and LZMA see everything as bytes, the indices bit-packed. The range coder (``constriction``'s queue coder)
codes each index stream with its own tensor's symbol frequencies, stored beside it, which reaches the
entropy of the indices where a byte-oriented coder cannot see k-bit symbols that straddle bytes; the plain
bytes go through LZMA. Decoding never allocates more than the sizes the caller vouches for.
"""
from __future__ import annotations

import bz2
import lzma
import struct
from dataclasses import dataclass

import numpy as np

from .bitpack import pack, packed_size, unpack


class CodingError(ValueError):
    """The coded bytes do not decode to what the header says."""


@dataclass
class IndexStream:
    """Codebook indices of one tensor."""

    indices: np.ndarray
    """(n,) uint8, each < ``levels``."""
    bits: int
    """Bits per index when bit-packed."""
    levels: int
    """Codebook size L (<= 2^bits)."""


Part = bytes | IndexStream


def _bounded(decompressor, data: bytes, size: int, name: str) -> bytes:
    try:
        out = decompressor.decompress(data, max_length=size)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise CodingError(f"{name} data is corrupt ({exc})") from None
    if len(out) != size or not decompressor.eof:
        raise CodingError(f"{name} data does not decode to the {size} bytes the header states")
    return out


class ByteCoder:
    """Bit-packs the indices and compresses the concatenated parts with a general-purpose byte coder."""

    def __init__(self, name: str, compress, decompressor):
        self.name, self._compress, self._decompressor = name, compress, decompressor

    def encode(self, parts: list[Part]) -> bytes:
        return self._compress(b"".join(p if isinstance(p, bytes) else pack(p.indices, p.bits) for p in parts))

    def decode(self, body: bytes, layout: list[int | tuple[int, int, int]]) -> list[Part]:
        """``layout``: per part, its byte count, or (count, bits, levels) for an index stream."""
        size = sum(p if isinstance(p, int) else packed_size(p[0], p[1]) for p in layout)
        raw, at, parts = _bounded(self._decompressor(), body, size, self.name), 0, []
        for p in layout:
            if isinstance(p, int):
                parts.append(raw[at:at + p])
                at += p
            else:
                count, bits, levels = p
                n = packed_size(count, bits)
                parts.append(IndexStream(_checked(unpack(raw[at:at + n], count, bits), levels), bits, levels))
                at += n
        return parts


def _checked(indices: np.ndarray, levels: int) -> np.ndarray:
    if indices.size and int(indices.max()) >= levels:
        raise CodingError(f"an index points past its codebook of {levels} entries")
    return indices


def shuffle(data: bytes, width: int = 4) -> bytes:
    """Byte planes of ``width``-byte words (all first bytes, then all second bytes, ...), the tail as is.

    Float32 sign / exponent bytes repeat across weights and their mantissa bytes do not; planes put the
    repeating bytes together, which LZMA then finds.
    """
    cut = len(data) // width * width
    words = np.frombuffer(data, dtype=np.uint8, count=cut).reshape(-1, width)
    return words.T.tobytes() + data[cut:]


def unshuffle(data: bytes, width: int = 4) -> bytes:
    """The inverse of :func:`shuffle`."""
    cut = len(data) // width * width
    planes = np.frombuffer(data, dtype=np.uint8, count=cut).reshape(width, -1)
    return planes.T.tobytes() + data[cut:]


class RangeCoder:
    """Per-tensor static frequency tables + ``constriction``'s range coder for the indices; the bytes in
    4-byte planes (:func:`shuffle`) through LZMA."""

    name = "range"
    _WORD = 4

    def encode(self, parts: list[Part]) -> bytes:
        import constriction

        plain, streams = [], []
        for p in parts:
            if isinstance(p, bytes):
                plain.append(p)
                continue
            counts = np.bincount(p.indices.astype(np.int64), minlength=p.levels).astype("<u4")
            plain.append(counts.tobytes())
            encoder = constriction.stream.queue.RangeEncoder()
            if p.indices.size:
                encoder.encode(p.indices.astype(np.int32), self._model(counts))
            words = encoder.get_compressed().astype("<u4")
            streams.append(struct.pack("<I", words.size) + words.tobytes())
        packed = lzma.compress(shuffle(b"".join(plain)), preset=9)
        return struct.pack("<Q", len(packed)) + packed + b"".join(streams)

    @staticmethod
    def _model(counts: np.ndarray):
        import constriction

        return constriction.stream.model.Categorical(counts.astype(np.float64) / max(int(counts.sum()), 1),
                                                     perfect=False)

    def decode(self, body: bytes, layout: list[int | tuple[int, int, int]]) -> list[Part]:
        import constriction

        if len(body) < 8:
            raise CodingError("range-coded body is truncated")
        (n_packed,) = struct.unpack_from("<Q", body)
        if n_packed > len(body) - 8:
            raise CodingError("range-coded body is truncated")
        plain_size = sum(p if isinstance(p, int) else 4 * p[2] for p in layout)
        plain = unshuffle(_bounded(lzma.LZMADecompressor(), body[8:8 + n_packed], plain_size, "LZMA"))
        at, cursor, parts = 0, 8 + n_packed, []
        for p in layout:
            if isinstance(p, int):
                parts.append(plain[at:at + p])
                at += p
                continue
            count, bits, levels = p
            counts = np.frombuffer(plain[at:at + 4 * levels], dtype="<u4")
            at += 4 * levels
            if int(counts.sum()) != count:
                raise CodingError("a frequency table does not add up to its tensor's size")
            if cursor + 4 > len(body):
                raise CodingError("range-coded body is truncated")
            (n_words,) = struct.unpack_from("<I", body, cursor)
            cursor += 4
            if cursor + 4 * n_words > len(body):
                raise CodingError("range-coded body is truncated")
            words = np.frombuffer(body, dtype="<u4", count=n_words, offset=cursor).astype(np.uint32)
            cursor += 4 * n_words
            if count == 0:
                indices = np.zeros(0, dtype=np.uint8)
            else:
                try:
                    decoded = constriction.stream.queue.RangeDecoder(words).decode(self._model(counts), count)
                except (ValueError, RuntimeError, AssertionError) as exc:
                    raise CodingError(f"range-coded indices are corrupt ({exc})") from None
                indices = _checked(np.asarray(decoded), levels).astype(np.uint8)
            parts.append(IndexStream(indices, bits, levels))
        if cursor != len(body):
            raise CodingError("range-coded body has trailing bytes")
        return parts


CODERS = {
    "bzip2": ByteCoder("bzip2", lambda b: bz2.compress(b, 9), bz2.BZ2Decompressor),
    "lzma": ByteCoder("lzma", lambda b: lzma.compress(b, preset=9), lzma.LZMADecompressor),
    "range": RangeCoder(),
}
"""Coder name (as the file header records it) -> coder."""
