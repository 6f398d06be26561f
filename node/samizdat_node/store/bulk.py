"""Bulk work without the cyclic garbage collector running in the middle of it.

A batch of 10,000 records allocates hundreds of thousands of small objects (bodies, tuples,
rows) that live until the batch is stored; each generation-0 collection then walks them again,
and the walks added 10-20% to publishing and applying (measured with bench/store.py). Nothing
in a batch makes reference cycles that must be freed before it ends, so the collector is paused
for the batch and restored after it, whatever happens. Between batches it runs as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
