"""Event bus: domain events published after commit, fanned out to subscribers.

Two implementations behind :class:`EventBus`: :class:`MemoryBus` (one process, the
default) and :class:`~contact_center.bus.redis.RedisBus` (every node sees every
event through Redis pub/sub). This bus is for live fan-out (consoles, wallboards,
other nodes' caches); state that must survive a crash lives in the store or in
the router's backend, never only on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

from contact_center.domain.events import DomainEvent

log = logging.getLogger(__name__)


class Subscription:
    """A bounded queue of events for one subscriber; iterate it with ``async for``.

    A subscriber that falls more than ``maxsize`` events behind loses the oldest
    ones (counted in ``dropped``) rather than slowing every publisher down.
    """

    def __init__(self, names: frozenset[str] | None, maxsize: int) -> None:
        self.names = names
        self.dropped = 0
        self._queue: asyncio.Queue[DomainEvent | None] = asyncio.Queue(maxsize)
        self._closed = False

    def wants(self, event: DomainEvent) -> bool:
        return self.names is None or event.name in self.names or _prefix_match(self.names, event)

    def deliver(self, event: DomainEvent) -> None:
        if self._closed:
            return
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def get(self, timeout: float | None = None) -> DomainEvent:
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[DomainEvent]:
        return self

    async def __anext__(self) -> DomainEvent:
        return await self.get()


def _prefix_match(names: frozenset[str], event: DomainEvent) -> bool:
    # "contact.*" subscribes to every contact event.
    return any(n.endswith(".*") and event.name.startswith(n[:-1]) for n in names)


class EventBus(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> None: ...

    def subscribe(
        self, names: Iterable[str] | None = None, *, maxsize: int = 10_000
    ) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> dict[str, Any]: ...


class MemoryBus:
    """In-process fan-out: publish delivers to every matching subscription at once."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.published = 0

    async def start(self) -> None:
        return None

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.deliver_local(events)

    def deliver_local(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self.published += 1
            for subscription in list(self._subscriptions):
                if subscription.wants(event):
                    subscription.deliver(event)

    def subscribe(
        self, names: Iterable[str] | None = None, *, maxsize: int = 10_000
    ) -> Subscription:
        subscription = Subscription(frozenset(names) if names is not None else None, maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory", "subscribers": len(self._subscriptions)}
