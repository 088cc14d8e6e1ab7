"""Redis router state: any number of nodes, one matcher per shard holding a fenced lease.

Mechanism (the reasoning is in docs/routing.md, "Decisions"):

* Every node may submit commands. The node holding the shard's lease (the *leader*)
  applies them, in order, to an in-memory :class:`RoutingEngine`; other nodes append
  theirs to the shard's command stream and wait for the reply.
* After each batch the leader commits, in one Lua script, one entry of the shard's
  command *log* (the batch's commands, each with the time it was applied at), the id
  of the last stream command applied, and the replies to other nodes. The script first
  checks that the lease still names this leader (the fencing token ``node|epoch``); a
  leader that lost its lease can write nothing. Then it publishes the batch's events;
  the next commit notes the log entry they came from as published.
* The log is also the events' outbox: the engine is deterministic, so the log entries
  after the last one noted as published give back, replayed, exactly the events a
  leader may have died before publishing. (A separate outbox stream holding every
  event once more cost a third of Redis' time per commit, measured.)
* Every ``checkpoint_seconds`` (or ``checkpoint_commands`` logged commands, and when a
  leader shuts down) the leader writes a *checkpoint*: every contact, agent and
  statistics record as of one log entry. A forked child (a copy-on-write snapshot of
  the leader, as Redis does for its own snapshots) serialises them while the leader
  goes on, and stages them in Redis on a connection of its own; then one fenced script
  swaps them in for the records, notes the log entry they reflect and trims the log up
  to it. Writing records at every batch cost most of a commit, and writing them in the
  leader's own process paused it for a fifth of a second at a time.
* A new leader loads the records, replays the log after the checkpoint on its engine
  (the engine is deterministic: time is passed in, and the log holds it), resumes the
  stream after the last applied id (so a command is applied exactly once even if the
  old leader died mid-batch), publishes the events of the replayed entries it cannot
  prove were published (at least once), and carries on. The lease expires
  ``lease_seconds`` after a leader dies, so a SIGKILLed node is replaced within that,
  plus the load and replay (a few seconds at most with the default checkpoint limits).

Keys share one hash tag per shard (``{<prefix>:<shard>}``) so the scripts' keys live
in one cluster slot; key names are always passed in, never built inside scripts. The
application's prefix names its deployment (``<key_prefix>:<namespace>``, see
routing/wiring.py), so deployments sharing one Redis keep apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import signal
import time
import uuid
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NoReturn, TypeVar

import msgspec
import orjson
import redis
import redis.asyncio as aioredis
import redis.connection
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from contact_center.domain.events import (
    DomainEvent,
    event_from_dict,
    event_from_fields,
    event_from_json_fields,
    to_json,
)
from contact_center.errors import AppError
from routing.backends.base import CommandResult
from routing.commands import (
    Command,
    FireTimers,
    command_from_dict,
    command_from_json,
    command_to_json,
    decode_logged,
    decode_submitted,
)
from routing.commands import fires_timers_first as _fires_first
from routing.engine import RoutingEngine
from routing.errors import InvalidCommand, InvalidRoutingConfig, RouterUnavailable, rebuild_error
from routing.model import RoutingConfig
from routing.ports import EventSink

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_ACQUIRE = """
-- KEYS: leader, epoch. ARGV: node id, lease ms. Returns the token or false.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. '|' .. epoch
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
"""

_RENEW = """
-- KEYS: leader. ARGV: token, lease ms.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# One batch, atomically, only while the lease is ours; then the commands submitted since
# the leader last read, so that it reads the stream without a round trip of its own.
_COMMIT = """
-- KEYS: leader, meta, commands, log, reply keys...
-- ARGV: token, applied id ('' = none), published log id ('' = same),
--       log json ('' = none), read after ('' = do not read), read count,
--       n replies, key index, json...
-- Returns {log entry id, command entries read} ('' where none).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local log_id = ''
if ARGV[4] ~= '' then
  log_id = redis.call('XADD', KEYS[4], '*', 'c', ARGV[4])
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], 'applied', ARGV[2])
  redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[2])
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'published_log', ARGV[3])
end
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local key = KEYS[4 + tonumber(ARGV[i])]
  redis.call('RPUSH', key, ARGV[i + 1])
  redis.call('PEXPIRE', key, 600000)
  i = i + 2
end
local read = ''
if ARGV[5] ~= '' then
  read = redis.call('XRANGE', KEYS[3], '(' .. ARGV[5], '+', 'COUNT', ARGV[6])
end
return {log_id, read}
"""

# A whole checkpoint staged: it replaces the records, and the log up to it goes.
_PROMOTE = """
-- KEYS: leader, meta, log, contacts, agents, stats, their three staging hashes.
-- ARGV: token, log id covered, seq, now.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
for n = 4, 6 do
  -- UNLINK frees the old records off Redis' main thread; RENAME is then O(1).
  redis.call('UNLINK', KEYS[n])
  if redis.call('EXISTS', KEYS[n + 3]) == 1 then
    redis.call('RENAME', KEYS[n + 3], KEYS[n])
    redis.call('PERSIST', KEYS[n])
  end
end
redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'now', ARGV[4], 'checkpoint', ARGV[2])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[2])
return 1
"""


def router_client(url: str, *, max_connections: int = 400) -> aioredis.Redis:
    """A Redis client for :class:`RedisRouterBackend`: without a socket timeout, since
    the backend bounds each of its calls itself (redis-py's socket timeout wraps every
    send in a task and a timer: about a tenth of the leader's time, measured)."""
    return aioredis.from_url(url, max_connections=max_connections, socket_timeout=None)


class _OwnedConnection:
    """One connection of the client's pool, held by one loop that sends a command at a
    time on it (the apply loop's commits, a node's submissions, its reply reads):
    without the pool's checkout, release and instrumentation around every call, which
    cost about 25 us a call here (measured), and in order. After an error, or a call
    cut short by its deadline, redis-py has closed it and the next call reconnects."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._pool = client.connection_pool
        self._connection: AbstractConnection | None = None

    async def call(self, *args: Any) -> Any:
        """The raw reply to one command (bytes and lists, no response callbacks)."""
        connection = self._connection
        if connection is None:
            connection = self._connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        await connection.send_packed_command(connection.pack_command(*args), check_health=False)
        return await connection.read_response()

    async def run(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """EVALSHA, loading the script first if Redis does not know it (restarted)."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", script.script)
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._pool.release(connection)


class RedisKeys:
    def __init__(self, prefix: str, shard: str) -> None:
        tag = "{" + f"{prefix}:{shard}" + "}"
        self.leader = f"{tag}:leader"
        self.epoch = f"{tag}:epoch"
        self.contacts = f"{tag}:contacts"
        self.agents = f"{tag}:agents"
        self.stats = f"{tag}:stats"
        self.meta = f"{tag}:meta"
        self.events = f"{tag}:events"
        self.commands = f"{tag}:commands"
        # Commands applied since the last checkpoint of the records, in order.
        self.log = f"{tag}:log"
        # Commands that made an engine fail (node|request id): refused if read again.
        self.set_aside = f"{tag}:set-aside"
        # The hash tag every key of the shard starts with (shown by /status).
        self.tag = tag

    def reply(self, node_id: str) -> str:
        return f"{self.tag}:reply:{node_id}"

    def wake(self, node_id: str) -> str:
        return f"{self.tag}:wake:{node_id}"

    def staging(self, checkpoint: str) -> tuple[str, str, str]:
        """Where one checkpoint's contacts, agents and statistics are written before
        they replace the records (``checkpoint``: unique per leader and attempt)."""
        base = f"{self.tag}:staging:{checkpoint}"
        return f"{base}:contacts", f"{base}:agents", f"{base}:stats"


class _Pending:
    """A command waiting to be applied by this node as leader."""

    __slots__ = ("command", "future", "refused", "reply_to", "request_id", "stream_id")

    def __init__(
        self,
        command: Command | None,
        future: asyncio.Future[CommandResult] | None,
        stream_id: str | None = None,
        reply_to: str | None = None,
        request_id: str | None = None,
        refused: AppError | None = None,
    ) -> None:
        self.command = command
        self.refused = refused
        self.future = future
        self.stream_id = stream_id
        self.reply_to = reply_to
        self.request_id = request_id


class _Inbox:
    """Commands waiting for the apply loop, in order: a deque and a wake-up flag (the
    leader puts every command here; asyncio.Queue costs more per item)."""

    def __init__(self) -> None:
        self._items: deque[_Pending] = deque()
        self._ready = asyncio.Event()
        # True while take() waits for a command: the stream reader then reads for it.
        self.idle = False
        self.on_idle: Callable[[], None] = _nothing

    def __len__(self) -> int:
        return len(self._items)

    def put(self, pending: _Pending) -> None:
        self._items.append(pending)
        if not self._ready.is_set():
            self._ready.set()

    async def take(self, limit: int) -> list[_Pending]:
        """At least one command, up to ``limit`` (more to finish a stream entry: only
        its last command carries the id the commit records as applied)."""
        items = self._items
        while not items:
            self._ready.clear()
            self.idle = True
            self.on_idle()
            try:
                await self._ready.wait()
            finally:
                self.idle = False
        batch = [items.popleft()]
        while items and (
            len(batch) < limit or (batch[-1].reply_to is not None and batch[-1].stream_id is None)
        ):
            batch.append(items.popleft())
        return batch

    def drain(self) -> list[_Pending]:
        items = list(self._items)
        self._items.clear()
        return items


def _nothing() -> None:
    return None


class _LostLease(Exception):
    pass


class _EngineFailed(Exception):
    """The engine raised something other than a refusal: its state cannot be trusted."""


class RedisRouterBackend:
    def __init__(
        self,
        config: RoutingConfig,
        client: aioredis.Redis,
        *,
        sink: EventSink,
        node_id: str | None = None,
        key_prefix: str = "cc",
        shard: str = "default",
        lease_seconds: float = 3.0,
        command_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        can_lead: bool = True,
        run_timers: bool = True,
        max_batch: int = 512,
        engine_factory: Callable[[RoutingConfig], RoutingEngine] = RoutingEngine,
        checkpoint_seconds: float = 5.0,
        checkpoint_commands: int = 100_000,
    ) -> None:
        if not hasattr(os, "fork"):
            # Checkpoints are written by a forked child (see _start_checkpoint).
            raise InvalidRoutingConfig(
                "the Redis routing backend needs os.fork (Linux, macOS): "
                "use the memory backend on this platform"
            )
        self.config = config
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.keys = RedisKeys(key_prefix, shard)
        self._redis = client
        self._sink = sink
        self._lease_ms = int(lease_seconds * 1000)
        # Every Redis call is bounded here, so the client needs no socket timeout of its
        # own (see router_client): redis-py's wraps each send in a task and a timer.
        self._call_timeout = max(1.0, lease_seconds)
        self._command_timeout = command_timeout
        self._clock = clock
        self._can_lead = can_lead
        self._run_timers = run_timers
        self._max_batch = max_batch
        self._engine_factory = engine_factory
        self.checkpoint_seconds = checkpoint_seconds
        self.checkpoint_commands = checkpoint_commands
        # Since the last checkpoint: commands logged, and when it was (monotonic).
        self._logged = 0
        self._checkpointed_at = 0.0
        self._checkpoint_wanted = False
        # The checkpoint being written (by a forked child, see _start_checkpoint), the
        # attempts so far, and child processes not yet reaped.
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpoints = 0
        self._children: set[int] = set()
        self._checkpoint_retry_at = 0.0
        # The id of the last log entry this leader committed (or replayed).
        self._log_id = "0-0"
        self._set_aside: set[str] = set()
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._commit = client.register_script(_COMMIT)
        self._promote = client.register_script(_PROMOTE)
        self._child_client = _child_client(client)
        self._reply_key = self.keys.reply(self.node_id)
        self._wake_key = self.keys.wake(self.node_id)
        self._stop = asyncio.Event()
        self._submissions: list[bytes] = []
        self._submitting = False
        # Used by one _submit task at a time (see _submitting).
        self._submit_connection = _OwnedConnection(client)
        # Commands submitted to the leader: request id -> (future, when it gives up).
        self._waiting: dict[str, tuple[asyncio.Future[CommandResult], float]] = {}
        # Request ids: unique per process (the prefix) and per request (the counter).
        self._request_prefix = uuid.uuid4().hex[:8] + "-"
        self._requests = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._lead_tasks: list[asyncio.Task[None]] = []
        self._token: str | None = None
        self._engine: RoutingEngine | None = None
        self._inbox = _Inbox()
        # The last command stream entry read, and "the apply loop wants the stream read"
        # (it has nothing to do, or its last batch committed nothing and so read nothing).
        self._read_upto = "0-0"
        self._read_wanted = asyncio.Event()
        self._wake = asyncio.Event()
        # The deadline the timer task sleeps until: a batch wakes it only when it arms
        # an earlier one (see the memory backend).
        self._sleeping_until = math.inf
        # The log entry whose events were published last, and the value the last commit
        # noted in Redis (None: none yet as this leader).
        self._published_log = "0-0"
        self._noted_published: str | None = None
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()
        self._in_flight: list[_Pending] = []
        self.leading = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._bounded(self._redis.ping())
        self._tasks.append(asyncio.create_task(self._read_replies(), name="routing-replies"))
        self._tasks.append(asyncio.create_task(self._expire_waiting(), name="routing-timeouts"))
        if self._can_lead:
            self._tasks.append(asyncio.create_task(self._campaign(), name="routing-lease"))

    async def close(self) -> None:
        if self._engine is not None:
            # The next leader then loads records with nothing to replay.
            with contextlib.suppress(AppError, TimeoutError):
                async with asyncio.timeout(3):
                    await self.checkpoint()
        self._closing = True
        self._stop.set()
        await self._step_down("closing")
        # The blocking reply read is woken rather than left to its deadline.
        with contextlib.suppress(RedisError, TimeoutError):
            await self._bounded(self._redis.rpush(self._reply_key, _STOP))
        await _finish(self._tasks, timeout=3.0)
        self._tasks.clear()
        if not self._submitting:
            await self._submit_connection.release()
        self._reap_children()
        for future, _deadline in self._waiting.values():
            if not future.done():
                future.set_exception(RouterUnavailable("router node closed"))
        self._waiting.clear()

    async def health(self) -> dict[str, Any]:
        """Redis reachable and some node holding the shard's lease (this one or another)."""
        report: dict[str, Any] = {
            "backend": "redis",
            "keys": f"{self.keys.tag}:*",
            "node_id": self.node_id,
            "leading": self._engine is not None,
        }
        try:
            token: Any = await self._bounded(self._redis.get(self.keys.leader), 2)
        except (RedisError, OSError, TimeoutError) as exc:
            return {**report, "ok": False, "error": f"cannot reach Redis: {exc}"}
        leader = bytes(token or b"").decode(errors="replace").rpartition("|")[0]
        report["leader"] = leader
        if not leader:
            return {**report, "ok": False, "error": "no router node holds the lease"}
        return {**report, "ok": True}

    async def checkpoint(self) -> None:
        """On the leader: write a checkpoint of the records as of now (after a
        FireTimers, which fires only what is due anyway) and return once it replaced
        the records. Elsewhere: nothing to do."""
        if self._engine is None:
            return
        await self.checkpoint_written()
        done: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._checkpoint_wanted = True
        self._inbox.put(_Pending(FireTimers(), done))
        await done
        await self.checkpoint_written()

    async def checkpoint_written(self) -> None:
        """Return once no checkpoint is being written (at once if none is)."""
        task = self._checkpointing
        if task is not None:
            # Waits without taking the task's outcome (a failure is logged by it).
            await asyncio.wait([task])

    @property
    def engine(self) -> RoutingEngine | None:
        """The leader's engine (None on other nodes)."""
        return self._engine

    # ------------------------------------------------------------------ submitting

    async def execute(self, command: Command) -> CommandResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommandResult] = loop.create_future()
        if self._engine is not None:
            # Applied here: the apply loop settles every future it takes (or, on losing
            # the lease, forwards it to the next leader with a timeout of its own), so
            # no timer is needed.
            self._inbox.put(_Pending(command, future))
            return await future
        self._requests += 1
        request_id = f"{self._request_prefix}{self._requests}"
        # Timed out by _expire_waiting: one sweeper, not a timer per command.
        self._waiting[request_id] = (future, loop.time() + self._command_timeout)
        # Concurrent callers share one stream entry: ["id", command] items in an array.
        self._submissions.append(
            b'["' + request_id.encode() + b'",' + command_to_json(command) + b"]"
        )
        if not self._submitting:
            self._submitting = True
            self._spawn(self._submit())
        return await future

    async def _submit(self) -> None:
        """Append the waiting submissions to the stream, one entry at a time: those that
        arrive while an entry is being written go in the next one (fewer, fuller entries
        cost Redis and the leader less per command)."""
        try:
            await asyncio.sleep(0)  # let callers of this loop iteration join the batch
            while self._submissions:
                batch, self._submissions = self._submissions, []
                await self._append(batch)
        finally:
            self._submitting = False

    async def _append(self, batch: list[bytes]) -> None:
        entry = b"[" + b",".join(batch) + b"]"
        try:
            await self._bounded(
                self._submit_connection.call(
                    "XADD", self.keys.commands, "*", "b", entry, "n", self.node_id
                )
            )
        except (RedisError, TimeoutError) as exc:
            for item in batch:
                # item starts with ["<request id>",
                request_id = item[2 : item.index(b'"', 2)].decode()
                waiting = self._waiting.pop(request_id, None)
                if waiting is not None and not waiting[0].done():
                    waiting[0].set_exception(RouterUnavailable(f"cannot reach Redis: {exc}"))

    async def _expire_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        interval = min(1.0, self._command_timeout / 4)
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()
            now = loop.time()
            expired = [rid for rid, (_f, deadline) in self._waiting.items() if deadline <= now]
            for request_id in expired:
                future, _deadline = self._waiting.pop(request_id)
                if not future.done():
                    future.set_exception(
                        RouterUnavailable(
                            f"no router node answered within {self._command_timeout} s"
                        )
                    )

    async def _read_replies(self) -> None:
        connection = _OwnedConnection(self._redis)
        try:
            while not self._closing:
                try:
                    # Everything there in one call (BLMPOP, Redis 7): a BLPOP per reply
                    # and an LPOP for the rest made twice the round trips.
                    popped: Any = await self._bounded(
                        connection.call("BLMPOP", 1, 1, self._reply_key, "LEFT", "COUNT", 1000),
                        1 + self._call_timeout,
                    )
                except (RedisError, TimeoutError):
                    log.warning("reading routing replies failed; retrying", exc_info=True)
                    await asyncio.sleep(0.2)
                    continue
                for raw in popped[1] if popped else ():
                    self._handle_reply(raw)
        finally:
            await connection.release()

    def _handle_reply(self, raw: bytes) -> None:
        if raw == _STOP:
            return
        try:
            typed = _REPLIES.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            typed = None  # an error reply, an older leader's format, or garbage: below
        if typed is not None:
            for reply in typed:
                self._settle_typed(reply)
            return
        try:
            replies = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.error("unreadable routing reply dropped: %r", raw[:200])
            return
        # One list element holds every reply of a commit to this node.
        for reply in replies if isinstance(replies, list) else (replies,):
            self._settle_reply(reply)

    def _waiting_for(self, request_id: Any) -> asyncio.Future[CommandResult] | None:
        """The caller still waiting for ``request_id``'s reply, no longer waiting for it."""
        waiting = self._waiting.pop(request_id, None)
        if waiting is None or waiting[0].done():
            return None
        return waiting[0]

    def _settle_typed(self, reply: _Reply) -> None:
        future = self._waiting_for(reply.r)
        if future is None:
            return
        try:
            events = tuple([event_from_json_fields(name, fields) for name, fields in reply.events])
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError) as exc:
            future.set_exception(RouterUnavailable(f"unreadable reply: {exc}"))
        else:
            future.set_result(CommandResult(events=events, value=reply.value))

    def _settle_reply(self, reply: Any) -> None:
        try:
            future = self._waiting_for(reply["r"])
        except (KeyError, TypeError):
            log.error("unreadable routing reply dropped: %r", str(reply)[:200])
            return
        if future is None:
            return
        try:
            if reply.get("error"):
                error = reply["error"]
                future.set_exception(rebuild_error(error["id"], error["message"], error["details"]))
            else:
                events = tuple(_decode_listed(reply["events"]))
                future.set_result(CommandResult(events=events, value=reply.get("value")))
        except Exception as exc:
            future.set_exception(RouterUnavailable(f"unreadable reply: {exc}"))

    # ------------------------------------------------------------------ leadership

    async def _campaign(self) -> None:
        interval = self._lease_ms / 3000.0
        while not self._closing:
            try:
                if self._token is None:
                    token = await self._bounded(
                        self._acquire(
                            keys=[self.keys.leader, self.keys.epoch],
                            args=[self.node_id, self._lease_ms],
                        )
                    )
                    if token:
                        await self._bounded(self._become_leader(token.decode()), _TAKE_OVER_SECONDS)
                else:
                    renewed = await self._bounded(
                        self._renew(keys=[self.keys.leader], args=[self._token, self._lease_ms])
                    )
                    if not renewed:
                        await self._step_down("lease lost")
            except (RedisError, TimeoutError):
                log.warning("routing lease check failed", exc_info=True)
                if self._token is not None:
                    await self._step_down("redis unreachable")
            except Exception:
                log.exception("routing leadership error")
                await self._step_down("error")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()

    async def _become_leader(self, token: str) -> None:
        engine = self._engine_factory(self.config)
        # redis-py's return types are unions of every reply shape; these are bytes maps.
        raw_contacts: Any = await self._redis.hgetall(self.keys.contacts)
        raw_agents: Any = await self._redis.hgetall(self.keys.agents)
        raw_stats: Any = await self._redis.hgetall(self.keys.stats)
        raw_meta: Any = await self._redis.hgetall(self.keys.meta)
        set_aside: Any = await self._redis.smembers(self.keys.set_aside)
        self._set_aside = {member.decode() for member in set_aside}
        meta = {k.decode(): v.decode() for k, v in raw_meta.items()}
        engine.load(
            (orjson.loads(v) for v in raw_contacts.values()),
            (orjson.loads(v) for v in raw_agents.values()),
            {k.decode(): orjson.loads(v) for k, v in raw_stats.items()},
            {"seq": meta.get("seq", 0), "now": meta.get("now", 0.0)},
        )
        applied = meta.get("applied", "0-0")
        self._log_id = meta.get("checkpoint", "0-0")
        # Absent: written by an earlier version, whose outbox stream holds the events.
        self._logged, unpublished = await self._replay(engine, meta.get("published_log"))
        self._published_log = self._log_id
        self._noted_published = None
        self._checkpointed_at = time.monotonic()
        await self._redis.delete(self._wake_key)
        self._token = token
        self._engine = engine
        self._inbox = _Inbox()
        self._inbox.on_idle = self._read_wanted.set
        self._read_upto = applied
        self._read_wanted.set()
        log.info(
            "router node %s leads shard (token %s, %d contacts, %d agents, %d commands replayed)",
            self.node_id,
            token,
            len(raw_contacts),
            len(raw_agents),
            self._logged,
        )
        await self._republish_outbox(meta.get("published", "0-0"))
        if unpublished:
            await self._sink.publish(unpublished)
        self._lead_tasks = [
            asyncio.create_task(self._read_commands(token), name="routing-commands"),
            asyncio.create_task(self._apply_loop(token, engine), name="routing-apply"),
        ]
        if self._run_timers:
            self._lead_tasks.append(
                asyncio.create_task(self._timer_loop(engine), name="routing-leader-timers")
            )
        self.leading.set()

    async def _replay(
        self, engine: RoutingEngine, published: str | None
    ) -> tuple[int, list[DomainEvent]]:
        """Apply the log after the checkpoint to a freshly loaded engine, as the leader
        that wrote it applied it (same commands, same times, so the same events).
        Returns the commands replayed and the events of the entries after ``published``
        (the last entry noted as published; None: collect none), which the leader that
        wrote them may have died before publishing."""
        replayed = 0
        unpublished: list[DomainEvent] = []
        published_order = _entry_order(published) if published is not None else None
        after = self._log_id
        while True:
            entries: Any = await self._redis.xrange(
                self.keys.log, min=f"({after}", max="+", count=1000
            )
            if not entries:
                break
            for entry_id, fields in entries:
                after = entry_id.decode()
                collect = published_order is not None and _entry_order(after) > published_order
                for now, command in decode_log_entry(fields[b"c"]):
                    # Refused the same way as when it was first applied.
                    with contextlib.suppress(AppError):
                        outcome = engine.execute(command, now)
                        if collect:
                            unpublished.extend(outcome.events)
                    replayed += 1
        self._log_id = after
        return replayed, unpublished

    async def _republish_outbox(self, published: str) -> None:
        """Publish what an earlier version's outbox stream holds after ``published``
        (at least once), then drop the stream: this version keeps no outbox."""
        entries: Any = await self._redis.xrange(self.keys.events, min=f"({published}", max="+")
        for _entry_id, fields in entries:
            await self._sink.publish(decode_event_batch(fields[b"e"]))
        await self._redis.delete(self.keys.events)

    async def _step_down(self, why: str, *, release: bool = False) -> None:
        if self._token is None:
            return
        token = self._token
        self._token = None
        self._engine = None
        self.leading.clear()
        tasks, self._lead_tasks = self._lead_tasks, []
        if self._checkpointing is not None:
            # Its scripts would be refused now anyway (fenced by the token).
            self._checkpointing.cancel()
            tasks.append(self._checkpointing)
        reader, others = tasks[:1], tasks[1:]
        for task in others:
            if task is not asyncio.current_task():
                task.cancel()
        # Wake the stream reader, whether it waits to read or is blocked reading.
        self._read_wanted.set()
        with contextlib.suppress(RedisError, TimeoutError):
            await self._bounded(self._redis.xadd(self._wake_key, {"w": "1"}, maxlen=10))
        await _finish(reader, timeout=3.0)
        await _finish([t for t in others if t is not asyncio.current_task()], timeout=3.0)
        # Local commands not committed go to whoever leads next, through the stream.
        inbox, self._inbox = self._inbox, _Inbox()
        for pending in inbox.drain():
            if pending.future is not None and not pending.future.done():
                self._spawn(self._forward(pending))
        # A batch cut short mid-commit may or may not have been committed: say so.
        in_flight, self._in_flight = self._in_flight, []
        for pending in in_flight:
            if pending.future is not None and not pending.future.done():
                pending.future.set_exception(
                    RouterUnavailable("router node lost its lease; outcome unknown")
                )
        log.warning("router node %s stopped leading: %s", self.node_id, why)
        if why == "closing" or release:
            with contextlib.suppress(RedisError, TimeoutError):
                await self._bounded(self._release(keys=[self.keys.leader], args=[token]))

    async def _forward(self, pending: _Pending) -> None:
        assert pending.future is not None and pending.command is not None
        if isinstance(pending.command, FireTimers):
            # The leader's own (its timer loop, a checkpoint): the next leader fires its
            # timers itself, and whoever waits here must not wait for one.
            pending.future.set_exception(RouterUnavailable("router node stopped leading"))
            return
        try:
            result = await self.execute(pending.command)
        except AppError as exc:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(result)

    async def _read_commands(self, token: str) -> None:
        """Read the command stream while the apply loop has nothing else to read it: while
        it is busy, each commit reads what was submitted meanwhile (see _COMMIT), which
        saves a round trip per batch and gets remote commands into the very next one."""
        connection = _OwnedConnection(self._redis)
        try:
            while self._token == token:
                await self._read_wanted.wait()
                self._read_wanted.clear()
                if self._token != token:
                    break
                try:
                    response: Any = await self._bounded(
                        connection.call(
                            "XREAD",
                            "COUNT",
                            _READ_COUNT,
                            "BLOCK",
                            1000,
                            "STREAMS",
                            self.keys.commands,
                            self._wake_key,
                            self._read_upto,
                            "0-0",
                        ),
                        1 + self._call_timeout,
                    )
                except (RedisError, TimeoutError):
                    log.warning("reading routing commands failed; retrying", exc_info=True)
                    await asyncio.sleep(0.2)
                    self._read_wanted.set()
                    continue
                read = False
                # A map under RESP3 (redis-py's default protocol now), pairs under RESP2.
                streams = response.items() if isinstance(response, dict) else response or ()
                for stream, entries in streams:
                    if stream.decode() != self._wake_key:
                        pairs = ((entry_id, _pairs(fields)) for entry_id, fields in entries)
                        read = self._take_entries(pairs) or read
                if not read and self._inbox.idle:
                    self._read_wanted.set()  # nothing came: block again
        finally:
            await connection.release()

    def _take_entries(self, entries: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> bool:
        """Put the commands of the stream entries not read before into the inbox, in
        order (the reader and a commit may both return an entry). True if there were."""
        upto = _entry_order(self._read_upto)
        read = False
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            order = _entry_order(entry_id)
            if order <= upto:
                continue
            for pending in _entry_commands(entry_id, fields, self._set_aside):
                self._inbox.put(pending)
            self._read_upto, upto, read = entry_id, order, True
        return read

    async def _timer_loop(self, engine: RoutingEngine) -> None:
        while True:
            deadline = engine.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            self._sleeping_until = math.inf if deadline is None else deadline
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            done: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
            self._inbox.put(_Pending(FireTimers(), done))
            with contextlib.suppress(AppError):
                await done

    async def _apply_loop(self, token: str, engine: RoutingEngine) -> None:
        commits = _OwnedConnection(self._redis)
        try:
            while True:
                batch = await self._inbox.take(self._max_batch)
                self._in_flight = batch
                try:
                    await self._apply_batch(token, engine, batch, commits)
                except (_LostLease, _EngineFailed):
                    raise
                except Exception as exc:
                    # Never leave callers hanging on a dead loop: fail the batch, reload.
                    log.exception("routing batch failed; dropping this node's engine")
                    failure = RouterUnavailable(f"router error: {exc}")
                    for pending in batch:
                        if pending.future is not None and not pending.future.done():
                            pending.future.set_exception(failure)
                    raise _EngineFailed from exc
                self._in_flight = []
        except _LostLease:
            self._spawn(self._step_down("lease lost at commit"))
        except _EngineFailed:
            # Let go of the lease at once: any node (this one too) reloads the last
            # commit and carries on without waiting for the lease to run out.
            self._spawn(self._step_down("engine error", release=True))
        finally:
            await commits.release()

    async def _apply_batch(
        self,
        token: str,
        engine: RoutingEngine,
        batch: list[_Pending],
        commits: _OwnedConnection,
    ) -> None:
        # Per command: its result or error, and its events' JSON for a remote caller.
        results: list[tuple[_Pending, CommandResult | None, AppError | None, bytes | None]] = []
        # The batch's events in order, published once it is committed.
        events: list[DomainEvent] = []
        # What the engine ran, for the log: (time, command) as the replay needs it.
        logged: list[tuple[float, Command]] = []
        applied = ""
        for pending in batch:
            try:
                command = pending.command
                if command is None:
                    raise pending.refused or RouterUnavailable("empty command")
                now = self._clock()
                if _fires_first(command) and engine.timers_due(now):
                    logged.append((now, _FIRE_TIMERS))
                    events.extend(engine.execute(_FIRE_TIMERS, now).events)
                if not command.read_only:
                    # Refused ones too: a replay must refuse them at the same point.
                    logged.append((now, command))
                outcome = engine.execute(command, now)
            except AppError as exc:
                results.append((pending, None, exc, None))
            except Exception as exc:
                # A bug, not a refusal: this engine may be half-updated, so drop it and
                # let a fresh load from Redis take over (no partial state was committed).
                log.exception("routing engine failed on %r", pending.command)
                await self._put_aside(pending, batch, exc)
                raise _EngineFailed from exc
            else:
                encoded = None
                if pending.reply_to and outcome.events:
                    encoded = encode_event_batch(outcome.events)
                events.extend(outcome.events)
                answered = CommandResult(events=tuple(outcome.events), value=outcome.value)
                results.append((pending, answered, None, encoded))
            if pending.stream_id is not None:
                applied = pending.stream_id
        self._logged += len(logged)
        # The log in one call for the whole batch.
        encoded_log = to_json(logged) if logged else b""
        # Noted once per change (and at this leader's first commit).
        published = self._published_log if self._published_log != self._noted_published else ""
        # One list element per node, holding the replies to all its commands.
        by_node: dict[str, list[dict[str, Any]]] = {}
        for pending, result, error, encoded in results:
            if pending.reply_to:
                by_node.setdefault(pending.reply_to, []).append(
                    _reply(pending.request_id, result, error, encoded)
                )
        reply_keys: list[str] = []
        replies: list[Any] = []
        for node, items in by_node.items():
            reply_keys.append(self.keys.reply(node))
            replies.extend([len(reply_keys), orjson.dumps(items, default=str)])
        if applied or encoded_log or published or replies:
            # Read the stream in the commit unless enough is waiting already.
            read_after = self._read_upto if len(self._inbox) < self._max_batch else ""
            args: list[Any] = [token, applied, published, encoded_log]
            args += [read_after, _READ_COUNT, len(replies) // 2]
            args.extend(replies)
            keys = [
                self.keys.leader,
                self.keys.meta,
                self.keys.commands,
                self.keys.log,
                *reply_keys,
            ]
            try:
                committed = await self._bounded(commits.run(self._commit, keys, args))
            except (RedisError, TimeoutError) as exc:
                unknown = RouterUnavailable(f"routing commit failed, outcome unknown: {exc}")
                for pending in batch:
                    if pending.future is not None and not pending.future.done():
                        pending.future.set_exception(unknown)
                raise _LostLease from exc
            if committed is None:
                for pending in batch:
                    if pending.future is not None and not pending.future.done():
                        self._spawn(self._forward(pending))
                self._in_flight = []
                raise _LostLease
            log_id, read = committed
            if published:
                self._noted_published = published
            if read:
                self._take_entries((entry_id, _pairs(fields)) for entry_id, fields in read)
            if log_id:
                self._log_id = log_id.decode()
            # Events come only from logged commands: a batch that has some has a log entry.
            if events:
                await self._sink.publish(events)
            self._published_log = self._log_id
        else:
            self._read_wanted.set()  # no commit, so no read: the reader reads instead
        if self._checkpoint_due():
            # The engine now holds exactly what the log holds up to _log_id.
            self._start_checkpoint(token, engine)
        for pending, result, error, _encoded in results:
            if pending.future is None or pending.future.done():
                continue
            if error is not None:
                pending.future.set_exception(error)
            else:
                assert result is not None
                pending.future.set_result(result)
        deadline = engine.next_deadline()
        if deadline is not None and deadline < self._sleeping_until:
            self._wake.set()

    async def _put_aside(self, culprit: _Pending, batch: list[_Pending], exc: Exception) -> None:
        """After an engine failure on ``culprit``: its caller hears of it, and it is set
        aside for good (a leader reading it again from the stream refuses it, so one bad
        command cannot stop the shard). The batch's other commands were not committed:
        the next leader applies them (from the stream, or forwarded from here)."""
        failure = RouterUnavailable(f"router error: {exc}")
        for pending in batch:
            if pending.future is None or pending.future.done():
                continue
            if pending is culprit:
                pending.future.set_exception(failure)
            else:
                self._spawn(self._forward(pending))
        if culprit.reply_to and culprit.request_id is not None:
            reply_key = self.keys.reply(culprit.reply_to)
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.sadd(self.keys.set_aside, f"{culprit.reply_to}|{culprit.request_id}")
                    pipe.pexpire(self.keys.set_aside, _SET_ASIDE_MS)
                    pipe.rpush(reply_key, orjson.dumps([_reply(culprit.request_id, None, failure)]))
                    pipe.pexpire(reply_key, 600_000)
                    await self._bounded(pipe.execute())
            except (RedisError, TimeoutError):
                log.warning("could not set aside the failing routing command", exc_info=True)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_due(self) -> bool:
        if self._checkpointing is not None:
            return False  # one at a time: the first batch after it asks again
        if self._checkpoint_wanted:
            return True
        now = time.monotonic()
        if self._logged == 0 or now < self._checkpoint_retry_at:
            return False
        return (
            self._logged >= self.checkpoint_commands
            or now - self._checkpointed_at >= self.checkpoint_seconds
        )

    def _start_checkpoint(self, token: str, engine: RoutingEngine) -> None:
        """Fork a child that serialises every record as the engine holds them now (the
        state the log holds up to ``_log_id``) and stages them in Redis on a connection
        of its own; the leader goes on applying commands meanwhile, and once the child
        says it is done, swaps them in. Building and serialising ~15,000 records took
        the leader 200 ms at a time when it did it itself, and handing them to Redis
        through the leader cost it and Redis about as much as the child's whole work
        (see docs/routing.md)."""
        self._checkpoint_wanted = False
        self._checkpointed_at = time.monotonic()
        self._checkpoints += 1
        self._reap_children()
        # The snapshot holds every record, so what changed since the last one matters to
        # no one here. Dropped before the fork: afterwards, each page those sets touch
        # would be copied (10 ms of the leader's time, measured).
        engine.discard_changes()
        read_fd, write_fd = os.pipe()
        try:
            pid = _fork()
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            log.warning("cannot fork to write a routing checkpoint: %s", exc)
            self._checkpoint_retry_at = time.monotonic() + 1.0
            return
        # The epoch (from the token) and the attempt make the staging keys unique.
        staging = self.keys.staging(f"{token.rpartition('|')[2]}.{self._checkpoints}")
        if pid == 0:
            _checkpoint_child(engine, read_fd, write_fd, self._child_client, staging)
        os.close(write_fd)
        self._children.add(pid)
        self._checkpointing = asyncio.create_task(
            self._write_checkpoint(token, staging, self._log_id, self._logged, pid, read_fd),
            name="routing-checkpoint",
        )

    async def _write_checkpoint(
        self,
        token: str,
        staging: tuple[str, str, str],
        covered: str,
        logged: int,
        pid: int,
        read_fd: int,
    ) -> None:
        """Wait for the child to have staged the records, then swap them in (fenced)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _protocol = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        try:
            async with asyncio.timeout(_CHECKPOINT_SECONDS):
                said = await reader.read()  # the child's last word, then it exits
            if not said:
                raise _CheckpointFailed("the checkpoint process ended before staging it all")
            meta: Any = orjson.loads(said)
            if not (isinstance(meta, dict) and "seq" in meta and "now" in meta):
                raise _CheckpointFailed(f"unexpected word from the checkpoint process: {said!r}")
            keys = [self.keys.leader, self.keys.meta, self.keys.log]
            keys += [self.keys.contacts, self.keys.agents, self.keys.stats, *staging]
            promoted = await self._bounded(
                self._promote(keys=keys, args=[token, covered, meta["seq"], meta["now"]])
            )
            if not promoted:
                raise _CheckpointFailed("lease lost")
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            raise
        except (RedisError, OSError, ValueError, TimeoutError, _CheckpointFailed) as exc:
            # Nothing is lost: the log still holds every command since the last checkpoint.
            log.warning("routing checkpoint %s failed: %s", staging[0], exc)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # not reaped yet: still this child's pid
            self._checkpoint_retry_at = time.monotonic() + 1.0
            with contextlib.suppress(RedisError, TimeoutError):
                await self._bounded(self._redis.delete(*staging))
        else:
            self._logged -= logged
        finally:
            transport.close()
            self._reap_children()
            self._checkpointing = None

    def _reap_children(self) -> None:
        for pid in list(self._children):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._children.discard(pid)

    async def _bounded(self, call: Awaitable[_T], seconds: float | None = None) -> _T:
        """``call``'s result, or TimeoutError after ``seconds`` (default: the lease time).
        Every Redis call goes through here: the router's client has no socket timeout of
        its own (see router_client)."""
        async with asyncio.timeout(self._call_timeout if seconds is None else seconds):
            return await call

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


_STOP = b"stop"
# How long a node may take to load the records and replay the log when it takes over.
_TAKE_OVER_SECONDS = 60.0
# How long set-aside command ids are kept: far longer than a command stays unapplied.
_SET_ASIDE_MS = 24 * 3600 * 1000


async def _finish(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Wait for tasks that were told to stop; cancel any that do not within ``timeout``."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _entry_commands(
    entry_id: str, fields: dict[bytes, bytes], set_aside: AbstractSet[str] = frozenset()
) -> list[_Pending]:
    """The commands of one stream entry, in order; only the last carries the entry id
    (what the commit records as applied). A malformed command is refused with an error
    reply, not lost, and does not take the entry's other commands down with it; so is
    one in ``set_aside`` (it made an engine fail before)."""
    reply_to = fields.get(b"n", b"").decode(errors="replace")
    raw = fields.get(b"b")
    # The usual case: every command well formed, all decoded and checked in one call.
    submitted = decode_submitted(raw) if raw is not None else None
    if submitted is not None:
        pendings = [
            _submitted(reply_to, request_id, command, None, set_aside)
            for request_id, command in submitted
        ]
    else:
        pendings = _one_by_one(entry_id, fields, reply_to, set_aside)
    if not pendings:
        return [_Pending(None, None, entry_id, None, None, InvalidCommand("empty entry"))]
    pendings[-1].stream_id = entry_id
    return pendings


def _one_by_one(
    entry_id: str, fields: dict[bytes, bytes], reply_to: str, set_aside: AbstractSet[str]
) -> list[_Pending]:
    """An entry that holds something malformed, decoded command by command: each bad
    one gets its own error."""
    items: list[Any] = []
    if b"b" in fields:
        try:
            decoded = orjson.loads(fields[b"b"])
        except orjson.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, list):
            # No request ids to answer: the submitters' own timeouts tell them.
            log.error("unreadable routing command entry %s dropped", entry_id)
            return [_Pending(None, None, entry_id, None, None, InvalidCommand("unreadable"))]
        items = decoded
    else:
        # One command per entry, as written by an earlier version.
        items = [[fields.get(b"r", b"").decode(errors="replace"), fields.get(b"c", b"")]]
    pendings: list[_Pending] = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            log.error("unreadable command in routing entry %s dropped: %.200r", entry_id, item)
            continue
        request_id, data = item
        refused: AppError | None = None
        command: Command | None = None
        try:
            if isinstance(data, dict):
                command = command_from_dict(data)
            elif isinstance(data, str | bytes):
                command = command_from_json(data)
            else:
                raise InvalidCommand("command must be a JSON object")
        except AppError as exc:
            refused = exc
        pendings.append(_submitted(reply_to, request_id, command, refused, set_aside))
    return pendings


def _submitted(
    reply_to: str,
    request_id: str,
    command: Command | None,
    refused: AppError | None,
    set_aside: AbstractSet[str],
) -> _Pending:
    if set_aside and f"{reply_to}|{request_id}" in set_aside:
        aside = RouterUnavailable("this command made the router fail before: set aside")
        return _Pending(None, None, None, reply_to, request_id, aside)
    return _Pending(command, None, None, reply_to, request_id, refused)


_FIRE_TIMERS = FireTimers()


class _Reply(msgspec.Struct, forbid_unknown_fields=True):
    """A reply that carries a result (see :func:`_reply`), as the submitter decodes it:
    in one call, each event's fields left as JSON for its own decoder."""

    r: str
    events: list[tuple[str, msgspec.Raw]]
    value: Any = None


_REPLIES = msgspec.json.Decoder(list[_Reply])
# Command stream entries per read (each holds all a node submitted at once).
_READ_COUNT = 1000


def _entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("<ms>-<seq>") as something that sorts like the stream."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _pairs(fields: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as a script returns them (a flat list) as a dict."""
    return dict(zip(fields[::2], fields[1::2], strict=False))


class _CheckpointFailed(Exception):
    pass


# Staging hashes of a checkpoint that was never swapped in (its leader died) expire.
_STAGING_MS = 120_000
# Records per HSET while staging: each holds Redis for well under a millisecond.
_STAGE_CHUNK = 200
# How long a checkpoint child may take before the leader gives up on it (and kills it).
_CHECKPOINT_SECONDS = 60.0


def _fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that has threads. The child only
        # serialises records and writes them to a pipe: it takes no lock another thread
        # may hold (the allocator's are reset by the C library at fork).
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _checkpoint_child(
    engine: RoutingEngine,
    read_fd: int,
    write_fd: int,
    connect: Callable[[], redis.Redis],
    staging: tuple[str, str, str],
) -> NoReturn:
    """In the forked child: stage the snapshot and exit, never returning to the loop."""
    code = 1
    try:
        os.close(read_fd)
        # A collection would touch, and so copy, every page of the parent's heap.
        gc.disable()
        # Behind the leader and Redis for the CPU: the checkpoint is in no hurry.
        with contextlib.suppress(OSError):
            os.nice(19)
        # The parent's event loop owns the signal wake-up pipe; die on SIGTERM as usual.
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                signal.signal(number, signal.SIG_DFL)
        _write_snapshot(engine, write_fd, connect, staging)
        code = 0
    finally:
        os._exit(code)


def _write_snapshot(
    engine: RoutingEngine,
    fd: int,
    connect: Callable[[], redis.Redis],
    staging: tuple[str, str, str],
) -> None:
    """Every record into the staging hashes (contacts, agents, statistics), with plain
    HSETs on a connection of the child's own (the parent's sockets belong to its event
    loop; staging keys are this attempt's alone, so only the swap needs the fence), then
    the meta JSON to ``fd`` for the parent."""
    snapshot = engine.snapshot()
    client = connect()
    for key, records in zip(
        staging, (snapshot.contacts, snapshot.agents, snapshot.stats), strict=True
    ):
        items = list(records.items())
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(items), _STAGE_CHUNK):
            chunk = {
                rid: orjson.dumps(record) for rid, record in items[start : start + _STAGE_CHUNK]
            }
            pipe.hset(key, mapping=chunk)  # type: ignore[arg-type]
        pipe.pexpire(key, _STAGING_MS)
        pipe.execute()
    with open(fd, "wb", closefd=True) as out:
        out.write(orjson.dumps(snapshot.meta))


# What a checkpoint child needs to open a connection like the client's.
_CONNECTION_PARAMETERS = (
    "host",
    "port",
    "path",
    "db",
    "username",
    "password",
    "client_name",
    "socket_connect_timeout",
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_check_hostname",
    "ssl_password",
    "ssl_min_version",
    "ssl_ciphers",
)


def _child_client(client: aioredis.Redis) -> Callable[[], redis.Redis]:
    """How a checkpoint child connects to the client's Redis (a blocking client: the
    child runs no event loop), with a socket timeout so that it cannot hang for good."""
    pool = client.connection_pool
    kind = getattr(redis.connection, pool.connection_class.__name__, redis.connection.Connection)
    parameters = {
        name: value
        for name, value in pool.connection_kwargs.items()
        if name in _CONNECTION_PARAMETERS
    }
    parameters["socket_timeout"] = _CHECKPOINT_SECONDS / 2

    def connect() -> redis.Redis:
        return redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=kind, **parameters)
        )

    return connect


def decode_log_entry(raw: bytes) -> list[tuple[float, Command]]:
    """The commands of one log entry, ``[[now, command], ...]``, with their times."""
    logged = decode_logged(raw)
    if logged is not None:
        return logged
    # As an earlier version logged them: [[now, kind, fields], ...].
    return [
        (float(now), command_from_dict({"kind": kind, **fields}))
        for now, kind, fields in orjson.loads(raw)
    ]


def encode_event_batch(events: Sequence[DomainEvent]) -> bytes:
    """``[[name, fields], ...]``: a command's events in one call (for its reply)."""
    return to_json([(event.name, event) for event in events])


def decode_event_batch(raw: bytes) -> list[DomainEvent]:
    """Events of one reply, or of an earlier version's outbox entry (see
    :func:`encode_event_batch`)."""
    return _decode_listed(orjson.loads(raw))


def _decode_listed(items: list[Any]) -> list[DomainEvent]:
    return [
        # [name, fields], or {"event": name, ...fields} as an earlier version wrote them.
        event_from_fields(item[0], item[1]) if type(item) is list else event_from_dict(item)
        for item in items
    ]


def _reply(
    request_id: str | None,
    result: CommandResult | None,
    error: AppError | None,
    encoded_events: bytes | None = None,
) -> dict[str, Any]:
    """One reply, for orjson (``encoded_events``: the result's events, already JSON)."""
    if error is not None:
        return {
            "r": request_id,
            "error": {"id": error.error_id, "message": error.message, "details": error.details},
        }
    assert result is not None
    return {
        "r": request_id,
        "events": orjson.Fragment(encoded_events or b"[]"),
        "value": result.value,
    }
