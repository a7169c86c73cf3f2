"""The training engine end to end on tiny configs: bundles, exact resume, tasks, errors, DDP on 2 CPU processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from nir_core.bundle import BundleError, ModelBundle
from nir_core.models.ndf import NDFConfig
from nir_core.models.point_udf import PointUDFConfig
from nir_core.models.registry import from_bundle
from nir_core.train import TrainConfig, train
from nir_core.train.config import apply_overrides

TINY_MODEL = {
    "encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
    "udf": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "semantic": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "num_classes": 20,
}


def tiny(tmp_path, name="run", **over) -> TrainConfig:
    # With init_from, the model is the bundle's own (model None).
    model = None if "init_from" in over else PointUDFConfig.from_json(TINY_MODEL)
    cfg = TrainConfig(model=model, steps=4, batch_size=1, out=str(tmp_path / name), checkpoint_every=2, val_every=0)
    cfg.data.count, cfg.data.val_count = 3, 1
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 256, 512
    for key, value in over.items():
        setattr(cfg, key, value)
    return cfg


@pytest.mark.slow
def test_geometry_run_writes_a_bundle_that_loads(tmp_path):
    bundle_dir = train(tiny(tmp_path), progress=False)
    model = from_bundle(bundle_dir)
    bundle = ModelBundle.load(bundle_dir, architecture="point_udf")
    assert bundle.training["steps"] == 4 and "val_udf_l1" in bundle.training["final"]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["loss"] == r["loss"] for r in log)
    points = torch.rand(300, 3) - 0.5
    d = model.field(points).udf(torch.rand(50, 3) - 0.5)
    assert d.shape == (50,) and (d >= 0).all()


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    train(tiny(tmp_path, "a"), progress=False)
    straight = json.loads((tmp_path / "a" / "rank0.json").read_text())
    train(tiny(tmp_path, "b", steps=2), progress=False)  # interrupted after its step-2 checkpoint
    train(tiny(tmp_path, "b"), progress=False)  # the same command again: resumes at step 2
    resumed = json.loads((tmp_path / "b" / "rank0.json").read_text())
    assert resumed["step"] == 4 and resumed["checksum"] == straight["checksum"]
    # The training time adds up over both processes: the bundle's total covers the first leg's steps too.
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    seconds = [r["elapsed_s"] for r in log]
    assert 0 < seconds[0] < seconds[1] < seconds[2] < seconds[3]  # steps 3 and 4 ran in the second process
    assert ModelBundle.load(tmp_path / "b" / "bundle").training["seconds"] == seconds[3]


@pytest.mark.slow
def test_frozen_task_keeps_the_encoder_and_trains_the_semantic_head(tmp_path):
    geometry = train(tiny(tmp_path, "geo"), progress=False)
    before = ModelBundle.load(geometry).state
    frozen = train(tiny(tmp_path, "frozen", task="frozen", init_from=str(geometry)), progress=False)
    after = ModelBundle.load(frozen).state
    enc = [k for k in before if k.startswith("parts.encoder.")]
    sem = [k for k in before if k.startswith("parts.semantic.")]
    assert enc and sem
    assert all(torch.equal(before[k], after[k]) for k in enc)
    assert any(not torch.equal(before[k], after[k]) for k in sem)


@pytest.mark.slow
def test_joint_task_learns_uncertainty_weights(tmp_path):
    train(tiny(tmp_path, "joint", task="joint"), progress=False)
    log = [json.loads(line) for line in (tmp_path / "joint" / "log.jsonl").read_text().splitlines()]
    assert all("ce" in r and "udf_l1" in r for r in log)


def test_bad_settings_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        train(tiny(tmp_path, task="nope"), progress=False)
    with pytest.raises(ValueError, match="needs init_from"):
        train(tiny(tmp_path, task="frozen"), progress=False)
    with pytest.raises(BundleError, match="no such bundle"):
        train(tiny(tmp_path, task="frozen", init_from=str(tmp_path / "missing")), progress=False)
    with pytest.raises(ValueError, match="no such setting"):
        apply_overrides(TrainConfig(), ["stepz=3"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    cfg = tiny(tmp_path, "ddp", steps=2)
    config = tmp_path / "ddp.json"
    config.write_text(json.dumps(cfg.to_json()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29517", "-m", "nir_core.train", str(config)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["step"] == 2
    assert ranks[0]["checksum"] == ranks[1]["checksum"]


def test_ndf_architecture_trains_through_the_same_engine(tmp_path):
    cfg = tiny(tmp_path, "ndf", architecture="ndf", steps=2)
    cfg.model = NDFConfig(resolution=16, channels=(4, 8, 8), stem_channels=4, hidden=(16, 16))
    bundle = train(cfg, progress=False)
    model = from_bundle(bundle)
    assert model.field(torch.rand(100, 3) - 0.5).udf(torch.rand(10, 3) - 0.5).shape == (10,)
    # The bundle holds the whole config, not only the run's overrides, so a later change of a default cannot
    # change what it loads as.
    saved = ModelBundle.load(bundle).model_config
    assert saved == model.config_json() and saved["input_grid"] == "occupancy" and saved["resolution"] == 16



@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_and_finishes(tmp_path):
    import signal
    import time

    steps = 12
    train(tiny(tmp_path, "straight", steps=steps), progress=False)
    straight = json.loads((tmp_path / "straight" / "rank0.json").read_text())
    cfg = tiny(tmp_path, "killed", steps=steps)
    config = tmp_path / "killed.json"
    config.write_text(json.dumps(cfg.to_json()))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "nir_core.train", str(config)]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill mid-run, after a checkpoint and a step past it
        if log.exists() and len(log.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(log.read_text().splitlines())
    assert 0 < done < steps, f"the run was not killed mid-way ({done} steps logged)"
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    resumed = json.loads((tmp_path / "killed" / "rank0.json").read_text())
    assert resumed["step"] == steps and resumed["checksum"] == straight["checksum"]
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == list(range(1, steps + 1))


def test_learning_rate_is_constant_then_decays_by_cosine():
    cfg = TrainConfig(steps=100, lr=1e-3, lr_decay_start=60, lr_min=1e-5)
    assert cfg.lr_at(0) == cfg.lr_at(59) == 1e-3
    assert cfg.lr_at(80) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cfg.lr_at(100) == pytest.approx(1e-5)
    assert all(cfg.lr_at(s) >= cfg.lr_at(s + 1) for s in range(100))
    assert TrainConfig(steps=100).lr_at(99) == 1e-3


@pytest.mark.slow
def test_context_task_trains_only_the_contextualiser_and_the_semantic_head(tmp_path):
    geometry = train(tiny(tmp_path, "geo"), progress=False)
    before = ModelBundle.load(geometry).state
    cfg = tiny(tmp_path, "context", task="context", init_from=str(geometry))
    cfg.model_overrides = {"context": {"channels": [8, 16], "blocks": [1, 1], "context_features": 2,
                                       "network": {"k": 8, "k_first": 4, "share_planes": 4}}}
    bundle = ModelBundle.load(train(cfg, progress=False))
    after = bundle.state
    assert bundle.model_config["context"]["context_features"] == 2 and bundle.label_set["name"] == "scannet20"
    frozen = [k for k in before if k.startswith(("parts.encoder.", "parts.udf."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(k.startswith("parts.context.") for k in after)
    log = [json.loads(line) for line in (tmp_path / "context" / "log.jsonl").read_text().splitlines()]
    assert all("ce" in r and "udf_l1" not in r for r in log)
    model = from_bundle(bundle)
    field = model.field(torch.rand(300, 3) - 0.5)
    assert field.semantics(torch.rand(5, 3) - 0.5).shape == (5, 20)


@pytest.mark.slow
def test_context_task_without_a_contextualiser_fails_clearly(tmp_path):
    geometry = train(tiny(tmp_path, "geo"), progress=False)
    with pytest.raises(ValueError, match="needs a model with a contextualiser"):
        train(tiny(tmp_path, "ctx", task="context", init_from=str(geometry)), progress=False)


@pytest.mark.slow
def test_object_tasks_for_the_hold_out_experiments(tmp_path):
    """Generated objects carry a class and material-part labels; joint-classify trains the classifier with the
    encoder, classify and frozen train one head on a frozen encoder (thesis ch. 5)."""
    from nir_core.data.synthetic.objects import MATERIAL_PARTS, OBJECT_CLASSES
    from nir_core.train.data import SyntheticObjectSource, UDFSceneDataset

    source = SyntheticObjectSource(30, seed=5)
    assert [source.class_of(i) for i in (0, 14, 15)] == [0, 14, 0]
    example = UDFSceneDataset(source)[16]
    assert int(example["class"]) == 1 and example["name"].startswith(OBJECT_CLASSES[1])
    labels = example["labels"][example["udf"] < 0.02]
    assert labels.max() < len(MATERIAL_PARTS) and (labels >= 0).float().mean() > 0.9

    def objects(name, task, **over):
        cfg = tiny(tmp_path, name, task=task, **over)
        cfg.data.source, cfg.data.count, cfg.data.val_count = "objects", 15, 15
        if cfg.model is not None:  # with init_from, the bundle's model, classes included
            cfg.model = PointUDFConfig.from_json({**TINY_MODEL, "num_classes": 8, "object_classes": 15})
        return cfg

    joint = train(objects("jc", "joint-classify"), progress=False)
    info = ModelBundle.load(joint)
    assert info.extra["object_classes"] == list(OBJECT_CLASSES) and info.label_set is None
    assert 0.0 <= info.training["final"]["val_accuracy"] <= 1.0
    head = train(objects("cls", "classify", init_from=str(joint)), progress=False)
    before, after = ModelBundle.load(joint).state, ModelBundle.load(head).state
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("parts.encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("parts.classifier."))
    seg = train(objects("seg", "frozen", init_from=str(joint)), progress=False)
    info = ModelBundle.load(seg)
    assert info.label_set["name"] == "materials8" and "val_miou_near" in info.training["final"]


@pytest.mark.slow
def test_whole_task_trains_every_part_each_by_its_own_loss(tmp_path):
    """Fine-tuning a labelled contextualiser bundle as a whole: every part moves, but the encoder's gradient is
    the UDF loss's alone (the semantic loss stops at its input encodings, as in the context recipe)."""
    from nir_core.models.decoders import clamped_l1
    from nir_core.train.data import SyntheticRoomSource, UDFSceneDataset
    from nir_core.train.engine import _collate
    from nir_core.train.tasks import TASKS

    geometry = train(tiny(tmp_path, "geo", steps=2), progress=False)
    cfg = tiny(tmp_path, "context", task="context", init_from=str(geometry), steps=2)
    cfg.model_overrides = {"context": {"channels": [8, 16], "blocks": [1, 1], "context_features": 2,
                                       "network": {"k": 8, "k_first": 4, "share_planes": 4}}}
    context = train(cfg, progress=False)
    whole = train(tiny(tmp_path, "whole", task="whole", init_from=str(context), steps=2), progress=False)
    before, after = ModelBundle.load(context).state, ModelBundle.load(whole).state
    for part in ("encoder", "udf", "context", "semantic"):
        keys = [k for k in before if k.startswith(f"parts.{part}.")]
        assert keys and any(not torch.equal(before[k], after[k]) for k in keys), part
    log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert all("udf_l1" in r and "ce" in r for r in log)

    model = from_bundle(context)
    task = TASKS["whole"](model)
    batch = _collate([UDFSceneDataset(SyntheticRoomSource(1, 0), cfg.data.sampling, seed=3)[0]])
    encoder = list(model.parts["encoder"].parameters())
    torch.manual_seed(0)
    loss, logs = task(batch)
    assert float(logs["ce"]) > 0
    from_whole = torch.autograd.grad(loss, encoder, allow_unused=True)
    torch.manual_seed(0)
    udf = clamped_l1(model.udf(model.encode_geometry(batch["points"]), batch["queries"]), batch["udf"])
    from_udf = torch.autograd.grad(udf, encoder, allow_unused=True)
    assert all((a is None and b is None) or torch.allclose(a, b) for a, b in zip(from_whole, from_udf))
