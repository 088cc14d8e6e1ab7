"""When the garbage collector runs in long-running processes (server, demo, benchmarks).

CPython starts a collection when its count of container allocations minus
deallocations passes a threshold. A router creates and ends thousands of contacts a
second: the deaths of older objects keep that count low while the young generation
grows to hundreds of thousands of objects, and the collection that finally comes
scans them all. Such collections paused a Redis router leader for 50 ms at a time,
which alone set the p99 of its decisions (docs/routing.md, "Collector").

The router leaves no cyclic garbage of its own in steady state (none was found over
120,000 commands), so these processes turn automatic collection off
(:func:`take_over_collection`) and run a full collection every few tens of seconds
instead (:func:`collect_periodically`): it reclaims whatever cycles the rest of the
process leaves (exceptions with their tracebacks, closed connections), and its pause
is logged. Once the application has started, everything it built (modules imported on
first use, services, the app) is frozen out of the collector's way, so a full
collection scans only what was made since: about 0.2 ms of CPU per 1,000 live
container objects, 1-3 ms in the demo with the CTI and its calls running (a full scan
of the whole heap took 100-180 ms there). The entry points choose this; tests and
library users keep Python's own collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

log = logging.getLogger(__name__)

# Longer than this and a collection is logged as a warning.
_SLOW_COLLECTION_SECONDS = 0.25


def take_over_collection() -> None:
    """Automatic collection off, and what was built so far (modules, settings) out of
    every later collection's way: call once at start, before serving."""
    gc.disable()
    gc.freeze()


def collect_now() -> tuple[int, float]:
    """One full collection: the unreachable objects found and the pause in seconds
    (the thread's CPU time: on a busy machine the wall time also counts the time the
    process waited for a core, which is not the collector's)."""
    started = time.thread_time()
    found = gc.collect()
    return found, time.thread_time() - started


async def collect_periodically(interval: float) -> None:
    """A full collection every ``interval`` seconds, for as long as the task runs."""
    while True:
        await asyncio.sleep(interval)
        found, pause = collect_now()
        level = logging.WARNING if pause > _SLOW_COLLECTION_SECONDS else logging.DEBUG
        log.log(level, "garbage collection: %d unreachable objects, %.0f ms", found, pause * 1000)


def periodic_collection(interval: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """:func:`collect_periodically` for the lifetime of an aiohttp application."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        # Everything started by now (modules imported on first use, the app, its
        # services) lives as long as the process: out of every later collection's way.
        collect_now()
        gc.freeze()
        task = asyncio.create_task(collect_periodically(interval), name="garbage-collection")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return context
