"""glibc malloc settings for a 512 MB board, applied at start-up before threads exist.

- A fixed mmap threshold: glibc normally raises it after the first large block is freed, so
  every later Argon2 hash (19 MiB) comes from the heap and stays in RSS. Fixed at 1 MiB, large
  blocks are mapped and returned to the OS when freed.
- Two malloc arenas instead of 8 per core: the request thread pool would otherwise spread small
  allocations over many arenas that each keep their own free memory.
Both can be overridden with glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX variables.
- A trimmer thread: glibc returns freed heap memory to the OS only from the top of the heap, so
  the free space that start-up (imports, compiling) and request peaks leave inside the heap stays
  in RSS. ``malloc_trim`` releases those pages: 4.7 MB right after start-up (bench/README.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time

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


def start_trimmer(first_after: float = 1.0, every: float = 60.0) -> bool:
    """Release free heap pages shortly after start-up, then once a minute (glibc only).

    A trim walks the free lists under the arena locks: a few milliseconds once a minute."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        malloc_trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False

    def trim() -> None:
        time.sleep(first_after)
        while True:
            malloc_trim(0)
            time.sleep(every)

    threading.Thread(target=trim, name="malloc-trim", daemon=True).start()
    return True
