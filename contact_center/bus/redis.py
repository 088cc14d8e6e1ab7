"""Redis pub/sub event bus: every node publishes to one channel and fans out locally.

Pub/sub is fire-and-forget by design (a node that is down misses events); that is
right for live console updates. Durable work (waiting contacts, reservations) is
kept by the router's Redis backend and the store, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from contact_center.bus import MemoryBus, Subscription
from contact_center.domain.events import DomainEvent, decode_event, encode_event

log = logging.getLogger(__name__)


class RedisBus:
    def __init__(self, url: str, *, namespace: str = "cc", max_connections: int = 50) -> None:
        self.channel = f"{{{namespace}}}:events"
        self._client = aioredis.from_url(url, max_connections=max_connections)
        self._local = MemoryBus()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.undecodable = 0

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")
            await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = decode_event(message["data"])
                    except (KeyError, TypeError, ValueError):
                        self.undecodable += 1
                        log.warning("bus: dropped an undecodable message on %s", self.channel)
                        continue
                    self._local.deliver_local([event])
            except asyncio.CancelledError:
                raise
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                log.warning("bus: Redis connection lost (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(self.channel, encode_event(event))
            await pipe.execute()

    def subscribe(
        self, names: Iterable[str] | None = None, *, maxsize: int = 10_000
    ) -> Subscription:
        return self._local.subscribe(names, maxsize=maxsize)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._local.close()
        await self._client.aclose()

    async def health(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._client.ping(), 2)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            return {"ok": False, "backend": "redis", "error": str(exc)}
        return {"ok": True, "backend": "redis", "channel": self.channel}
