"""compress / inspect as a user runs them, and a .nirz model through the batch reconstruct."""
from __future__ import annotations

import json

import pytest
from conftest import REPO
from test_cli import run

BUNDLE = REPO / "assets" / "models" / "pt-geometry"
SAMPLE = REPO / "assets" / "samples" / "room_00001_scan.ply"


@pytest.mark.slow
def test_compress_inspect_and_reconstruct_with_the_file(capsys, tmp_path):
    nirz = tmp_path / "geo3.nirz"
    code, stdout, err = run(capsys, "compress", str(BUNDLE), "-o", str(nirz), "--quantiser", "kmeans", "--bits", "3")
    assert code == 0, err
    size = nirz.stat().st_size
    assert f"{size:,} bytes on disk" in stdout
    assert size < 0.2 * sum(f.stat().st_size for f in BUNDLE.iterdir())
    code, stdout, err = run(capsys, "inspect", str(nirz))
    assert code == 0, err
    assert f"file on disk {size:,} bytes" in stdout and "kmeans 3-bit" in stdout
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "reconstruct", str(SAMPLE), "-o", str(out), "--model", str(nirz),
                            "--resolution", "32", "--no-labels", "--format", "ply")
    assert code == 0, err
    report = json.loads((out / "room_00001_scan.json").read_text())
    assert report["model_bytes"] == size and report["mesh_unit_cube"]["faces"] > 100


def flat(text: str) -> str:
    """The message without the usage box's borders and line breaks."""
    return " ".join(text.replace("│", " ").split())


def test_compress_and_inspect_errors(capsys, tmp_path):
    code, _, err = run(capsys, "compress", str(BUNDLE), "-o", str(tmp_path / "x.nirz"), "--bits", "9")
    assert code == 2 and "bits must be from 1 to 8, got 9" in flat(err)
    code, _, err = run(capsys, "compress", str(BUNDLE), "-o", str(tmp_path / "x.zip"))
    assert code == 2 and "write a .nirz file" in flat(err)
    code, _, err = run(capsys, "compress", str(tmp_path / "nope"), "-o", str(tmp_path / "x.nirz"))
    assert code == 2 and "no such bundle" in err
    bad = tmp_path / "bad.nirz"
    bad.write_bytes(b"NIRZ\x01\x00")
    code, _, err = run(capsys, "inspect", str(bad))
    assert code == 2 and "bad.nirz" in err and "too short" in err
    assert not (tmp_path / "x.nirz").exists()


@pytest.mark.slow
def test_quantisation_aware_finetuning_through_the_engine(capsys, tmp_path):
    from nir_core.models.point_udf import PointUDFConfig
    from nir_core.train import TrainConfig, train

    model = {"encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4,
                         "out_features": 8},
             "udf": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}}}
    cfg = TrainConfig(task="geometry", model=PointUDFConfig.from_json(model), steps=2, batch_size=1,
                      out=str(tmp_path / "run"), val_every=0)
    cfg.data.count, cfg.data.val_count = 2, 1
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 256, 512
    bundle = train(cfg, progress=False)
    nirz, work = tmp_path / "qat.nirz", tmp_path / "qat-run"
    code, stdout, err = run(capsys, "compress", str(bundle), "-o", str(nirz), "--bits", "2", "--finetune-steps", "4",
                            "--repartition-every", "2", "--work-dir", str(work))
    assert code == 0, err
    assert "fine-tuned 4 steps" in stdout
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert [r["step"] for r in log if "repartition_s" in r] == [2, 4] and all("tlqe" in r for r in log if r["step"] % 2 == 0)
    from compress import codec
    from nir_core.models.registry import from_bundle

    header, state, quantised = codec.decode(nirz)
    assert header["compression"]["finetune"]["steps"] == 4 and len(quantised) > 5
    assert header["compression"]["finetune"]["task"] == "whole"  # every quantised part trains by default
    assert all(len(q.codebook) <= 4 for q in quantised.values())
    from_bundle(codec.read(nirz))  # loads into the model
    code, _, err = run(capsys, "compress", str(bundle), "-o", str(tmp_path / "x.nirz"), "--finetune-steps", "2",
                       "--finetune-task", "nope", "--work-dir", str(tmp_path / "x"))
    assert code != 0 and "unknown fine-tuning task 'nope'" in err and not (tmp_path / "x.nirz").exists()
