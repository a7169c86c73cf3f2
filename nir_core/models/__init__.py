"""Networks: encoders, decoders and whole implicit models, assembled from :mod:`nir_core.models.components`.

- :class:`ImplicitModel` (:mod:`.base`): what the engine, extractors and apps use (encode, udf, semantics, parts).
- :class:`PointUDFModel` (:mod:`.point_udf`): Point Transformer encoder + RangeUDF-style heads.
- :class:`NDFModel` (:mod:`.ndf`): NDF / IF-Net voxel encoder + multi-scale trilinear decoder.
- :mod:`.registry`: architectures by name, to and from :class:`~nir_core.bundle.ModelBundle`.
"""
from .base import ImplicitModel
from .point_transformer import Level, PointTransformerConfig, PointTransformerUNet, global_pool

__all__ = ["ImplicitModel", "Level", "PointTransformerConfig", "PointTransformerUNet", "global_pool"]
