"""Agents' presence from their consoles: gone for the grace period means not ready.

A closed tab or a network drop does not make an agent unavailable at once: a reload,
or a reconnect to another node, takes seconds. Each node records, for every agent
with a live console on it, when it last saw one (at connect, at the last disconnect,
and at every tick while connected) in a store all nodes share. A sweep, on any node,
takes the agents nobody has seen for ``disconnect_grace_seconds``: each is claimed
atomically (so one node acts), and a *ready* agent goes not ready with the reason
``disconnected``, which takes their ringing offers back to the queue. An agent
already not ready or offline keeps their state and reason.

Only agents who opened a console are tracked: an integration that drives an agent's
state over the REST API alone is never paused by the hub.

Redis backend: one sorted set of user ids scored by last-seen time; the claim is a
Lua compare-and-remove, so a node that sees the agent again between another node's
read and its claim wins. No keyspace notifications (docs/hub.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol, cast

from contact_center.errors import AppError
from routing import commands as cmd
from routing.model import DISCONNECTED_REASON, AgentState

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from routing.service import RoutingService

log = logging.getLogger(__name__)


class PresenceStore(Protocol):
    async def seen(self, user_ids: Collection[int], now: float) -> None:
        """Record that these agents had a live console at ``now`` (never moves back)."""

    async def due(self, before: float, limit: int) -> list[int]:
        """Agents last seen at or before ``before``, longest gone first."""

    async def claim(self, user_id: int, before: float) -> bool:
        """Stop tracking the agent if still last seen at or before ``before``; True if this
        caller did (and so must act)."""

    async def close(self) -> None: ...


class MemoryPresenceStore:
    """Presence in this process (one node)."""

    def __init__(self) -> None:
        self.last_seen: dict[int, float] = {}

    async def seen(self, user_ids: Collection[int], now: float) -> None:
        for user_id in user_ids:
            self.last_seen[user_id] = max(now, self.last_seen.get(user_id, now))

    async def due(self, before: float, limit: int) -> list[int]:
        found = sorted((at, u) for u, at in self.last_seen.items() if at <= before)
        return [u for _, u in found[:limit]]

    async def claim(self, user_id: int, before: float) -> bool:
        at = self.last_seen.get(user_id)
        if at is None or at > before:
            return False
        del self.last_seen[user_id]
        return True

    async def close(self) -> None:
        return None


_CLAIM = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


class RedisPresenceStore:
    """Presence shared by every node: ``<prefix>:hub:presence`` (sorted set)."""

    def __init__(self, client: Redis, *, prefix: str, owns_client: bool = True) -> None:
        self.client = client
        self.key = f"{prefix}:hub:presence"
        self._owns_client = owns_client
        self._claim = client.register_script(_CLAIM)

    async def seen(self, user_ids: Collection[int], now: float) -> None:
        if user_ids:
            # GT: a slower node's older reading never moves an agent back.
            await self.client.zadd(self.key, {str(u): now for u in user_ids}, gt=True)

    async def due(self, before: float, limit: int) -> list[int]:
        found = await self.client.zrangebyscore(self.key, "-inf", before, start=0, num=limit)
        return [int(cast(bytes, raw)) for raw in found]

    async def claim(self, user_id: int, before: float) -> bool:
        return bool(await self._claim(keys=[self.key], args=[str(user_id), repr(before)]))

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()


class Presence:
    """Applies the grace: sweeps the shared store and pauses agents gone too long."""

    def __init__(
        self,
        store: PresenceStore,
        routing: RoutingService | None,
        *,
        grace_seconds: float,
        clock: Callable[[], float],
        batch: int = 500,
    ) -> None:
        self.store = store
        self.routing = routing
        self.grace_seconds = grace_seconds
        self.clock = clock
        self.batch = batch
        self.paused_total = 0
        # Called with each agent found gone (whatever their state), once per absence:
        # the chat edge puts the chats they held back in the queue.
        self.on_gone: list[Callable[[int], Awaitable[None]]] = []

    async def seen(self, user_ids: Collection[int]) -> None:
        await self.store.seen(user_ids, self.clock())

    async def sweep(self, live: Callable[[int], bool]) -> list[int]:
        """Pause every ready agent without a live console for the grace; their ids.

        ``live(user_id)``: whether this node has a console of theirs right now (then
        they are seen again instead)."""
        now = self.clock()
        before = now - self.grace_seconds
        paused: list[int] = []
        for user_id in await self.store.due(before, self.batch):
            if live(user_id):
                await self.store.seen([user_id], now)
                continue
            if not await self.store.claim(user_id, before):
                continue  # seen again meanwhile, or another node took it
            if await self._pause(user_id):
                paused.append(user_id)
            for listener in self.on_gone:
                try:
                    await listener(user_id)
                except Exception:
                    log.exception("presence: a listener failed for agent %s", user_id)
        self.paused_total += len(paused)
        return paused

    async def _pause(self, user_id: int) -> bool:
        if self.routing is None:
            return False
        agent_id = str(user_id)
        try:
            described: dict[str, Any] = await self.routing.describe_agent(agent_id)
            if described["state"] != AgentState.READY:
                return False
            await self.routing.run(
                cmd.SetAgentState(
                    agent_id=agent_id,
                    state=str(AgentState.NOT_READY),
                    reason=DISCONNECTED_REASON,
                    by="system",
                )
            )
        except AppError as exc:
            log.warning("presence: could not pause agent %s: %s", agent_id, exc)
            return False
        log.info(
            "presence: agent %s had no console for %.0f s: not ready (disconnected)",
            agent_id,
            self.grace_seconds,
        )
        return True
