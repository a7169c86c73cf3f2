"""ModelBundle: round trip, atomic replacement, and one clear error per kind of bad bundle."""
from __future__ import annotations

import json

import pytest
import torch

from nir_core.bundle import BundleError, ModelBundle
from nir_core.data.labels import SCANNET20


def _bundle() -> ModelBundle:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    return ModelBundle("toy", {"hidden": 8}, net.state_dict(), label_set=SCANNET20.to_json(),
                       training={"task": "geometry", "steps": 3})


def test_round_trip(tmp_path):
    b = _bundle()
    path = b.save(tmp_path / "toy")
    back = ModelBundle.load(path, architecture="toy")
    assert back.model_config == {"hidden": 8} and back.training["steps"] == 3
    assert back.label_set["names"][0] == "wall"
    for k, v in b.state.items():
        assert torch.equal(back.state[k], v)
    assert b.size_bytes(path) == sum(p.stat().st_size for p in path.iterdir())


def test_saving_over_an_existing_bundle_replaces_it(tmp_path):
    b = _bundle()
    b.save(tmp_path / "toy")
    b.training["steps"] = 7
    b.save(tmp_path / "toy")
    assert ModelBundle.load(tmp_path / "toy").training["steps"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]  # no temp folders left behind


def test_missing_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        ModelBundle.load(tmp_path / "nope")


def test_wrong_architecture(tmp_path):
    path = _bundle().save(tmp_path / "toy")
    with pytest.raises(BundleError, match="holds a 'toy' model, not 'point_transformer_udf'"):
        ModelBundle.load(path, architecture="point_transformer_udf")


def test_missing_weights_and_bad_config(tmp_path):
    path = _bundle().save(tmp_path / "toy")
    (path / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="model.safetensors is missing"):
        ModelBundle.load(path)
    path = _bundle().save(tmp_path / "toy2")
    (path / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        ModelBundle.load(path)


def test_corrupt_weights_and_future_version(tmp_path):
    path = _bundle().save(tmp_path / "toy")
    (path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(BundleError, match="unreadable weights"):
        ModelBundle.load(path)
    path = _bundle().save(tmp_path / "toy2")
    cfg = json.loads((path / "config.json").read_text())
    cfg["version"] = 99
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="newer"):
        ModelBundle.load(path)


def test_a_file_is_not_a_bundle(tmp_path):
    f = tmp_path / "weights.pt"
    f.write_bytes(b"PK")
    with pytest.raises(BundleError, match="is a folder"):
        ModelBundle.load(f)
