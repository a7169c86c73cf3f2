"""Pieces shared by the query decoders: their common config, the head MLP, input checks and chunked decoding."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ...config import Config
from .attention_pool import AttentionPoolConfig

SEARCH_BLOCK = 65536
"""Queries per neighbour search at least, whatever the decoding chunk (see :func:`decode_in_chunks`)."""


@dataclass
class DecoderConfig(Config):
    """Settings shared by the query decoders (:class:`~.udf.UDFDecoder`, :class:`~.semantic.SemanticDecoder`)."""

    in_features: int = 32
    """Channels ``C`` of the encoder features ``E_g`` per point (the encoder's ``out_features``)."""
    pool: AttentionPoolConfig = field(default_factory=AttentionPoolConfig)
    """Neighbours, attention kind and position encoding of the pooling step."""
    hidden: tuple[int, ...] = (128, 64, 32)
    """Hidden widths of the head MLP after pooling."""
    append_query: bool = True
    """Feed the query's coordinates to the head beside the pooled feature (the thesis: pooled features
    "alongside the corresponding query point"); off, the output only depends on positions relative to ``E_g``."""
    chunk_size: int = 4096
    """Queries decoded per step; bounds memory (a few kB per query) for any number of queries. A few thousand
    keep one step's activations in the CPU caches, which is faster than large steps."""

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.in_features < 1 or self.chunk_size < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"in_features, chunk_size and hidden widths must be >= 1, got {self}")


def mlp(in_features: int, hidden: Sequence[int], out_features: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU between them (and dropout after each hidden ReLU when ``dropout > 0``).

    No normalisation layers: decoding must not depend on which queries share a chunk, so a query's output is the
    same whatever the chunk size, in training as in evaluation.
    """
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def check_inputs(query: Tensor, points: Tensor, features: Tensor, channels: int, idx: Tensor | None = None) -> None:
    """ValueError unless the shapes are (B, M, 3), (B, N, 3), (B, N, channels) and (B, M, k')."""
    if query.ndim != 3 or query.shape[-1] != 3:
        raise ValueError(f"query must be (B, M, 3), got {tuple(query.shape)}")
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != query.shape[0]:
        raise ValueError(f"points must be (B, N, 3) with the batch of query {tuple(query.shape)}, got "
                         f"{tuple(points.shape)}")
    if points.shape[1] < 1:
        raise ValueError("points: need at least one encoder point per scene")
    if features.ndim != 3 or features.shape[:2] != points.shape[:2]:
        raise ValueError(f"features must be (B, N, C) matching points {tuple(points.shape)}, got "
                         f"{tuple(features.shape)}")
    if features.shape[-1] != channels:
        raise ValueError(f"the decoder takes {channels} feature channels per point, got {features.shape[-1]}")
    if idx is not None and (idx.ndim != 3 or idx.shape[:2] != query.shape[:2]):
        raise ValueError(f"idx must be (B, M, k) matching query {tuple(query.shape)}, got {tuple(idx.shape)}")


def decode_in_chunks(fn: Callable[[Tensor, Tensor], Tensor], query: Tensor, idx: Tensor | None,
                     search: Callable[[Tensor], Tensor], chunk_size: int, search_block: int = SEARCH_BLOCK) -> Tensor:
    """Applies ``fn(query_chunk, idx_chunk)`` to consecutive chunks of queries and concatenates along M.

    Neighbours are searched per block of ``max(chunk_size, search_block)`` queries: a KD-tree search pays for
    building the tree on every call, so small decoding chunks (which keep the activations in cache) would
    otherwise make the search several times slower.

    Parameters
    ----------
    fn: decodes (B, m, 3) queries with their (B, m, k) neighbour indices to (B, m, ...) outputs.
    query: (B, M, 3) all queries.
    idx: (B, M, k) neighbour indices, or None to search them with ``search``.
    search: (B, m, 3) queries -> (B, m, k) neighbour indices.
    chunk_size: queries per call of ``fn``; bounds the memory of one call (neighbour tokens, MLP activations).
    search_block: queries per neighbour search at least.

    Returns
    -------
    (B, M, ...) the outputs of all chunks, in query order.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    m = query.shape[1]
    block = max(chunk_size, search_block)
    out = []
    for s in range(0, max(m, 1), block):
        q = query[:, s:s + block]
        i = search(q) if idx is None else idx[:, s:s + block]
        out += [fn(q[:, t:t + chunk_size], i[:, t:t + chunk_size]) for t in range(0, max(q.shape[1], 1), chunk_size)]
    return out[0] if len(out) == 1 else torch.cat(out, dim=1)


def concat_query(h: Tensor, q: Tensor) -> Tensor:
    """(B, m, H) pooled features, (B, m, 3) queries -> (B, m, H + 3)."""
    return torch.cat([h, q.to(h.dtype)], dim=-1)


def decode_pooled(pool, head: Callable[[Tensor], Tensor], query: Tensor, points: Tensor, features: Tensor,
                  idx: Tensor | None, chunk_size: int, append_query: bool) -> Tensor:
    """The shared body of the query decoders: pool each query's neighbours, optionally append the query, apply
    ``head``; chunked by :func:`decode_in_chunks`.

    pool: a :class:`~.attention_pool.KNNAttentionPool`; head: (B, m, H) -> (B, m, ...) outputs.
    """
    table = pool.prepare(points, features)

    def decode(q: Tensor, i: Tensor) -> Tensor:
        h = pool.pool(q, table, i)
        return head(concat_query(h, q) if append_query else h)

    return decode_in_chunks(decode, query, idx, lambda q: pool.neighbours(q, points), chunk_size)
