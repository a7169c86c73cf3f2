"""Networks: encoders, decoders and the contextualiser, assembled from :mod:`nir_core.models.components`."""
from .point_transformer import Level, PointTransformerConfig, PointTransformerUNet, global_pool

__all__ = ["Level", "PointTransformerConfig", "PointTransformerUNet", "global_pool"]
