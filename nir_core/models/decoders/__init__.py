"""Decoders on per-point encodings ``E_g`` (RangeUDF-style, thesis ch. 6 §3) and their losses.

- :class:`KNNAttentionPool` (:mod:`.attention_pool`): a query's ``k`` nearest encoder points, their features and
  relative positions, pooled by scalar or vector attention; the reusable piece of every query decoder.
- :class:`UDFDecoder` (:mod:`.udf`): (B, M, 3) queries -> (B, M) unsigned distances >= 0.
- :class:`SemanticDecoder` (:mod:`.semantic`): (B, M, 3) queries -> (B, M, classes) logits, from ``E_g`` or
  ``E_g ⊕ E_c`` (the contextualiser's channels appended).
- :class:`ClassifierHead` (:mod:`.classifier`): (B, C_g) pooled global feature -> (B, classes) logits.
- :func:`clamped_l1`, :func:`uncertainty_weighted_loss`, :func:`task_log_vars` (:mod:`.losses`).

Query decoders work in chunks of queries and never build (M, N) matrices.
"""
from .attention_pool import AttentionPoolConfig, KNNAttentionPool, RelativePositionEncoding
from .base import DecoderConfig, decode_in_chunks
from .classifier import ClassifierHead, ClassifierHeadConfig
from .losses import clamped_l1, task_log_vars, uncertainty_weighted_loss
from .semantic import SemanticDecoder, SemanticDecoderConfig
from .udf import UDFDecoder, UDFDecoderConfig

__all__ = [
    "AttentionPoolConfig",
    "ClassifierHead",
    "ClassifierHeadConfig",
    "DecoderConfig",
    "KNNAttentionPool",
    "RelativePositionEncoding",
    "SemanticDecoder",
    "SemanticDecoderConfig",
    "UDFDecoder",
    "UDFDecoderConfig",
    "clamped_l1",
    "decode_in_chunks",
    "task_log_vars",
    "uncertainty_weighted_loss",
]
