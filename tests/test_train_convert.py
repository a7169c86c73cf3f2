"""Switching a trained bundle to per-scene norm statistics: inference then matches its training pass."""
from __future__ import annotations

import pytest
import torch

from nir_core.bundle import BundleError, ModelBundle
from nir_core.models.point_udf import PointUDFConfig, PointUDFModel
from nir_core.models.registry import from_bundle, to_bundle
from nir_core.train.convert import convert_folder, to_scene_statistics

SMALL = {"encoder": {"channels": [16, 32], "blocks": [1, 1]}, "context": {"channels": [16, 16], "blocks": [1, 1]}}


def trained_bundle(task: str = "joint", batch_size: int = 1) -> tuple:
    torch.manual_seed(0)
    model = PointUDFModel(PointUDFConfig.from_json(SMALL))
    config = model.config_json()
    assert config["encoder"]["norm_statistics"] == "batch" == config["context"]["network"]["norm_statistics"]
    model.train()
    for seed in range(3):  # running averages from other, differently spread scenes
        model.encode(torch.rand(1, 300, 3, generator=torch.Generator().manual_seed(seed)) * (seed + 1) - 0.5)
    bundle = to_bundle(model, "point_udf", config, training={"config": {"task": task, "batch_size": batch_size}})
    return model, bundle


def test_a_switched_bundle_infers_as_it_trained(tmp_path):
    model, bundle = trained_bundle()
    scene = torch.rand(1, 300, 3, generator=torch.Generator().manual_seed(9)) - 0.5
    with torch.no_grad():
        in_training = model.train().encode(scene)
        with_averages = model.eval().encode(scene)
    bundle.save(tmp_path / "b")
    convert_folder(tmp_path / "b")
    switched = ModelBundle.load(tmp_path / "b")
    assert not any(k.endswith("running_mean") for k in switched.state)
    assert switched.model_config["context"]["network"]["norm_statistics"] == "scene"
    with torch.no_grad():
        inferred = from_bundle(tmp_path / "b").encode(scene)
    torch.testing.assert_close(inferred.features, in_training.features)
    torch.testing.assert_close(inferred.context, in_training.context)
    assert not torch.allclose(with_averages.features, in_training.features, atol=1e-3)


@pytest.mark.parametrize("task,batch_size,reason", [("frozen", 1, "frozen encoder"), ("context", 1, "frozen encoder"),
                                                    ("joint", 4, "batches of 4 scenes")])
def test_bundles_that_would_change_are_refused(task, batch_size, reason):
    _, bundle = trained_bundle(task, batch_size)
    with pytest.raises(BundleError, match=reason):
        to_scene_statistics(bundle, source="run/bundle")
