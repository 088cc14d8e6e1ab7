"""One contract for both event buses: in-process and Redis (real server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from contact_center.bus import EventBus, MemoryBus
from contact_center.bus.redis import RedisBus
from contact_center.domain.events import DomainEvent


class SampleHappened(DomainEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "sample.happened"
    contact_id: str
    tags: tuple[str, ...] = ()


class OtherHappened(DomainEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "other.happened"
    value: int


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        instance: EventBus = MemoryBus()
    else:
        # Pub/sub keeps no keys, so a fresh channel name is all the isolation needed.
        url = request.getfixturevalue("redis_url")
        instance = RedisBus(url, namespace=f"cctest-{uuid.uuid4().hex[:10]}")
    await instance.start()
    yield instance
    await instance.close()


async def test_subscriber_receives_published_events_in_order(bus: EventBus) -> None:
    sub = bus.subscribe()
    events = [SampleHappened(at=float(i), contact_id=f"c{i}", tags=("a",)) for i in range(5)]
    await bus.publish(events)
    received = [await sub.get(timeout=5) for _ in events]
    assert received == events


async def test_subscription_filters_by_name_and_prefix(bus: EventBus) -> None:
    only_other = bus.subscribe(["other.happened"])
    samples = bus.subscribe(["sample.*"])
    await bus.publish([SampleHappened(at=1.0, contact_id="x"), OtherHappened(at=2.0, value=7)])
    assert await only_other.get(timeout=5) == OtherHappened(at=2.0, value=7)
    assert await samples.get(timeout=5) == SampleHappened(at=1.0, contact_id="x")


async def test_slow_subscriber_loses_oldest_and_counts_them(bus: EventBus) -> None:
    sub = bus.subscribe(maxsize=3)
    marker = bus.subscribe(maxsize=100)
    await bus.publish([OtherHappened(at=0.0, value=i) for i in range(10)])
    for _ in range(10):  # wait until all ten went through the bus
        await marker.get(timeout=5)
    values = [(await sub.get(timeout=5)).value for _ in range(3)]  # type: ignore[attr-defined]
    assert values == [7, 8, 9]
    assert sub.dropped == 7


async def test_unsubscribed_gets_nothing_more(bus: EventBus) -> None:
    sub = bus.subscribe()
    watcher = bus.subscribe()
    bus.unsubscribe(sub)
    await bus.publish([OtherHappened(at=0.0, value=1)])
    await watcher.get(timeout=5)
    with pytest.raises(StopAsyncIteration):
        await sub.get(timeout=1)


async def test_health_reports_ok(bus: EventBus) -> None:
    assert (await bus.health())["ok"] is True


@pytest.mark.integration
async def test_two_redis_nodes_see_each_others_events(redis_url: str, redis_namespace: str) -> None:
    a, b = (
        RedisBus(redis_url, namespace=redis_namespace),
        RedisBus(redis_url, namespace=redis_namespace),
    )
    await a.start()
    await b.start()
    try:
        sub = b.subscribe()
        await a.publish([SampleHappened(at=3.0, contact_id="from-a")])
        assert await sub.get(timeout=5) == SampleHappened(at=3.0, contact_id="from-a")
    finally:
        await a.close()
        await b.close()


@pytest.mark.integration
async def test_garbage_on_the_redis_channel_is_dropped_not_fatal(
    redis_url: str, redis_namespace: str
) -> None:
    import redis.asyncio as aioredis

    bus = RedisBus(redis_url, namespace=redis_namespace)
    await bus.start()
    raw = aioredis.from_url(redis_url)
    try:
        sub = bus.subscribe()
        await raw.publish(bus.channel, b"\xff not json")
        await raw.publish(bus.channel, b'{"event": "no.such.event", "at": 1}')
        await bus.publish([OtherHappened(at=1.0, value=42)])
        assert await sub.get(timeout=5) == OtherHappened(at=1.0, value=42)
        assert bus.undecodable == 2
    finally:
        await raw.aclose()
        await bus.close()
