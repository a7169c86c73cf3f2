"""``python -m nir_core.train CONFIG.json [KEY=VALUE ...]``: the entry ``torchrun`` launches on every rank."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .config import TrainConfig, apply_overrides
from .engine import train


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m nir_core.train CONFIG.json [KEY=VALUE ...]")
    cfg = apply_overrides(TrainConfig.from_json(json.loads(Path(args[0]).read_text())), args[1:])
    train(cfg)


if __name__ == "__main__":
    main()
