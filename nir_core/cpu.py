"""The one CPU-tuning setting: how many threads torch uses, chosen by the program, never by the library.

torch's thread count is process-wide: a library function that changed it would change it for every other thread
of the process too (a web UI serving two requests, a viewer loading off the UI thread) and for whatever the caller
runs next. So nir_core, compress and app's jobs only read it (``torch.get_num_threads()``, e.g. to split a
scene's queries in :func:`nir_core.models.ndf.sample_grids`); entry points own it:

- the ``nir-studio`` command calls :func:`apply` once, before any work, with :meth:`CpuTuning.from_env`
  (another program, e.g. a benchmark, does the same in its ``main``);
- :func:`nir_core.train.train` runs a whole training job, so it applies the run's ``threads`` with
  :func:`applied`, which restores the caller's setting when the run ends.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import NIRStudioError

ENV_THREADS = "NIR_STUDIO_THREADS"
"""Environment variable read by :meth:`CpuTuning.from_env`: torch's intra-op threads (unset or 0: torch's default)."""


class CpuTuningError(NIRStudioError, ValueError):
    """The environment asks for an impossible CPU tuning (e.g. a thread count that is not a number)."""


@dataclass(frozen=True)
class CpuTuning:
    """How torch runs on the CPU. The defaults leave torch's own choices alone.

    Only the intra-op thread count is here: it is the one setting the project's work depends on (the eager code
    runs no inter-op parallel work, so torch's inter-op pool is left as it is).
    """

    intra_op_threads: int = 0
    """Threads one torch op may use (``torch.set_num_threads``); 0 keeps torch's default: ``OMP_NUM_THREADS`` when
    set, else one per physical core. Under ``torchrun`` give each process its share of the cores."""

    def __post_init__(self):
        if isinstance(self.intra_op_threads, bool) or not isinstance(self.intra_op_threads, int) \
                or self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads: expected an integer >= 0 (0: torch's default), got "
                             f"{self.intra_op_threads!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CpuTuning:
        """The tuning the environment asks for: :data:`ENV_THREADS` (``os.environ`` unless ``environ`` is given).

        Raises :class:`CpuTuningError` naming the variable when its value is not a non-negative integer.
        """
        env = os.environ if environ is None else environ
        raw = env.get(ENV_THREADS, "").strip()
        if not raw:
            return cls()
        try:
            return cls(intra_op_threads=int(raw))
        except ValueError:
            raise CpuTuningError(f"{ENV_THREADS}={raw!r}: expected a number of threads >= 0 (0 or unset: "
                                 f"torch's default)") from None


def apply(tuning: CpuTuning) -> None:
    """Sets torch's process-wide CPU settings to ``tuning`` (a field at its default leaves torch's value alone).

    For entry points only (a program's ``main``), once, before any work: see the module docstring.
    """
    if tuning.intra_op_threads:
        # Imported here: the CLI applies the tuning before every command, --help included, which must not pay for
        # importing torch when there is nothing to set.
        import torch

        torch.set_num_threads(tuning.intra_op_threads)


@contextmanager
def applied(tuning: CpuTuning) -> Iterator[None]:
    """:func:`apply` ``tuning`` for the block, then restore the settings it found.

    For a job that owns the process while it runs (a training run); still process-wide inside the block, so never
    around a step of library code that other threads may run alongside.
    """
    import torch

    before = torch.get_num_threads()
    apply(tuning)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
