"""glibc malloc settings for a 512 MB board, applied at start-up before threads exist.

- A fixed mmap threshold: glibc normally raises it after the first large block is freed, so
  every later Argon2 hash (19 MiB) comes from the heap and stays in RSS. Fixed at 1 MiB, large
  blocks are mapped and returned to the OS when freed.
- Two malloc arenas instead of 8 per core: the request thread pool would otherwise spread small
  allocations over many arenas that each keep their own free memory.
Both can be overridden with glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX variables.

And a trim when start-up is done, then every 10 s: glibc returns freed heap memory to the OS
only from the top of the heap, so the holes that imports and request peaks leave inside it stay
in RSS. ``malloc_trim`` releases those pages: 4.7 MB after start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
TRIM_EVERY_SECONDS = 10.0


def _glibc(function: str) -> Callable[..., int] | None:
    """A function of glibc's malloc, or None elsewhere (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        found: Callable[..., int] = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        return None
    return found


def tune_malloc(mmap_threshold: int = 1024 * 1024, arenas: int = 2) -> bool:
    """Return True when the settings were applied (glibc only; elsewhere a no-op)."""
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    applied = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        applied &= bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))
    if "MALLOC_ARENA_MAX" not in os.environ:
        applied &= bool(mallopt(M_ARENA_MAX, arenas))
    return applied


def release_free_memory() -> bool:
    """Give free heap pages back to the OS now (glibc only; 0.4 ms after start-up here)."""
    trim = _glibc("malloc_trim")
    return trim is not None and bool(trim(0))


def start_trimmer(every: float = TRIM_EVERY_SECONDS) -> bool:
    """Release free heap pages every few seconds, e.g. after a burst of requests (glibc only)."""
    trim = _glibc("malloc_trim")
    if trim is None:
        return False

    def run() -> None:
        while True:
            time.sleep(every)
            trim(0)

    threading.Thread(target=run, name="malloc-trim", daemon=True).start()
    return True
