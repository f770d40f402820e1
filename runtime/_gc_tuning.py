"""Garbage-collector settings for processes relay owns (``relay run``, ``batch``, ``serve``,
``worker``), never applied when relay is a library inside someone else's process.

CPython collects the youngest generation every 700 net allocations and, every so often,
walks every object alive. An engine with thousands of tasks in flight allocates quickly and
keeps many objects alive, so with the defaults most of its CPU went to collections that found
nothing: ``benchmarks/concurrency.py`` at 1,000 concurrent tasks spent about two thirds of its
CPU in the collector. relay frees its objects by reference counting (a finished task leaves
no cycle), so collecting less often loses little memory. Freezing what start-up made (the
imported modules, the runtime's own objects) keeps it out of every later full collection.
"""

from __future__ import annotations

import gc

#: (youngest, middle, oldest): collect the youngest generation after 50,000 net allocations
#: instead of 700; the older ones as often relative to it as CPython's defaults do, roughly.
OWNED_PROCESS_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_owned_process() -> None:
    """Raise the collection thresholds and freeze every object alive now (call it once,
    after imports). Changes the whole interpreter: only for a process relay owns."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*OWNED_PROCESS_THRESHOLDS)
