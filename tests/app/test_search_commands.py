"""search-bits as a user runs it: a tiny trained bundle, a search that fine-tunes and scores for real, resumes, and
whose choice `compress --layer-bits` applies."""
from __future__ import annotations

import json

import pytest
from test_cli import run
from test_compress_commands import BUNDLE, flat


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    from nir_core.models.point_udf import PointUDFConfig
    from nir_core.train import TrainConfig, train

    model = {"encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4,
                         "out_features": 8},
             "udf": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}}}
    cfg = TrainConfig(task="geometry", model=PointUDFConfig.from_json(model), steps=2, batch_size=1,
                      out=str(tmp_path_factory.mktemp("run")), val_every=0)
    cfg.data.count, cfg.data.val_count = 2, 1
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 256, 512
    return train(cfg, progress=False)


@pytest.mark.slow
def test_a_search_fine_tunes_scores_resumes_and_its_choice_compresses(capsys, tmp_path, tiny_bundle):
    result = tmp_path / "bits.json"
    args = ["search-bits", str(tiny_bundle), "-o", str(result), "--degree", "1", "--fidelities", "0,1",
            "--steps-per-fidelity", "2", "--budget", "7", "--initial", "3", "--initial-target", "1", "--rooms", "1",
            "--resolution", "16", "--metric", "cd_l1"]
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    record = json.loads(result.read_text())
    assert 3 < len(record["points"]) and sum(p["cost"] for p in record["points"]) == 7  # spent to the last unit
    assert {p["fidelity"] for p in record["points"]} == {0, 1}
    best = record["result"]["chosen"][0]
    in_encoder = {n: ".encoder." in f".{n}" for n in best["layer_bits"]}  # the default --layers: *encoder.*
    assert [b for n, b in best["layer_bits"].items() if in_encoder[n]] == best["bits"]
    assert all(b == 0 for n, b in best["layer_bits"].items() if not in_encoder[n])
    assert "predicted cd_l1" in stdout
    # the same command again: nothing left to evaluate, the same points
    code, _, err = run(capsys, *args)
    assert code == 0, err
    record, points = json.loads(result.read_text()), record["points"]
    assert record["points"] == points
    best = record["result"]["chosen"][0]  # (a model this small may score every schedule alike: ties rank anyhow)
    nirz = tmp_path / "found.nirz"
    code, stdout, err = run(capsys, "compress", str(tiny_bundle), "-o", str(nirz), "--layer-bits", str(result))
    assert code == 0, err
    from compress import codec

    _, _, quantised = codec.decode(nirz)
    expected = {f"{n}.weight": b for n, b in best["layer_bits"].items() if b}
    assert {n: q.bits for n, q in quantised.items()} == expected


def test_search_errors_name_the_problem(capsys, tmp_path):
    code, _, err = run(capsys, "search-bits", str(BUNDLE), "-o", str(tmp_path / "x.json"), "--layers", "nothing.*")
    assert code == 2 and "no quantisable layer matches" in flat(err)
    code, _, err = run(capsys, "search-bits", str(BUNDLE), "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "write a .json file" in flat(err)
    code, _, err = run(capsys, "compress", str(BUNDLE), "-o", str(tmp_path / "x.nirz"), "--layer-bits",
                       str(tmp_path / "missing.json"))
    assert code == 2 and "not a finished bit search" in flat(err)
