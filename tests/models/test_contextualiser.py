"""The contextualiser: the thesis's size, its place in the model, and what it changes."""
from __future__ import annotations

import pytest
import torch

from nir_core.models.contextualiser import Contextualiser, ContextualiserConfig
from nir_core.models.point_udf import PointUDFConfig, PointUDFModel


def test_thesis_sized_contextualiser_has_about_379k_parameters():
    count = Contextualiser(ContextualiserConfig(), in_features=32).num_parameters()
    print(f"contextualiser (channels 32-32-64-64-128, one block per scale, l = 4): {count:,} parameters")
    assert abs(count - 379_000) / 379_000 < 0.10


@pytest.mark.parametrize("kind", ["point_transformer", "mlp"])
def test_semantic_head_reads_encodings_with_context_appended(kind):
    torch.manual_seed(0)
    model = PointUDFModel(PointUDFConfig.from_json({"context": {"kind": kind, "context_features": 2}})).eval()
    points, queries = torch.rand(1, 600, 3) - 0.5, torch.rand(1, 9, 3) - 0.5
    encoding = model.encode(points)
    assert encoding.context.shape == (1, 600, 2)
    assert model.semantics(encoding, queries).shape == (1, 9, 20)
    # The context changes the labels, not the geometry.
    plain = model.encode_geometry(points)
    torch.testing.assert_close(model.udf(encoding, queries), model.udf(plain, queries))
    changed = encoding._replace(context=encoding.context + 1.0)
    assert not torch.allclose(model.semantics(changed, queries), model.semantics(encoding, queries))


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="unknown contextualiser kind"):
        ContextualiserConfig(kind="cnn")
    with pytest.raises(ValueError, match="context_features must be >= 1"):
        ContextualiserConfig(context_features=0)


def test_contextualiser_normalises_as_its_encoder_unless_told_otherwise():
    cfg = PointUDFConfig.from_json({"encoder": {"norm_statistics": "scene"}, "context": {}})
    assert cfg.context.network["norm_statistics"] == "scene"
    assert PointUDFModel(cfg).parts["context"].net.cfg.norm_statistics == "scene"
    # Written out, so a bundle keeps its meaning when the encoder's setting or the default changes.
    assert PointUDFConfig.from_json(cfg.to_json()).context.network == {"norm_statistics": "scene"}
    assert PointUDFConfig.from_json({"context": {}}).context.network["norm_statistics"] == "batch"
    own = PointUDFConfig.from_json({"encoder": {"norm_statistics": "scene"},
                                  "context": {"network": {"norm_statistics": "batch"}}})
    assert own.context.network["norm_statistics"] == "batch"
