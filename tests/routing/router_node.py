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
from routing.backends.redis import RedisRouterBackend
from tests.routing.conftest import make_config


class DiscardingSink:
    """Events are read from the shard's outbox stream by the test, not from here."""

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        return None


async def main(url: str, prefix: str, node_id: str) -> None:
    client = aioredis.from_url(url, max_connections=20)
    backend = RedisRouterBackend(
        make_config(),
        client,
        sink=DiscardingSink(),
        node_id=node_id,
        key_prefix=prefix,
        lease_seconds=1.0,
    )
    await backend.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
