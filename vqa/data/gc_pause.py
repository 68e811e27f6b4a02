"""Pausing Python's cyclic garbage collector while a dataset's millions of small objects are created.

The collector runs a pass every few hundred new container objects (dicts, lists), and each older-generation pass
walks every object still alive: parsing a VQA v2 annotations file (4.4 million answer dicts) spends more than half
its time there, finding nothing, since parsed JSON holds no reference cycles. Measured on the 365 MB training
annotations: 17.3 s with the collector, 6.5 s without.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (reference counting still frees everything as usual);
    restore its previous state after, also on error. Nesting is safe: only the outermost block re-enables it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
