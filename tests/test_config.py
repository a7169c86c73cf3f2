"""The config base: every preset builds and round-trips, bad settings name their dotted path, docs come from the
attribute docstrings, and old JSON (bundles, recorded runs) still loads."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO

from nir_core.bundle import ModelBundle
from nir_core.config import Config, apply_overrides, config_fields, field_docs
from nir_core.extract.udf_mc import UDFExtractConfig
from nir_core.models.decoders import SemanticDecoderConfig
from nir_core.models.ndf import NDFConfig
from nir_core.models.point_transformer import PointTransformerConfig
from nir_core.models.point_udf import PointUDFConfig
from nir_core.models.registry import build_model, config_class
from nir_core.train import TrainConfig
from nir_core.train.engine import model_config
from nir_core.train.presets import PRESETS

MODELS = REPO / "assets" / "models"


def json_round_trip(cfg: Config) -> Config:
    return type(cfg).from_json(json.loads(json.dumps(cfg.to_json())))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_its_model_and_round_trips(name):
    cfg = PRESETS[name]()
    assert json_round_trip(cfg) == cfg
    if cfg.init_from:
        assert Path(cfg.init_from).is_dir(), f"{name}: its bundle {cfg.init_from} does not ship"
    architecture = model_config(cfg)  # init_from's config merged with the preset's changes, as the run does
    assert isinstance(architecture, config_class(cfg.architecture))
    assert json_round_trip(architecture) == architecture
    model = build_model(cfg.architecture, architecture)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert type(architecture).from_json(model.config_json()) == architecture


@pytest.mark.parametrize("name", ["pt-geometry", "pt-context", "ndf-geometry-64", "ndf-geometry"])
def test_presets_of_the_shipped_bundles_build_their_architecture(name):
    """The preset that trained a shipped bundle still describes its architecture: its weights load strictly."""
    cfg, bundle = PRESETS[name](), ModelBundle.load(MODELS / name)
    architecture = model_config(cfg)
    assert architecture == config_class(bundle.architecture).from_json(bundle.model_config)
    build_model(cfg.architecture, architecture).load_state_dict(bundle.state)


def test_init_from_presets_change_only_the_settings_they_name():
    ndf = model_config(PRESETS["ndf-geometry"]())
    coarse = NDFConfig.from_json(ModelBundle.load(MODELS / "ndf-geometry-64").model_config)
    assert ndf.resolution == 128 and ndf.input_grid == coarse.input_grid == "occupancy+offset"
    context = model_config(PRESETS["pt-context"]())
    geometry = PointUDFConfig.from_json(ModelBundle.load(MODELS / "pt-geometry").model_config)
    assert context.encoder == geometry.encoder and context.context is not None and geometry.context is None
    # The contextualiser follows the bundle's encoder ("scene"), not the default encoder's "batch".
    assert context.context.network["norm_statistics"] == "scene"


def test_every_shipped_bundle_and_its_recorded_run_load():
    for bundle_dir in sorted(p for p in MODELS.iterdir() if (p / "config.json").exists()):
        bundle = ModelBundle.load(bundle_dir)
        cfg = config_class(bundle.architecture).from_json(bundle.model_config)
        assert json_round_trip(cfg) == cfg
        run = TrainConfig.from_json(bundle.training["config"])
        assert json_round_trip(run) == run
        if run.init_from and "model_overrides" not in bundle.training["config"]:
            # Recorded before model_overrides existed: its model was the changes to that bundle.
            assert run.model is None and run.model_overrides == bundle.training["config"]["model"]


def test_overrides_reach_typed_and_partial_model_settings():
    cfg = apply_overrides(PRESETS["pt-geometry"](), ["steps=50", "model.encoder.channels=[16,32]",
                                                     "model.encoder.blocks=[1,1]", "data.sampling.sigmas=[0.1,0.01]",
                                                     "data.sampling.ratios=[1,1]"])
    assert cfg.steps == 50 and cfg.model.encoder.channels == (16, 32) and cfg.data.sampling.ratios == (1.0, 1.0)
    assert cfg.model.encoder.norm_statistics == "scene"  # the preset's other settings stay
    # With init_from and no model, the bundle's config is only known when the run starts: the changes are kept.
    context = apply_overrides(PRESETS["pt-context"](), ["model.context.context_features=2"])
    assert context.model is None and context.model_overrides == {"context": {"context_features": 2}}
    assert model_config(context).semantic.context_features == 2
    ndf = apply_overrides(TrainConfig(architecture="ndf"), ["model.channels=[16,32]", "model.resolution=16"])
    assert isinstance(ndf.model, NDFConfig) and ndf.model.channels == (16, 32)
    # A setting the others decide (the input grid's channels) follows a change of them.
    coarse = apply_overrides(PRESETS["ndf-geometry-64"](), ["model.input_grid=occupancy"])
    assert coarse.model.input_grid == "occupancy" and coarse.model.in_channels == 1


def test_unknown_keys_name_their_dotted_path():
    with pytest.raises(ValueError, match=r"unknown setting 'model\.encoder\.chanels'"):
        TrainConfig.from_json({"model": {"encoder": {"chanels": [16, 32]}}})
    with pytest.raises(ValueError, match=r"unknown setting 'data\.sampling\.num_quries'"):
        TrainConfig.from_json({"data": {"sampling": {"num_quries": 5}}})
    with pytest.raises(ValueError, match=r"unknown setting 'model_overrides\.context\.kindd'"):
        TrainConfig.from_json({"init_from": "b", "model_overrides": {"context": {"kindd": "mlp"}}})
    with pytest.raises(ValueError, match=r"override 'model\.encoder\.chanels': no such setting"):
        apply_overrides(PRESETS["pt-geometry"](), ["model.encoder.chanels=[16,32]"])
    with pytest.raises(ValueError, match=r"override 'stepz': no such setting"):
        apply_overrides(TrainConfig(), ["stepz=3"])
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        apply_overrides(TrainConfig(), ["steps"])


def test_wrong_types_fail_clearly():
    with pytest.raises(ValueError, match=r"setting 'steps': expected int, got str 'many'"):
        TrainConfig.from_json({"steps": "many"})
    with pytest.raises(ValueError, match=r"setting 'model\.encoder\.channels\[1\]': expected int, got str"):
        TrainConfig.from_json({"model": {"encoder": {"channels": [16, "x"], "blocks": [1, 1]}}})
    with pytest.raises(ValueError, match=r"setting 'resume': expected bool"):
        TrainConfig.from_json({"resume": 1})
    with pytest.raises(ValueError, match=r"setting 'model\.context': expected ContextualiserConfig, got int 3"):
        TrainConfig.from_json({"model": {"context": 3}})
    with pytest.raises(ValueError, match=r"setting 'bounds': expected 2 values, got 3"):
        UDFExtractConfig.from_json({"bounds": [0, 1, 2]})
    # An int where a float is expected is fine; the section's own checks still run, under its path.
    assert TrainConfig.from_json({"lr": 1}).lr == 1.0
    with pytest.raises(ValueError, match=r"model\.encoder: .*share_planes"):
        TrainConfig.from_json({"model": {"encoder": {"channels": [30], "blocks": [1]}}})
    with pytest.raises(ValueError, match="architecture 'ndf' takes a NDFConfig"):
        TrainConfig(architecture="ndf", model=PointUDFConfig())


def test_field_docs_and_fields_come_from_the_attribute_docstrings():
    docs = field_docs(PointTransformerConfig)
    assert docs["channels"].startswith("Feature channels per scale, finest first")
    # Inherited fields keep their base's docstring; a redefined field has its own.
    semantic = field_docs(SemanticDecoderConfig)
    assert semantic["chunk_size"].startswith("Queries decoded per step")
    assert semantic["hidden"].startswith("Hidden widths of the head MLP after pooling (RangeUDF's semantic head")
    steps = {f.name: f for f in config_fields(TrainConfig)}["steps"]
    assert steps.default == 2000 and steps.type is int and steps.doc == "Optimiser steps."


@dataclass
class _Paths(Config):
    where: Path = Path("out")
    """A folder."""
    names: list[str] = field(default_factory=list)
    """Some names."""
    section: PointTransformerConfig | None = None
    """An optional nested config."""
    free: dict = field(default_factory=dict)
    """Free-form settings."""


def test_paths_lists_optional_sections_and_free_dicts_round_trip():
    cfg = _Paths(Path("a/b"), ["x", "y"], PointTransformerConfig(k=8), {"any": {"thing": [1, 2]}})
    assert cfg.to_json() == {"where": "a/b", "names": ["x", "y"], "section": cfg.section.to_json(),
                             "free": {"any": {"thing": [1, 2]}}}
    assert json_round_trip(cfg) == cfg and json_round_trip(_Paths()) == _Paths()
    changed = apply_overrides(_Paths(), ["section.k=4", "free.a.b=1", "where=c"])
    assert changed.section == PointTransformerConfig(k=4) and changed.free == {"a": {"b": 1}}
    assert changed.where == Path("c")
    with pytest.raises(ValueError, match="'names' is not a section"):
        apply_overrides(_Paths(), ["names.x=1"])
