"""Server-side browser sessions: a port with an in-memory and a Redis implementation.

The browser holds only a random session secret in an HttpOnly cookie; the store is
keyed by its SHA-256, so reading the store (or a Redis dump) gives no usable cookie.
A session expires when it has been idle longer than the configured time: every
authenticated request "touches" it, atomically checking the idle limit and moving
``last_seen`` forward. Time is passed in, so expiry is testable without sleeping;
Redis keys also carry a TTL so abandoned sessions are garbage-collected, and so does
each user's index of session ids (it lives as long as the user's longest-lived
session), so nothing in Redis outlives the sessions it names. The in-memory store
sweeps idle sessions out as new ones are saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclasses.dataclass(frozen=True, slots=True)
class BrowserSession:
    key: str  # SHA-256 of the cookie secret
    user_id: int
    csrf_token: str
    created_at: float
    last_seen: float


@dataclasses.dataclass(frozen=True, slots=True)
class NewSession:
    """A freshly created session and the cookie secret that names it (never stored)."""

    session: BrowserSession
    secret: str


def session_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_session(user_id: int, *, now: float) -> NewSession:
    secret = secrets.token_urlsafe(32)
    session = BrowserSession(
        key=session_key(secret),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen=now,
    )
    return NewSession(session=session, secret=secret)


class SessionStore(Protocol):
    async def save(self, session: BrowserSession, *, idle_seconds: float) -> None:
        """Store a new session."""

    async def touch(self, key: str, *, now: float, idle_seconds: float) -> BrowserSession | None:
        """The live session (with ``last_seen`` moved to ``now``), or None if absent or idle
        for more than ``idle_seconds`` (an idle session is deleted)."""

    async def delete(self, key: str) -> None:
        """End one session (logout)."""

    async def delete_user(self, user_id: int) -> int:
        """End every session of a user (disabled, password reset); returns how many."""

    async def close(self) -> None:
        """Release connections."""

    async def health(self) -> dict[str, Any]:
        """For /status: ``ok`` and which backend holds the sessions."""


class MemorySessionStore:
    """Sessions in this process (single node)."""

    def __init__(self) -> None:
        self._sessions: dict[str, BrowserSession] = {}
        self._swept_at = float("-inf")

    async def save(self, session: BrowserSession, *, idle_seconds: float) -> None:
        now = session.created_at
        if now - self._swept_at > idle_seconds:
            # Sessions abandoned without a logout are never touched again: drop the idle
            # ones at most once per idle period, so the dict does not grow for ever.
            self._swept_at = now
            self._sessions = {
                k: s for k, s in self._sessions.items() if now - s.last_seen <= idle_seconds
            }
        self._sessions[session.key] = session

    async def touch(self, key: str, *, now: float, idle_seconds: float) -> BrowserSession | None:
        session = self._sessions.get(key)
        if session is None:
            return None
        if now - session.last_seen > idle_seconds:
            del self._sessions[key]
            return None
        session = dataclasses.replace(session, last_seen=max(now, session.last_seen))
        self._sessions[key] = session
        return session

    async def delete(self, key: str) -> None:
        self._sessions.pop(key, None)

    async def delete_user(self, user_id: int) -> int:
        doomed = [k for k, s in self._sessions.items() if s.user_id == user_id]
        for key in doomed:
            del self._sessions[key]
        return len(doomed)

    async def close(self) -> None:
        self._sessions.clear()

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory", "sessions": len(self._sessions)}


# KEYS[1] = session hash, KEYS[2] = its user's index. ARGV = ttl ms, session key,
# then the hash's fields and values. The index lives as long as its longest session.
_SAVE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS[1] = session hash. ARGV = now, idle seconds, ttl ms, the user index's key
# prefix, session key. Returns the session's fields, or an empty list when absent or
# idle (then deleted). A live session keeps its user's index alive at least as long as
# itself: the index's key is only known from the session (its user id), so it is
# built here, as on one standalone Redis (like the multi-key DEL in delete_user).
_TOUCH = """
local last = redis.call('HGET', KEYS[1], 'last_seen')
if not last then return {} end
local index = ARGV[4] .. redis.call('HGET', KEYS[1], 'user_id')
local now = tonumber(ARGV[1])
if now - tonumber(last) > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', index, ARGV[5])
  return {}
end
if now > tonumber(last) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', index, ARGV[5])
if redis.call('PTTL', index) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', index, ARGV[3])
end
return redis.call('HGETALL', KEYS[1])
"""


class RedisSessionStore:
    """Sessions in Redis, shared by every node behind the load balancer."""

    def __init__(self, redis: Redis, *, prefix: str = "cc") -> None:
        self._redis = redis
        self._prefix = prefix
        self._save = redis.register_script(_SAVE)
        self._touch = redis.register_script(_TOUCH)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:session:{key}"

    def _user_key(self, user_id: int) -> str:
        return f"{self._user_prefix}{user_id}"

    @property
    def _user_prefix(self) -> str:
        return f"{self._prefix}:user-sessions:"

    @staticmethod
    def _ttl_ms(idle_seconds: float) -> int:
        # A margin over the idle limit: the Lua check decides expiry, the TTL only collects.
        return math.ceil(idle_seconds * 1000) + 60_000

    async def save(self, session: BrowserSession, *, idle_seconds: float) -> None:
        key = self._key(session.key)
        fields = {
            "user_id": str(session.user_id),
            "csrf_token": session.csrf_token,
            "created_at": repr(session.created_at),
            "last_seen": repr(session.last_seen),
        }
        pairs = [item for pair in fields.items() for item in pair]
        await self._save(
            keys=[key, self._user_key(session.user_id)],
            args=[self._ttl_ms(idle_seconds), session.key, *pairs],
        )
        await self._prune_index(session.user_id)

    async def _prune_index(self, user_id: int) -> None:
        # Sessions that expired by TTL stay named in the user's index: drop them at login.
        members = [_text(m) for m in await self._redis.smembers(self._user_key(user_id))]
        if not members:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.exists(self._key(member))
            alive = await pipe.execute()
        stale = [m for m, live in zip(members, alive, strict=True) if not live]
        if stale:
            await self._redis.srem(self._user_key(user_id), *stale)

    async def touch(self, key: str, *, now: float, idle_seconds: float) -> BrowserSession | None:
        raw = await self._touch(
            keys=[self._key(key)],
            args=[
                repr(now),
                repr(idle_seconds),
                self._ttl_ms(idle_seconds),
                self._user_prefix,
                key,
            ],
        )
        if not raw:
            return None
        fields = {_text(raw[i]): _text(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}
        return BrowserSession(
            key=key,
            user_id=int(fields["user_id"]),
            csrf_token=fields["csrf_token"],
            created_at=float(fields["created_at"]),
            last_seen=float(fields["last_seen"]),
        )

    async def delete(self, key: str) -> None:
        user_id = await self._redis.hget(self._key(key), "user_id")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(key))
            if user_id is not None:
                pipe.srem(self._user_key(int(user_id)), key)
            await pipe.execute()

    async def delete_user(self, user_id: int) -> int:
        members = await self._redis.smembers(self._user_key(user_id))
        keys = [self._key(_text(m)) for m in members]
        if not keys:
            return 0
        removed = int(await self._redis.delete(*keys))
        await self._redis.delete(self._user_key(user_id))
        return removed

    async def close(self) -> None:
        """The Redis client is owned by whoever created it."""

    async def health(self) -> dict[str, Any]:
        # A failed ping raises: /status reports the exception's type.
        await self._redis.ping()
        return {"ok": True, "backend": "redis", "keys": f"{self._prefix}:session:*"}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
