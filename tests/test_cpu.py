"""Process-wide state: the CPU-tuning setting, and library code (FPS, model forwards, a training run) leaving torch's
thread count and the global random generators as it found them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nir_core.ops.neighbours as neighbours_mod
from app import cli
from nir_core import cpu
from nir_core.models.ndf import NDFConfig, NDFModel
from nir_core.models.point_udf import PointUDFConfig, PointUDFModel
from nir_core.ops import farthest_point_sampling
from nir_core.ops._backend import quickfps_module
from nir_core.train import TrainConfig, TrainHooks, train

TINY_POINT_UDF = {
    "encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
    "udf": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "semantic": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "num_classes": 20,
}

SETTERS = [(torch, "set_num_threads"), (torch, "set_num_interop_threads"), (torch, "manual_seed"),
           (torch.random, "manual_seed"), (torch, "seed"), (torch, "set_default_dtype"), (np.random, "seed")]
"""Functions that change process-wide state; library code calls none of them."""


@pytest.fixture
def two_threads():
    """Two intra-op threads for the test (the old FPS changed the count only when it was above one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def setter_calls(monkeypatch, two_threads):
    """Records every call of a process-wide setter (and still makes it)."""
    calls = []
    for owner, name in SETTERS:
        real = getattr(owner, name)

        def spy(*args, _real=real, _name=f"{owner.__name__}.{name}", **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return calls


def _state() -> tuple:
    """Everything a library call must leave unchanged: torch's thread count and both global generators."""
    np_state = np.random.get_state()
    return torch.get_num_threads(), torch.random.get_rng_state(), np_state[1].copy(), np_state[2:]


def _assert_same_state(before: tuple, after: tuple) -> None:
    assert after[0] == before[0], "torch's thread count changed"
    assert torch.equal(after[1], before[1]), "torch's global generator changed"
    assert np.array_equal(after[2], before[2]) and after[3] == before[3], "numpy's global generator changed"


def _cloud(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, n, 3, generator=torch.Generator().manual_seed(seed)) - 0.5


@pytest.mark.parametrize("engine", ["torch", "quickfps"])
def test_fps_leaves_threads_and_generators_alone(engine, setter_calls, monkeypatch):
    if engine == "quickfps" and quickfps_module() is None:
        pytest.skip("torch_quickfps is not installed")
    monkeypatch.setattr(neighbours_mod, "fps_engine", lambda device: engine)
    points = _cloud(5000)
    before = _state()
    first = farthest_point_sampling(points, 500)
    random_start = farthest_point_sampling(points, 50, start="random", generator=torch.Generator().manual_seed(3))
    _assert_same_state(before, _state())
    assert setter_calls == []
    assert first.shape == (1, 500) and first.unique().numel() == 500 and random_start.shape == (1, 50)


def test_model_forwards_leave_threads_and_generators_alone(setter_calls):
    torch.manual_seed(0)  # the test's own weights; the spy records it, so the record starts after the models exist
    ndf = NDFModel(NDFConfig.cpu_small(resolution=32, channels=(16, 32, 32, 64))).train()
    pt = PointUDFModel(PointUDFConfig.from_json(TINY_POINT_UDF)).train()
    setter_calls.clear()
    points, queries = _cloud(2000), _cloud(300, seed=1)
    before = _state()
    ndf(points, queries).sum().backward()  # one scene: sample_grids splits its queries over the threads
    pt.udf(pt.encode(points), queries).sum().backward()  # farthest point sampling and kNN inside
    with torch.no_grad():
        ndf.field(points[0]).udf(queries[0])
    _assert_same_state(before, _state())
    assert setter_calls == []


def _tiny_run(tmp_path, name: str, **over) -> TrainConfig:
    cfg = TrainConfig(model=PointUDFConfig.from_json(TINY_POINT_UDF), steps=2, batch_size=1, out=str(tmp_path / name),
                      checkpoint_every=2, val_every=0, **over)
    cfg.data.count, cfg.data.val_count = 2, 1
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 256, 512
    return cfg


@pytest.mark.slow
def test_a_training_run_applies_its_threads_and_seed_and_restores_the_callers(tmp_path, two_threads):
    """The run uses ``cfg.threads`` and its own seed whatever the caller's state, and leaves that state as it was."""
    seen = []
    hooks = TrainHooks(on_step=lambda step, model: seen.append(torch.get_num_threads()))
    torch.manual_seed(123)
    before = _state()
    bundle = train(_tiny_run(tmp_path, "a", threads=1), progress=False, hooks=hooks)
    _assert_same_state(before, _state())
    assert seen == [1, 1]
    torch.manual_seed(456)  # another caller state: the same run, the same weights
    before = _state()
    again = train(_tiny_run(tmp_path, "b", threads=1), progress=False)
    _assert_same_state(before, _state())
    first, second = ((tmp_path / run / "rank0.json").read_text() for run in ("a", "b"))
    assert first == second and bundle.parent.name == "a" and again.parent.name == "b"


# ------------------------------------------------------------------------------------------------ the setting


def test_tuning_from_the_environment():
    assert cpu.CpuTuning.from_env({}) == cpu.CpuTuning()
    assert cpu.CpuTuning.from_env({cpu.ENV_THREADS: " "}).intra_op_threads == 0
    assert cpu.CpuTuning.from_env({cpu.ENV_THREADS: "3"}).intra_op_threads == 3
    for bad in ("two", "-1", "1.5"):
        with pytest.raises(cpu.CpuTuningError, match=cpu.ENV_THREADS):
            cpu.CpuTuning.from_env({cpu.ENV_THREADS: bad})
    with pytest.raises(ValueError, match="intra_op_threads"):
        cpu.CpuTuning(intra_op_threads=True)


def test_apply_sets_the_threads_and_the_default_leaves_them(two_threads):
    cpu.apply(cpu.CpuTuning())
    assert torch.get_num_threads() == 2
    cpu.apply(cpu.CpuTuning(intra_op_threads=1))
    assert torch.get_num_threads() == 1


def test_applied_restores_the_threads_even_on_error(two_threads):
    with pytest.raises(RuntimeError, match="inside"):
        with cpu.applied(cpu.CpuTuning(intra_op_threads=1)):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_the_command_applies_the_environment_and_reports_a_bad_value(monkeypatch, capsys, two_threads):
    monkeypatch.setenv(cpu.ENV_THREADS, "1")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0 and torch.get_num_threads() == 1
    monkeypatch.setenv(cpu.ENV_THREADS, "many")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"{cpu.ENV_THREADS}='many'" in err and "Traceback" not in err
