"""Small reusable network pieces; the assemblies in :mod:`nir_core.models` are built from them."""
from .attention import PointNorm, PointTransformerBlock, PointTransformerLayer, PointTransformerLayerConfig, gather, neighbours
from .transitions import (
    GlobalContext,
    GlobalContextConfig,
    TransitionDown,
    TransitionDownConfig,
    TransitionUp,
    TransitionUpConfig,
    interpolate,
)

__all__ = [
    "GlobalContext",
    "GlobalContextConfig",
    "PointNorm",
    "PointTransformerBlock",
    "PointTransformerLayer",
    "PointTransformerLayerConfig",
    "TransitionDown",
    "TransitionDownConfig",
    "TransitionUp",
    "TransitionUpConfig",
    "gather",
    "interpolate",
    "neighbours",
]
