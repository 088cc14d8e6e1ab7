"""The collection policy of long-running processes: no automatic collection, a full one
at an interval that reclaims cycles, for the lifetime of the application."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
from aiohttp import web

from contact_center.collection import (
    collect_now,
    collect_periodically,
    periodic_collection,
    take_over_collection,
)
from contact_center.settings import Settings, SettingsError, load_settings


class Node:
    """A container that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle_reclaimed() -> asyncio.Event:
    """A cycle nothing refers to, and an event set when the collector frees it."""
    reclaimed = asyncio.Event()
    first, second = Node(), Node()
    first.other, second.other = second, first
    weakref.finalize(first, reclaimed.set)
    return reclaimed


@pytest.fixture
def collector_off() -> Iterator[None]:
    take_over_collection()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_given_the_policy_taken_then_python_collects_nothing_by_itself(
    collector_off: None,
) -> None:
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0  # what start-up built is out of the way
    reclaimed = cycle_reclaimed()
    for _ in range(50_000):  # far past any automatic threshold
        Node().other = Node()
    assert not reclaimed.is_set()
    found, pause = collect_now()
    assert reclaimed.is_set() and found >= 2 and pause >= 0


async def test_given_a_periodic_collection_then_cycles_are_reclaimed_at_its_interval(
    collector_off: None,
) -> None:
    reclaimed = cycle_reclaimed()
    task = asyncio.create_task(collect_periodically(0.01))
    try:
        async with asyncio.timeout(5):
            await reclaimed.wait()
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_given_an_application_then_its_collection_runs_while_it_runs(
    collector_off: None,
) -> None:
    app = web.Application()
    context = periodic_collection(0.01)(app)
    await anext(context)  # started with the application
    reclaimed = cycle_reclaimed()
    async with asyncio.timeout(5):
        await reclaimed.wait()
    with pytest.raises(StopAsyncIteration):
        await anext(context)  # stopped with it: nothing left running
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "garbage-collection"]


def test_given_a_collection_interval_setting_then_it_is_read_and_checked() -> None:
    assert Settings().server.gc_interval_seconds == 60.0
    settings = load_settings(environ={"CC_SERVER_GC_INTERVAL_SECONDS": "15"})
    assert settings.server.gc_interval_seconds == 15.0
    with pytest.raises(SettingsError, match="gc_interval_seconds"):
        load_settings(environ={"CC_SERVER_GC_INTERVAL_SECONDS": "0"})


async def test_given_an_application_started_then_what_it_built_is_frozen_out_of_collections(
    collector_off: None,
) -> None:
    """The server's full collections scan only what was made after start-up: the
    modules and services imported and built while starting stay out of their way."""
    app = web.Application()
    before = gc.get_freeze_count()
    built_while_starting = [Node() for _ in range(20_000)]
    context = periodic_collection(3600)(app)
    await anext(context)
    try:
        assert gc.get_freeze_count() >= before + len(built_while_starting)
        found, pause = collect_now()
        assert found == 0 and pause < 1.0
    finally:
        with pytest.raises(StopAsyncIteration):
            await anext(context)
