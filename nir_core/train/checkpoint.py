"""An optimiser's state beside a bundle, so a run resumes exactly: one safetensors file of tensors named
``opt.PARAMETER.SLOT`` (plus any other named tensors), written atomically; nothing is pickled."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write_bytes

TRAIN_STATE = "train_state.safetensors"


def save_train_state(folder: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Writes ``optimizer``'s per-parameter state (parameters named as in ``module``) and ``tensors`` to
    ``folder/train_state.safetensors``."""
    out = dict(tensors or {})
    names = {id(p): n for n, p in module.named_parameters()}
    for p, state in optimizer.state.items():
        for key, value in state.items():
            out[f"opt.{names[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tmp = folder / f".{TRAIN_STATE}.tmp"
    save_file(out, str(tmp))
    os.replace(tmp, folder / TRAIN_STATE)


def load_train_state(folder: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Restores what :func:`save_train_state` wrote into ``optimizer``; returns the other tensors."""
    tensors = load_file(str(folder / TRAIN_STATE))
    params = dict(module.named_parameters())
    for key, value in tensors.items():
        if key.startswith("opt."):
            name, slot = key[4:].rsplit(".", 1)
            optimizer.state[params[name]][slot] = value
    return {k: v for k, v in tensors.items() if not k.startswith("opt.")}


def truncate_log(path: Path, step: int) -> None:
    """Drops the records of steps after ``step`` from a JSON-lines log (logged by an interrupted run after its last
    checkpoint), so a resumed run's log holds every step once."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    keep = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(keep) != len(lines):
        atomic_write_bytes(path, "".join(line + "\n" for line in keep).encode())
