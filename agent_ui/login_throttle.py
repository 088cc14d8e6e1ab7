"""Login (and search) rate limiting: a port with an in-memory and a Redis implementation.

Each key (``user:alice``, ``addr:192.0.2.7``) holds a sliding window of login
attempts. :meth:`LoginThrottle.acquire` atomically checks the window and, if there is
room, records the attempt, so concurrent guesses cannot slip past a check-then-record
race (argon2 takes ~100 ms, plenty of time for such a race). A successful login
:meth:`~LoginThrottle.forgive`\\s its own attempt, so only failures count: a hundred
agents behind one office NAT logging in at nine do not lock each other out.
Time is passed in, so tests never sleep. The same sliding windows limit customer
searches per user, in a store of their own: searches made (``search:<user id>``) and
profiles shown (``search-results:<user id>``, :meth:`~LoginThrottle.charge`\\d after
each search with the number of results).
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    allowed: bool
    # Seconds until an attempt would be allowed again (0 when allowed).
    retry_after: float
    # Names the recorded attempt, for forgive(); empty when refused.
    ticket: str


class LoginThrottle(Protocol):
    async def acquire(self, key: str, *, limit: int, window: float, now: float) -> Attempt:
        """Record an attempt on ``key`` unless ``limit`` attempts already fall in the last
        ``window`` seconds."""

    async def forgive(self, key: str, ticket: str) -> None:
        """Remove one recorded attempt (it succeeded)."""

    async def charge(self, key: str, count: int, *, window: float, now: float) -> None:
        """Record ``count`` more attempts unconditionally (a search that showed ``count``
        more profiles): the next :meth:`acquire` is refused until they leave the window."""

    async def clear(self, key: str) -> None:
        """Forget every attempt on ``key``."""

    async def close(self) -> None:
        """Release connections."""

    async def health(self) -> dict[str, Any]:
        """For /status: ``ok`` and which backend holds the attempts."""


class MemoryLoginThrottle:
    """Attempt windows in this process (single node)."""

    def __init__(self) -> None:
        self._attempts: dict[str, list[tuple[float, str]]] = {}
        self._swept_at = float("-inf")

    async def acquire(self, key: str, *, limit: int, window: float, now: float) -> Attempt:
        if now - self._swept_at > window:
            # Forget keys whose attempts all left the window: guessing a million
            # usernames must not grow this dict for ever.
            self._swept_at = now
            self._attempts = {
                k: v for k, v in self._attempts.items() if v and max(a[0] for a in v) > now - window
            }
        recent = [a for a in self._attempts.get(key, []) if a[0] > now - window]
        if len(recent) >= limit:
            self._attempts[key] = recent
            # Allowed again once enough have left the window for one more to fit.
            freed_by = sorted(at for at, _ in recent)[len(recent) - limit]
            return Attempt(False, max(0.0, freed_by + window - now), "")
        ticket = uuid.uuid4().hex
        recent.append((now, ticket))
        self._attempts[key] = recent
        return Attempt(True, 0.0, ticket)

    async def forgive(self, key: str, ticket: str) -> None:
        remaining = [a for a in self._attempts.get(key, []) if a[1] != ticket]
        if remaining:
            self._attempts[key] = remaining
        else:
            self._attempts.pop(key, None)

    async def charge(self, key: str, count: int, *, window: float, now: float) -> None:
        if count > 0:
            self._attempts.setdefault(key, []).extend((now, uuid.uuid4().hex) for _ in range(count))

    async def clear(self, key: str) -> None:
        self._attempts.pop(key, None)

    async def close(self) -> None:
        self._attempts.clear()

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory"}


# KEYS[1] = the key's sorted set (score = attempt time, member = ticket).
# ARGV = now, window seconds, limit, ticket, ttl ms.
# Returns {1, "0"} when recorded, {0, retry_after} when refused (as a string:
# Redis truncates Lua numbers to integers).
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over >= 0 then
  -- Allowed again once enough have left the window for one more to fit.
  local freed_by = redis.call('ZRANGE', KEYS[1], over, over, 'WITHSCORES')
  return {0, tostring(tonumber(freed_by[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, '0'}
"""

# KEYS[1] = the key's sorted set. ARGV = now, ttl ms, then one new member per attempt.
_CHARGE = """
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisLoginThrottle:
    """Attempt windows in Redis, shared by every node."""

    def __init__(self, redis: Redis, *, prefix: str = "cc", name: str = "login-attempts") -> None:
        self._redis = redis
        self._prefix = prefix
        self._name = name
        self._acquire = redis.register_script(_ACQUIRE)
        self._charge = redis.register_script(_CHARGE)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{self._name}:{key}"

    async def acquire(self, key: str, *, limit: int, window: float, now: float) -> Attempt:
        ticket = uuid.uuid4().hex
        ttl_ms = math.ceil(window * 1000) + 1000
        allowed, retry = await self._acquire(
            keys=[self._key(key)], args=[repr(now), repr(window), limit, ticket, ttl_ms]
        )
        if int(allowed) == 1:
            return Attempt(True, 0.0, ticket)
        retry_text = retry.decode() if isinstance(retry, bytes) else str(retry)
        return Attempt(False, max(0.0, float(retry_text)), "")

    async def forgive(self, key: str, ticket: str) -> None:
        await self._redis.zrem(self._key(key), ticket)

    async def charge(self, key: str, count: int, *, window: float, now: float) -> None:
        if count <= 0:
            return
        ttl_ms = math.ceil(window * 1000) + 1000
        tickets = [uuid.uuid4().hex for _ in range(count)]
        await self._charge(keys=[self._key(key)], args=[repr(now), ttl_ms, *tickets])

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    async def close(self) -> None:
        """The Redis client is owned by whoever created it."""

    async def health(self) -> dict[str, Any]:
        # A failed ping raises: /status reports the exception's type.
        await self._redis.ping()
        return {"ok": True, "backend": "redis", "keys": f"{self._prefix}:{self._name}:*"}
