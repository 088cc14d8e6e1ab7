"""A router node as its own process, for the multi-node tests (killed with SIGKILL).

Usage: ``python -m tests.routing.router_node REDIS_URL KEY_PREFIX NODE_ID``. Prints
``ready`` once started, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import redis.asyncio as aioredis

from contact_center.domain.events import DomainEvent
from routing.backends.redis import RedisRouterBackend, encode_event_batch
from tests.routing.conftest import make_config


def published_events_key(prefix: str) -> str:
    """The stream where the nodes of a test put every batch of events they publish."""
    return f"{prefix}:test-published"


class StreamSink:
    """Publishes each batch of events as one entry of a stream the test reads: the
    test sees what every leader published, at least once, in order."""

    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.client = client
        self.key = key

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        await self.client.xadd(self.key, {"e": encode_event_batch(events)})


async def main(url: str, prefix: str, node_id: str) -> None:
    client = aioredis.from_url(url, max_connections=20)
    backend = RedisRouterBackend(
        make_config(),
        client,
        sink=StreamSink(client, published_events_key(prefix)),
        node_id=node_id,
        key_prefix=prefix,
        lease_seconds=1.0,
    )
    await backend.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
