"""Giving back to the system the memory a large request freed in a SOAP thread (glibc's malloc).

A SOAP call runs in whichever SOAP thread is free (bridge.soap._threads), and glibc gives each thread
an arena of its own (up to 8 per core). What lxml allocates for a request's tree (per node its
struct, name and attributes, its text: many small blocks) is freed into the arena it came from, and
stays resident there: glibc gives an arena's memory back only when the free block at its top is
large, and small freed blocks wait in its bins for that arena's next allocations. So every arena
that had parsed a large envelope kept about the tree's size — after a 1.9 MB envelope of small
elements, 20 MB per thread (bench/bench_envelope_memory.py; docs/performance.md, "Reading: cost as
the work grows"). ``malloc_trim(0)`` returns the free pages of every arena; the endpoint calls it
after a request above ``TRIM_ABOVE`` bytes only, once the request's tree is freed (bridge.soap.
_endpoint frees it when the call ends instead of leaving it to the cyclic GC). It costs 0.1–15 ms
(more freed, more pages returned) with the GIL released; ordinary envelopes are a few KB and never
pay it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

__all__ = ["TRIM_ABOVE", "trim"]

TRIM_ABOVE = 64 * 1024


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None).malloc_trim  # glibc; absent elsewhere (musl, macOS): nothing to do
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_trim = _malloc_trim()


def trim() -> bool:
    """Return freed memory of all arenas to the system; False where there is no ``malloc_trim``."""
    if _trim is None:
        return False
    _trim(0)
    return True
