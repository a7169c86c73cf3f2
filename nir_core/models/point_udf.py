"""The RangeUDF-style model: Point Transformer encoder -> per-point encodings E_g -> UDF and semantic heads.

Thesis ch. 6 §3: the encoder turns the scan's points into per-point features ``E_g``; each query pools its
nearest encoded points by attention and a UDF head (and a semantic head) read the pooled feature. The parts are
named ``encoder``, ``udf``, ``semantic`` (and ``context``, ``classifier``) so training tasks freeze and train them
by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..config import Config
from .base import ImplicitModel
from .contextualiser import Contextualiser, ContextualiserConfig
from .decoders import (
    ClassifierHead,
    ClassifierHeadConfig,
    SemanticDecoder,
    SemanticDecoderConfig,
    UDFDecoder,
    UDFDecoderConfig,
)
from .point_transformer import PointTransformerConfig, PointTransformerUNet, global_pool


@dataclass
class PointUDFConfig(Config):
    """Encoder and heads of :class:`PointUDFModel`."""

    encoder: PointTransformerConfig = field(default_factory=PointTransformerConfig.cpu_small)
    """The Point Transformer UNet (its ``out_features`` is the size of ``E_g``)."""
    udf: UDFDecoderConfig = field(default_factory=UDFDecoderConfig)
    """The UDF head (its ``in_features`` is set to the encoder's ``out_features``)."""
    num_classes: int = 20
    """Semantic classes (ScanNet-20); 0 builds no semantic head."""
    semantic: SemanticDecoderConfig = field(default_factory=SemanticDecoderConfig)
    """The semantic head (``in_features``, ``context_features`` and ``num_classes`` are set from the others)."""
    context: ContextualiserConfig | None = None
    """The contextualiser whose features the semantic head also reads (thesis ch. 6 §3.2), or None."""
    object_classes: int = 0
    """Object classes of a classifier head on the pooled encodings E_g (thesis ch. 5); 0 builds none."""
    classifier: ClassifierHeadConfig = field(default_factory=ClassifierHeadConfig)
    """The classifier head (``in_features`` and ``num_classes`` are set from the others)."""

    def __post_init__(self):
        if self.context is not None and "norm_statistics" not in self.context.network:
            # The contextualiser normalises as the encoder it reads does, unless told otherwise; written out, so
            # the bundle keeps its meaning.
            self.context.network = {**self.context.network, "norm_statistics": self.encoder.norm_statistics}
        self.classifier.in_features = 2 * self.encoder.out_features  # max and mean of E_g
        if self.object_classes:
            self.classifier.num_classes = self.object_classes
        self.semantic.context_features = self.context.context_features if self.context else 0
        self.udf.in_features = self.encoder.out_features
        self.semantic.in_features = self.encoder.out_features
        if self.num_classes:
            self.semantic.num_classes = self.num_classes


class Encoding(NamedTuple):
    points: Tensor
    """(B, N, 3) the encoded points."""
    features: Tensor
    """(B, N, C) their encodings E_g."""
    context: Tensor | None = None
    """(B, N, l) context features f_ctx(E_g) when the model has a contextualiser."""
    colours: Tensor | None = None
    """(B, N, 3) the encoded points' colours in [0, 1] (``NO_COLOUR`` where unknown), or None: what a contextualiser
    that reads colour sees."""


class PointUDFModel(ImplicitModel):
    """Point Transformer encoder + attention-pooled UDF head (+ semantic head)."""

    def __init__(self, cfg: PointUDFConfig | None = None):
        super().__init__()
        self.cfg = cfg or PointUDFConfig()
        parts = {"encoder": PointTransformerUNet(self.cfg.encoder), "udf": UDFDecoder(self.cfg.udf)}
        if self.cfg.num_classes:
            parts["semantic"] = SemanticDecoder(self.cfg.semantic)
            if self.cfg.context is not None:
                parts["context"] = Contextualiser(self.cfg.context, self.cfg.encoder.out_features)
        if self.cfg.object_classes:
            parts["classifier"] = ClassifierHead(self.cfg.classifier)
        self.parts = nn.ModuleDict(parts)
        self.num_classes = self.cfg.num_classes

    def config_json(self) -> dict:
        return self.cfg.to_json()

    @property
    def reads_colour(self) -> bool:
        return "context" in self.parts and self.cfg.context.colour

    def encode(self, points: Tensor, colours: Tensor | None = None) -> Encoding:
        """points (B, N, 3) [and their colours (B, N, 3)] -> their encodings E_g (and context features when the
        model has a contextualiser)."""
        return self.contextualise(self.encode_geometry(points, colours))

    def encode_draws(self, draws: list[Tensor], colours: list[Tensor] | None = None) -> Encoding:
        """Each draw (1, N_i, 3) encoded on its own, as the encoder was trained (a whole scene at its training
        density), then joined: the heads pool each query's nearest encoded points from all draws, so a scan denser
        than one draw shapes the field with all of its drawn points."""
        colours = colours or [None] * len(draws)
        if len(draws) == 1:
            return self.encode(draws[0], colours[0])
        parts = [self.encode(d, c) for d, c in zip(draws, colours)]
        join = lambda name: None if getattr(parts[0], name) is None else torch.cat([getattr(p, name) for p in parts], 1)
        return Encoding(*(join(name) for name in Encoding._fields))

    def encode_geometry(self, points: Tensor, colours: Tensor | None = None) -> Encoding:
        """points (B, N, 3) -> their encodings E_g alone (the colours, when given, ride along for
        :meth:`contextualise`)."""
        return Encoding(points, self.parts["encoder"](points), colours=colours)

    def contextualise(self, encoding: Encoding) -> Encoding:
        """Adds the contextualiser's features to an encoding (unchanged without a contextualiser)."""
        if "context" not in self.parts:
            return encoding
        return encoding._replace(context=self.parts["context"](encoding.points, encoding.features, encoding.colours))

    def udf(self, encoding: Encoding, queries: Tensor) -> Tensor:
        return self.parts["udf"](queries, encoding.points, encoding.features)

    def semantics(self, encoding: Encoding, queries: Tensor) -> Tensor:
        if "semantic" not in self.parts:
            raise NotImplementedError("this model was built without a semantic head (num_classes=0)")
        return self.parts["semantic"](queries, encoding.points, encoding.features, context=encoding.context)


    def classify(self, encoding: Encoding) -> Tensor:
        """(B, object_classes) class scores from the max and mean over the points of E_g."""
        if "classifier" not in self.parts:
            raise NotImplementedError("this model was built without a classifier head (object_classes=0)")
        return self.parts["classifier"](global_pool(encoding.features))
