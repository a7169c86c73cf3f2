"""Colour as an optional input of the contextualiser: the channels, the training examples, the start from a
colourless bundle, and the pipeline's colour modes with their errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file

from nir_core.data.io import load
from nir_core.errors import NIRStudioError
from nir_core.models.contextualiser import NO_COLOUR, colour_channels
from nir_core.models.point_udf import PointUDFConfig, PointUDFModel
from nir_core.pipeline import Pipeline, PipelineConfig
from nir_core.train.augment import AugmentConfig, augment_colours
from nir_core.train.data import FileSource, SceneSamplingConfig, SyntheticRoomSource, UDFSceneDataset
from nir_core.train.engine import _widened_inputs

TINY = {"encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
        "udf": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}}, "num_classes": 3,
        "context": {"channels": [8, 8], "blocks": [1, 1], "context_features": 2,
                    "network": {"k": 8, "k_first": 4, "share_planes": 4}}}


def tiny_model(colour: bool) -> PointUDFModel:
    torch.manual_seed(0)
    cfg = {**TINY, "context": {**TINY["context"], "colour": colour}}
    return PointUDFModel(PointUDFConfig.from_json(cfg)).eval()


def test_colour_channels_centre_known_colours_and_flag_unknown_ones():
    like = torch.zeros(1, 3, 5)
    colours = torch.tensor([[[1.0, 0.5, 0.0], [NO_COLOUR] * 3, [0.2, 0.2, 0.2]]])
    channels = colour_channels(colours, like)
    assert torch.allclose(channels[0, 0], torch.tensor([0.5, 0.0, -0.5, 1.0]))
    assert torch.equal(channels[0, 1], torch.zeros(4))
    assert torch.equal(colour_channels(None, like), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match="colours must be"):
        colour_channels(torch.zeros(1, 2, 3), like)


def test_a_model_that_reads_colour_labels_with_and_without_it():
    model = tiny_model(colour=True)
    assert model.reads_colour and not tiny_model(colour=False).reads_colour
    points, queries = torch.rand(1, 200, 3) - 0.5, torch.rand(1, 50, 3) - 0.5
    with torch.no_grad():
        plain = model.semantics(model.encode(points), queries)
        unknown = model.semantics(model.encode(points, torch.full((1, 200, 3), NO_COLOUR)), queries)
        coloured = model.semantics(model.encode(points, torch.rand(1, 200, 3)), queries)
    assert torch.equal(plain, unknown)  # no colours and unknown colours are one input
    assert not torch.allclose(plain, coloured)


def test_a_colour_model_started_from_a_colourless_one_predicts_as_it_did():
    before, after = tiny_model(colour=False), tiny_model(colour=True)
    own = after.state_dict()
    loaded = {k: v for k, v in before.state_dict().items() if own[k].shape == v.shape}
    widened = _widened_inputs(own, before.state_dict())
    assert list(widened) == ["parts.context.net.stem.linear.weight"]
    after.load_state_dict({**loaded, **widened})
    points, queries = torch.rand(1, 200, 3) - 0.5, torch.rand(1, 50, 3) - 0.5
    with torch.no_grad():
        expected = before.semantics(before.encode(points), queries)
        got = after.semantics(after.encode(points, torch.rand(1, 200, 3)), queries)
    assert torch.allclose(expected, got, atol=1e-6)


def test_examples_carry_the_scans_colours_the_captures_colours_or_none():
    path = shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")
    cfg = SceneSamplingConfig(num_input=500, num_queries=100, colour=True)
    example = UDFSceneDataset(FileSource([path]), cfg)[0]
    unit = load(path).normalised()
    assert example["colours"].shape == (500, 3)
    # The input points are the scan's own, so their colours are exactly the scan's.
    assert np.allclose(example["colours"].numpy(), unit.colours_at(example["points"].numpy()))
    scanned = UDFSceneDataset(SyntheticRoomSource(1), SceneSamplingConfig(num_input=500, num_queries=100, colour=True,
                                                                           scanned_input=1.0))[0]
    assert ((scanned["colours"] >= 0) & (scanned["colours"] <= 1)).all() and scanned["colours"].std() > 0
    assert "colours" not in UDFSceneDataset(FileSource([path]), SceneSamplingConfig(num_input=500, num_queries=100))[0]


def test_colour_augmentations_change_the_balance_or_withhold_the_colours():
    rng = np.random.default_rng(0)
    colours = np.array([[0.5, 0.5, 0.5], [NO_COLOUR] * 3], np.float32)
    jittered = augment_colours(colours, AugmentConfig(colour_jitter=0.3), rng)
    assert not np.allclose(jittered[0], colours[0]) and (jittered[1] == NO_COLOUR).all()
    assert (augment_colours(colours, AugmentConfig(colour_drop=1.0), rng) == NO_COLOUR).all()


def test_colour_on_needs_a_coloured_scan_and_a_model_that_reads_colour(tmp_path):
    path = shared_file("classic_meshes", "cow.obj")  # a mesh without colours
    cfg = dict(resolution=16, num_input=300, labels=False, score=False)
    with pytest.raises(NIRStudioError, match="cow.obj: has no colours"):
        Pipeline(PipelineConfig(**cfg, colour="on"), tiny_model(colour=True)).run(load(path))
    with pytest.raises(NIRStudioError, match="reads no colour"):
        Pipeline(PipelineConfig(**cfg, colour="on"), tiny_model(colour=False))
    with pytest.raises(ValueError, match="unknown colour mode"):
        PipelineConfig(colour="rgb")
    room = load(shared_file("scannet_votenet_50k", "scene0004_00_vert.npy"))
    assert Pipeline(PipelineConfig(**cfg), tiny_model(colour=True)).run(room).report["colour"] is True
    assert Pipeline(PipelineConfig(**cfg, colour="off"), tiny_model(colour=True)).run(room).report["colour"] is False
