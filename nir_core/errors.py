"""The project's exception types: every error a user can cause names the file (or flag) and the reason."""
from __future__ import annotations

from pathlib import Path


class NIRStudioError(Exception):
    """Base class of every error NIR Studio raises on purpose (the CLI prints it as one line)."""


class ScanLoadError(NIRStudioError):
    """A scan or mesh file could not be turned into a :class:`~nir_core.data.scan.Scan`.

    Parameters
    ----------
    path:
        The file (or folder) the user gave.
    reason:
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class MissingFileError(ScanLoadError):
    """The path does not exist."""


class UnsupportedFormatError(ScanLoadError):
    """The path is a folder of an unknown layout, or a file of an extension no loader reads."""


class CorruptFileError(ScanLoadError):
    """The file is empty, truncated or not what its extension says."""


class InvalidScanError(ScanLoadError):
    """The file parsed but its content is unusable (NaN/Inf, too few points, mismatched labels)."""


class MeshRequiredError(ScanLoadError):
    """A mesh with faces was required (e.g. exact surface distances) but the input has none."""


class ScanTooLargeError(ScanLoadError):
    """The file or its point count is above the documented limits (:class:`~nir_core.data.io.LoadLimits`)."""


class FieldError(NIRStudioError):
    """A field returned unusable values (NaN or Inf distances or gradients, or arrays of the wrong shape).

    Parameters
    ----------
    reason:
        What was wrong, with how many values and an example query point, so a user can find the region.
    count:
        How many values were unusable (0 when the shape, not the values, was wrong).
    example:
        (3,) one query point where the field failed, or None.
    """

    def __init__(self, reason: str, count: int = 0, example=None):
        self.reason = reason
        self.count = int(count)
        self.example = example
        super().__init__(reason)


class OutOfMemoryError(NIRStudioError):
    """A job would need more memory than the machine has available; raised before the allocation is tried."""
