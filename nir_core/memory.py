"""How much memory the machine can still give, and a check made before a large allocation is tried."""
from __future__ import annotations

import os

from .errors import OutOfMemoryError

GIB = 1 << 30


def available_bytes() -> int | None:
    """Memory the kernel can give this process without swapping (Linux ``MemAvailable``); None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # other POSIX systems: free pages, an underestimate of what can be had
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def require_bytes(needed: float, what: str, hint: str = "") -> None:
    """Raises :class:`OutOfMemoryError` naming ``what`` when ``needed`` bytes exceed the memory available now."""
    available = available_bytes()
    if available is not None and needed > available:
        raise OutOfMemoryError(f"{what} needs about {needed / GIB:,.1f} GiB but {available / GIB:,.1f} GiB of memory "
                               f"are available{'; ' + hint if hint else ''}")
