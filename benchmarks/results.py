"""Benchmark results: one JSON per experiment in ``benchmarks/results`` and the tables of ``docs/RESULTS.md``.

Every number in docs/RESULTS.md comes from these JSON files, which record the command, the git commit, the
machine and the wall time; ``docs/RESULTS.md`` is regenerated from all of them after each benchmark run.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
RESULTS_MD = REPO / "docs" / "RESULTS.md"

sys.path.insert(0, str(REPO))
from nir_core.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402


def machine() -> dict:
    """What the numbers were measured on."""
    import numpy
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "numpy": numpy.__version__, "torch_threads": torch.get_num_threads()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return info


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        # Results and the figures the benchmarks write themselves do not make the code dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results", ":!docs"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@dataclass
class Table:
    """A results table: ``headers`` and ``rows`` of already formatted cells."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Experiment:
    """Collects one benchmark's metrics and tables; :meth:`save` writes its JSON and refreshes RESULTS.md."""

    name: str
    title: str
    description: str
    started: float = field(default_factory=time.time)
    metrics: dict = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def save(self) -> Path:
        record = {
            "name": self.name, "title": self.title, "description": self.description,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": git_commit(), "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "wall_time_s": round(time.time() - self.started, 2),
            "metrics": self.metrics,
            "tables": {k: {"headers": t.headers, "rows": t.rows} for k, t in self.tables.items()},
            "notes": self.notes,
        }
        path = atomic_write_json(RESULTS_DIR / f"{self.name}.json", record)
        refresh_results_md()
        return path


def carried_rows(name: str, args, compared: tuple[str, ...] = ()) -> dict[str, dict]:
    """The rows (``metrics["rows"]``, keyed by their "row" label) the last run of experiment ``name`` measured,
    each marked with the commit it came from: a benchmark run with ``--carry`` keeps them and measures only the
    rows still missing (runs that cannot finish in one sitting). ``compared``: names of ``args`` (the parsed
    command line) the last run must have had the same for its rows to be comparable; a mismatch stops the run."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return {}
    last = json.loads(path.read_text())
    before = last.get("metrics", {}).get("args", {})
    now = {k: str(getattr(args, k)) for k in compared}
    differ = {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}
    if differ:
        raise SystemExit(f"--carry: {path.name} was measured with other settings "
                         + ", ".join(f"{k}={old} (now {new})" for k, (old, new) in differ.items()))
    return {r["row"]: {**r, "carried_from": r.get("carried_from", last["git_commit"])}
            for r in last.get("metrics", {}).get("rows", [])}


def carry_note(rows: list[dict]) -> list[str]:
    """The note naming the rows of ``rows`` that were carried over, and from which commits (none: no note)."""
    kept = [r for r in rows if "carried_from" in r]
    if not kept:
        return []
    commits = ", ".join(sorted({r["carried_from"][:12] for r in kept}))
    return [f"Carried over from earlier runs of this command (--carry): {'; '.join(r['row'] for r in kept)} "
            f"(commits {commits})."]


def training_time(training: dict) -> str:
    """A bundle's training time (its ``training`` record) for a table: the whole run's, summed over the processes
    a resumed run took; for bundles that predate that record, the last process's, marked as such."""
    if training.get("seconds") is not None:
        return f"{training['seconds']:.0f}"
    last = training.get("seconds_this_process")
    return "-" if last is None else f"{last:.0f} (last process only)"


def save_figure(fig, path: Path, **savefig) -> Path:
    """Writes a matplotlib figure to ``path`` whole or not at all (a temporary file, then a rename), and closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_suffix(".tmp" + path.suffix)
    fig.savefig(tmp, **savefig)
    plt.close(fig)
    return tmp.replace(path)


def anchor(title: str) -> str:
    """The link target Markdown renderers (GitHub's rule) give the heading ``title``."""
    kept = "".join(c for c in title.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def refresh_results_md() -> Path:
    """Rebuilds docs/RESULTS.md from every JSON in benchmarks/results (sorted by name)."""
    parts = ["# Results", "",
             "Generated from `benchmarks/results/*.json` by the scripts in `benchmarks/`; do not edit by hand.",
             "Each section names the command that produced it, the commit and the machine. \"The thesis\" is",
             "T. W. Costain, \"Efficient Processing and Representations for 3D Tasks\", DPhil thesis, University of Oxford,",
             "2023 (README, References); docs/findings.md says what the numbers show.", ""]
    described: dict[str, str] = {}  # description -> title of the first section that gave it
    for path in sorted(RESULTS_DIR.glob("*.json")):
        rec = json.loads(path.read_text())
        if "title" not in rec:  # a benchmark's resume checkpoint, not a result
            continue
        m = rec.get("machine", {})
        # A --carry run measures only the missing rows; the carried rows' costs are in their own columns.
        scope = " (this run only: the carried rows were measured before)" if "--carry" in rec["command"] else ""
        # Runs of one benchmark with other inputs share its description: give it once, point back to it after.
        first = described.setdefault(rec["description"], rec["title"])
        description = rec["description"] if first == rec["title"] else f"Method: as in [{first}](#{anchor(first)})."
        parts += [f"## {rec['title']}", "", description, "",
                  f"Command: `{rec['command']}` — commit `{rec['git_commit'][:12]}`, {rec['date']}, "
                  f"{m.get('cpus')} CPUs ({m.get('cpu', '?')}), torch {m.get('torch')}, "
                  f"wall time {rec['wall_time_s']} s{scope}. Raw: `benchmarks/results/{path.name}`.", ""]
        for key, t in rec.get("tables", {}).items():
            parts += [f"**{key}**", "", Table(t["headers"], t["rows"]).markdown(), ""]
        parts += [f"- {n}" for n in rec.get("notes", [])] + ([""] if rec.get("notes") else [])
    RESULTS_MD.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(RESULTS_MD, "\n".join(parts).encode())
    return RESULTS_MD
