"""Bulk loops (an import, a replay of history) and Python's cyclic garbage collector.

Such a loop allocates millions of short-lived objects and keeps a batch of them alive at a time
(20,000 rows to commit, 100,000 history rows to write). With the default thresholds the collector
then promotes every batch to its oldest generation and walks the whole heap again and again:
measured on a month of card payments, nearly a third of the storing stage's time. The loops create
no reference cycles of their own, so inside :func:`bulk_gc` the objects alive at its start are frozen
out of the collector's view and collections are about seventy times rarer; leaving it restores the
thresholds and unfreezes (unless something had frozen objects before, as ``dunpai serve`` does at
start-up: those stay frozen as they were).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def bulk_gc() -> Iterator[None]:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not frozen_before:
            gc.unfreeze()
