"""booking/lib/memory.py against the real glibc allocator of this process."""

from __future__ import annotations

import ctypes.util

import pytest

from booking.lib import memory

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("c") is None, reason="glibc's malloc_trim is what is tested"
)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_release_free_memory_returns_holes_inside_the_heap() -> None:
    blocks = [bytearray(4096) for _ in range(20_000)]  # 80 MB from the heap, not mmap
    top = blocks[-1]  # the highest block stays: free() alone cannot shrink the heap
    del blocks
    before = _rss_bytes()
    assert memory.release_free_memory()
    released = before - _rss_bytes()
    assert released > 40 * 1024 * 1024, f"only {released / 2**20:.1f} MiB released"
    assert len(top) == 4096
