"""glibc malloc settings for a 512 MB board, applied at start-up before threads exist.

- A fixed mmap threshold: glibc normally raises it after the first large block is freed, so
  every later Argon2 hash (19 MiB) comes from the heap and stays in RSS. Fixed at 1 MiB, large
  blocks are mapped and returned to the OS when freed.
- Two malloc arenas instead of 8 per core: the request thread pool would otherwise spread small
  allocations over many arenas that each keep their own free memory.
Both can be overridden with glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX variables.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(mmap_threshold: int = 1024 * 1024, arenas: int = 2) -> bool:
    """Return True when the settings were applied (glibc only; elsewhere a no-op)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        applied &= bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))
    if "MALLOC_ARENA_MAX" not in os.environ:
        applied &= bool(mallopt(M_ARENA_MAX, arenas))
    return applied
