"""Giving back to the system the memory a large request freed in a SOAP thread (glibc's malloc).

A SOAP call runs in whichever SOAP thread is free (bridge.soap._threads), and glibc gives each thread
an arena of its own (up to 8 per core). What lxml allocates for a request's tree (per node its
struct, name and attributes, its text: many small blocks) is freed into the arena it came from, and
stays resident there: glibc gives an arena's memory back only when the free block at its top is
large, and small freed blocks wait in its bins for that arena's next allocations. So every arena
that had parsed a large envelope kept about the tree's size — after a 1.9 MB envelope of small
elements, 20–40 MB per thread (bench/bench_envelope_memory.py; docs/performance.md, "Reading: cost as
the work grows"). After a request above ``TRIM_ABOVE`` bytes only, once the request's tree is freed
(bridge.soap._endpoint frees it when the call ends instead of leaving it to the cyclic GC), ``trim``
gives the free memory back. The next large call faults its pages in again: +15 ms of CPU on a
1.9 MB envelope of small elements (78 → 90–96 ms), +0.3 ms on a 1.9 MB text; ordinary envelopes are a
few KB and never pay it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

__all__ = ["TRIM_ABOVE", "trim"]

TRIM_ABOVE = 64 * 1024


# A block at least FASTBIN_CONSOLIDATION_THRESHOLD (64 KB) and under the mmap threshold (128 KB or
# more): freeing it makes glibc trim the top of the freeing thread's arena (heap_trim).
_TOP_TRIGGER = 64 * 1024 + 64


def _libc() -> tuple[Callable[[int], int], Callable[[int], int | None], Callable[[int | None], None]] | None:
    """glibc's malloc_trim, malloc and free; None elsewhere (musl, macOS): nothing to do there."""
    try:
        libc = ctypes.CDLL(None)
        functions = libc.malloc_trim, libc.malloc, libc.free
    except (OSError, TypeError, AttributeError):
        return None
    malloc_trim, malloc, free = functions
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    malloc.argtypes, malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
    free.argtypes, free.restype = [ctypes.c_void_p], None
    return functions


_glibc = _libc()


def trim() -> bool:
    """Return freed memory to the system; False where there is no ``malloc_trim``.

    ``malloc_trim(0)`` merges the small freed blocks of every arena and returns the whole free pages
    among them, but the free block at the top of a thread's arena (where a freed tree mostly ends up
    once merged) only for the main arena; a thread's own is shrunk when it frees a block of 64 KB or
    more, so this thread then frees one."""
    if _glibc is None:
        return False
    malloc_trim, malloc, free = _glibc
    malloc_trim(0)
    block = malloc(_TOP_TRIGGER)
    if block:
        free(block)
    return True
