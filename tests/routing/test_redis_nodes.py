"""Several router nodes sharing one real Redis.

In-process: a node that may not lead submits through the command stream and gets
results and errors back; a graceful shutdown hands the shard over. With real
processes: three nodes under concurrent load, the leader killed with SIGKILL in the
middle; the event log must show nothing lost, no double offer, no capacity exceeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aioredis

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from routing import errors
from routing import events as ev
from routing.backends import redis as redis_backend
from routing.backends.redis import (
    RedisKeys,
    RedisRouterBackend,
    decode_event_batch,
    encode_event_batch,
)
from routing.engine import RoutingEngine
from routing.model import Channel, CustomerContext
from routing.ports import ListEventSink
from routing.service import RoutingService
from tests.routing.conftest import (
    FailingEngine,
    ManualClock,
    StartNode,
    make_config,
    start_redis_backend,
)
from tests.routing.router_node import published_events_key
from tests.routing.test_persistence import records
from tests.routing.test_properties import check_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def with_ready_agent(
    leader: RedisRouterBackend, via: RedisRouterBackend | None = None
) -> RoutingService:
    """Once ``leader`` leads: agent a1 of queue support ready, through ``via`` (or the
    leader itself)."""
    async with asyncio.timeout(5):
        await leader.leading.wait()
    service = RoutingService(via or leader)
    await service.upsert_agent("a1", queues=("support",))
    await service.ready("a1")
    return service


async def test_given_a_follower_when_it_submits_then_the_leader_applies_and_replies(
    redis_url: str, redis_namespace: str
) -> None:
    clock = ManualClock()
    config = make_config()
    leader_sink, follower_sink = ListEventSink(), ListEventSink()
    leader, leader_client = await start_redis_backend(
        redis_url, redis_namespace, config, leader_sink, clock, run_timers=False
    )
    follower, follower_client = await start_redis_backend(
        redis_url, redis_namespace, config, follower_sink, clock, can_lead=False
    )
    try:
        service = await with_ready_agent(leader, via=follower)
        result = await service.enqueue("c1", "voice", "support")
        assert [e.name for e in result.events] == ["contact.queued", "contact.offered"]
        with pytest.raises(errors.NotOfferedToAgent) as raised:
            await service.accept("c1", "someone-else")
        assert raised.value.details == {"contact_id": "c1", "agent_id": "someone-else"}
        assert (await service.describe_contact("c1"))["agent_id"] == "a1"
        # The leader publishes every event, whoever submitted the command.
        assert [e.name for e in leader_sink.events][-2:] == ["contact.queued", "contact.offered"]
        assert follower_sink.events == []
    finally:
        await follower.close()
        await leader.close()
        await leader_client.aclose()
        await follower_client.aclose()


async def test_given_a_leader_when_it_shuts_down_then_another_node_carries_on(
    redis_url: str, redis_namespace: str
) -> None:
    clock = ManualClock()
    config = make_config()
    first, first_client = await start_redis_backend(
        redis_url, redis_namespace, config, ListEventSink(), clock, run_timers=False
    )
    async with asyncio.timeout(5):
        await first.leading.wait()
    second_sink = ListEventSink()
    second, second_client = await start_redis_backend(
        redis_url,
        redis_namespace,
        config,
        second_sink,
        clock,
        run_timers=False,
        lease_seconds=0.6,
    )
    try:
        service = RoutingService(first)
        await service.upsert_agent("a1", queues=("support",))
        await service.ready("a1")
        await service.enqueue("c1", "voice", "support")
        await service.enqueue("c2", "voice", "support")
        await first.close()
        async with asyncio.timeout(5):
            await second.leading.wait()
        survivor = RoutingService(second)
        assert (await survivor.describe_contact("c1"))["state"] == "offered"
        assert (await survivor.describe_contact("c2"))["position"] == 1
        clock.now += 20
        fired = await survivor.fire_timers()
        assert [e.name for e in fired.events][:2] == [
            "contact.offer_timed_out",
            "agent.state_changed",
        ]
        stats = await survivor.statistics()
        assert stats["queues"]["support"]["channels"]["voice"]["offered_today"] == 1
    finally:
        await second.close()
        await first_client.aclose()
        await second_client.aclose()


def check_capacity(events: list[DomainEvent], slots: dict[str, int]) -> None:
    """Replay offers and releases: no agent ever held more than its channel capacity."""
    holder: dict[str, tuple[str, str]] = {}
    load: Counter[tuple[str, str]] = Counter()
    for event in events:
        if not isinstance(event, ev.ContactEvent):
            continue
        held = holder.get(event.contact_id)
        releases = isinstance(
            event,
            ev.ContactOfferTimedOut
            | ev.ContactOfferDeclined
            | ev.ContactClosed
            | ev.ContactAbandoned
            | ev.ContactTransferred,
        )
        if releases and held is not None:
            load[held] -= 1
            del holder[event.contact_id]
        if isinstance(event, ev.ContactOffered):
            key = (event.agent_id, str(event.channel))
            load[key] += 1
            holder[event.contact_id] = key
            assert load[key] <= slots[str(event.channel)], f"{key} over capacity"


class Desk:
    """Plays the agents: accepts every offer, talks, hangs up, ends wrap-up.

    Follows what the nodes publish (``published``: the stream their sinks write). A
    new leader publishes again the events its predecessor may not have published, the
    same events (replayed from the log): each is taken once."""

    def __init__(self, service: RoutingService, client: aioredis.Redis, published: str) -> None:
        self.service = service
        self.client = client
        self.published = published
        self.events: list[DomainEvent] = []
        self.republished = 0
        self._seen: set[bytes] = set()
        self.closed: set[str] = set()
        self.progress = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    async def follow(self) -> None:
        last = "0-0"
        while True:
            response: Any = await self.client.xread({self.published: last}, block=1000)
            for _stream, entries in response or ():
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    for event in decode_event_batch(fields[b"e"]):
                        # Events carry their time to the microsecond: equal means again.
                        encoded = encode_event_batch([event])
                        if encoded in self._seen:
                            self.republished += 1
                            continue
                        self._seen.add(encoded)
                        self.events.append(event)
                        self.react(event)
            async with self.progress:
                self.progress.notify_all()

    def react(self, event: DomainEvent) -> None:
        if isinstance(event, ev.ContactOffered):
            self.spawn(self.work(event.contact_id, event.agent_id))
        elif isinstance(event, ev.ContactClosed | ev.ContactAbandoned):
            self.closed.add(event.contact_id)
        elif isinstance(event, ev.AgentStateChanged) and event.reason == "missed-offer":
            self.spawn(self.quietly(self.service.ready(event.agent_id)))

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def quietly(self, call: Any) -> None:
        with contextlib.suppress(AppError):
            await call

    async def work(self, contact_id: str, agent_id: str) -> None:
        try:
            await self.service.accept(contact_id, agent_id)
            await self.service.hang_up(contact_id, "agent-hung-up")
            await self.service.end_wrap_up(contact_id, agent_id)
        except AppError:
            # Lost races are expected (offer timed out during a fail-over): the router
            # re-queues and the desk gets a new offer event.
            pass

    async def wait_closed(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout), self.progress:
            await self.progress.wait_for(lambda: len(self.closed) >= count)


async def leader_of(client: aioredis.Redis, key: str) -> str:
    """Node id in the lease token ``node|epoch`` ("" when nobody holds the lease)."""
    token: Any = await client.get(key)
    return bytes(token or b"").decode().split("|")[0]


@pytest.mark.slow
async def test_given_three_nodes_when_the_leader_is_killed_mid_run_then_nothing_is_lost(
    redis_url: str, redis_namespace: str
) -> None:
    nodes: dict[str, subprocess.Popen[str]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("n1", "n2", "n3"):
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop is busy
            [sys.executable, "-m", "tests.routing.router_node", redis_url, redis_namespace, name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        nodes[name] = process
    client = aioredis.from_url(redis_url, max_connections=50)
    submitter = RedisRouterBackend(
        make_config(),
        client,
        sink=ListEventSink(),
        key_prefix=redis_namespace,
        can_lead=False,
        command_timeout=20.0,
    )
    await submitter.start()
    service = RoutingService(submitter)
    desk = Desk(service, client, published_events_key(redis_namespace))
    follower = asyncio.create_task(desk.follow())
    total = 240
    try:
        for process in nodes.values():
            assert process.stdout is not None
            line = await asyncio.to_thread(process.stdout.readline)
            assert line.strip() == "ready"
        for n in range(12):
            await service.upsert_agent(f"a{n}", queues=("support",), profile="blended")
            await service.ready(f"a{n}")

        async def arrivals(start: int, count: int) -> None:
            for n in range(start, start + count):
                channel = ("voice", "chat", "email")[n % 3]
                await service.enqueue(f"c{n:04d}", channel, "support")

        first_wave = [asyncio.create_task(arrivals(k * 40, 40)) for k in range(3)]
        await desk.wait_closed(60, timeout=60)
        leader = await leader_of(client, submitter.keys.leader)
        assert leader in nodes
        nodes[leader].send_signal(signal.SIGKILL)
        nodes[leader].wait(timeout=10)
        second_wave = [asyncio.create_task(arrivals(120 + k * 40, 40)) for k in range(3)]
        await asyncio.gather(*first_wave, *second_wave)
        await desk.wait_closed(total, timeout=90)
        assert await leader_of(client, submitter.keys.leader) not in ("", leader)
    finally:
        follower.cancel()
        await submitter.close()
        await client.aclose()
        for process in nodes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
    closed = [e for e in desk.events if isinstance(e, ev.ContactClosed)]
    assert len({e.contact_id for e in closed}) == total
    assert all(e.reason == "completed" for e in closed)
    check_history(desk.events)
    check_capacity(desk.events, {"voice": 1, "chat": 2, "email": 2})


async def test_given_a_leader_whose_lease_was_taken_when_it_commits_then_the_new_leader_applies(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """Fencing: a leader that has not noticed it lost its lease (a long pause, say)
    writes nothing; its command goes to the node that leads now, and is applied once."""
    clock = ManualClock()
    config = make_config()
    # A long lease: the stale leader does not check it again during the test.
    stale, stale_client = await redis_node(
        config, clock=clock, run_timers=False, lease_seconds=60.0
    )
    service = await with_ready_agent(stale)
    new_sink = ListEventSink()
    new, new_client = await redis_node(config, new_sink, clock, run_timers=False, lease_seconds=0.3)
    keys = RedisKeys(redis_namespace, "default")
    # The lease runs out under the stale leader (as if it had been frozen).
    await stale_client.delete(keys.leader)
    async with asyncio.timeout(5):
        await new.leading.wait()
    assert stale.leading.is_set()
    result = await service.enqueue("c1", "voice", "support")
    assert [e.name for e in result.events] == ["contact.queued", "contact.offered"]
    # Applied once, by the new leader (whose sink also has what it republished on
    # taking over, at least once: the stale leader's last entries). The leader publishes
    # after its commit, so the remote caller's reply may come first: wait for the sink.

    def of_c1() -> list[str]:
        return [e.name for e in new_sink.events if getattr(e, "contact_id", None) == "c1"]

    async with asyncio.timeout(5):
        while len(of_c1()) < 2:
            await new_sink.wait_for(len(new_sink.events) + 1)
    assert of_c1() == ["contact.queued", "contact.offered"]
    assert new.engine is not None
    contact = new.engine.contact("c1")
    assert contact is not None and contact.agent_id == "a1"
    assert await leader_of(new_client, keys.leader) == new.node_id


async def test_given_malformed_commands_in_the_stream_then_each_is_refused_and_the_rest_applied(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """Another node (buggy, or not ours) writes bad entries: each bad command gets an
    error reply, the good ones in the same entry are applied, the leader carries on."""
    leader, client = await redis_node(make_config(), run_timers=False)
    service = await with_ready_agent(leader)
    engine = leader.engine
    keys = RedisKeys(redis_namespace, "default")
    enqueue = {"kind": "enqueue", "channel": "voice", "queue": "support"}
    mixed = [
        ["r1", {**enqueue, "contact_id": "c1"}],
        ["r2", {**enqueue, "contact_id": 5}],
        "garbage",
        ["r3", {"kind": "teleport"}],
        ["r4", {"kind": "describe_contact", "contact_id": "c1"}],
    ]
    await client.xadd(keys.commands, {"b": orjson.dumps(mixed), "n": "elsewhere"})
    await client.xadd(keys.commands, {"b": b"not json", "n": "elsewhere"})
    later = [["r5", {**enqueue, "contact_id": "c2"}]]
    await client.xadd(keys.commands, {"b": orjson.dumps(later), "n": "elsewhere"})
    replies: dict[str, Any] = {}
    async with asyncio.timeout(5):
        while "r5" not in replies:
            item: Any = await client.blpop([keys.reply("elsewhere")], timeout=5)
            for reply in orjson.loads(item[1]):
                replies[reply["r"]] = reply
    assert [name for name, _fields in replies["r1"]["events"]] == [
        "contact.queued",
        "contact.offered",
    ]
    assert replies["r2"]["error"]["id"] == "invalid-routing-command"
    assert replies["r2"]["error"]["details"] == {"field": "contact_id"}
    assert "unknown command kind" in replies["r3"]["error"]["message"]
    assert replies["r4"]["value"]["state"] == "offered"
    assert [name for name, _fields in replies["r5"]["events"]] == ["contact.queued"]
    assert set(replies) == {"r1", "r2", "r3", "r4", "r5"}
    # Same leader, same engine: nothing made it drop its state and reload.
    assert leader.leading.is_set() and leader.engine is engine
    assert (await service.describe_contact("c2"))["position"] == 1


async def test_given_no_leader_when_a_node_submits_then_it_hears_router_unavailable(
    redis_node: StartNode,
) -> None:
    follower, _client = await redis_node(make_config(), can_lead=False, command_timeout=0.3)
    with pytest.raises(errors.RouterUnavailable, match="no router node answered"):
        async with asyncio.timeout(5):
            await RoutingService(follower).enqueue("c1", "voice", "support")


class StallingProxy:
    """A TCP proxy to Redis that can stop forwarding in both directions while keeping
    every connection open: a network partition, which no socket error reveals."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stall(self) -> None:
        self._flowing.clear()

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            await self._flowing.wait()  # stalled: held here, never delivered
            sink.write(data)
            await sink.drain()


async def test_given_redis_stops_answering_then_the_leader_steps_down_and_callers_hear_it(
    redis_url: str, redis_namespace: str
) -> None:
    # The router's client has no socket timeout (router_client): the backend's own
    # deadlines must turn a silent partition into an error rather than a hang.
    url = redis_url.split("//", 1)[1]
    host, _, rest = url.partition(":")
    proxy = StallingProxy(host, int(rest.split("/", 1)[0]))
    port = await proxy.start()
    leader, client = await start_redis_backend(
        f"redis://127.0.0.1:{port}/{rest.split('/', 1)[1] if '/' in rest else 0}",
        redis_namespace,
        make_config(),
        ListEventSink(),
        lease_seconds=1.0,
        run_timers=False,
    )
    try:
        service = await with_ready_agent(leader)
        proxy.stall()
        with pytest.raises(errors.RouterUnavailable, match="outcome unknown"):
            async with asyncio.timeout(5):
                await service.enqueue("c1", "voice", "support")
        # Nor is a later command left waiting.
        with pytest.raises(errors.RouterUnavailable):
            async with asyncio.timeout(5):
                await service.enqueue("c2", "voice", "support")
        assert leader.engine is None and not leader.leading.is_set()
    finally:
        async with asyncio.timeout(15):
            await leader.close()
        await proxy.close()
        await client.aclose()


async def test_given_a_command_that_breaks_the_engine_then_it_is_set_aside_and_the_shard_goes_on(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """The leader reloads the last commit (releasing its lease at once) and, reading the
    command again from the stream, refuses it instead of failing again and again."""
    config = make_config()
    engines: list[FailingEngine] = []
    leader, leader_client = await redis_node(
        config,
        run_timers=False,
        engine_factory=lambda c: cast(RoutingEngine, FailingEngine(c, engines)),
    )
    follower, _follower_client = await redis_node(config, can_lead=False)
    service = await with_ready_agent(leader, via=follower)
    await service.enqueue("c1", "voice", "support")
    with pytest.raises(errors.RouterUnavailable, match="router error: engine bug"):
        await service.enqueue("boom", "voice", "support")
    # Served by a reloaded engine: what was committed before is all there.
    result = await service.enqueue("c2", "voice", "support")
    assert [e.name for e in result.events] == ["contact.queued"]
    assert len(engines) == 2
    assert (await service.describe_contact("c1"))["agent_id"] == "a1"
    assert (await service.describe_contact("c2"))["position"] == 1
    with pytest.raises(errors.NoSuchContact):
        await service.describe_contact("boom")
    keys = RedisKeys(redis_namespace, "default")
    assert await leader_client.scard(keys.set_aside) == 1


async def test_given_a_contact_that_ended_and_came_back_in_one_batch_then_the_next_leader_has_it(
    redis_node: StartNode,
) -> None:
    config = make_config()
    first, _client = await redis_node(config, run_timers=False)
    async with asyncio.timeout(5):
        await first.leading.wait()
    service = RoutingService(first)
    # Submitted together, so the leader applies and commits them as one batch.
    await asyncio.gather(
        service.enqueue("c1", "voice", "support"),
        service.withdraw("c1"),
        service.enqueue("c1", "voice", "support"),
    )
    await first.close()
    second, _client = await redis_node(config, run_timers=False)
    async with asyncio.timeout(5):
        await second.leading.wait()
    contact = await RoutingService(second).describe_contact("c1")
    assert contact["state"] == "queued"


NO_CHECKPOINTS = {"checkpoint_seconds": 3600.0, "checkpoint_commands": 10**9}


async def test_given_commands_after_the_last_checkpoint_then_the_next_leader_replays_them(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """The records are only written at checkpoints; what came after is in the log,
    and a new leader that replays it has exactly the engine the old one had."""
    clock = ManualClock()
    config = make_config()
    old, client = await redis_node(
        config, clock=clock, run_timers=False, lease_seconds=60.0, **NO_CHECKPOINTS
    )
    service = await with_ready_agent(old)
    await service.enqueue("c1", "voice", "support")
    clock.now += 5
    await service.accept("c1", "a1")
    await service.enqueue("c2", "chat", "support", CustomerContext(tier="gold"), priority=3)
    keys = RedisKeys(redis_namespace, "default")
    assert await client.hlen(keys.contacts) == 0  # type: ignore[misc]
    assert await client.xlen(keys.log) == 5
    # The old leader stops answering (as if frozen): its lease is gone.
    await client.delete(keys.leader)
    new, _client = await redis_node(config, clock=clock, run_timers=False, lease_seconds=0.3)
    async with asyncio.timeout(5):
        await new.leading.wait()
    assert records(new.engine) == records(old.engine)
    assert new.engine is not None and new.engine.seq == old.engine.seq  # type: ignore[union-attr]

    await new.checkpoint()
    assert set(await client.hkeys(keys.contacts)) == {b"c1", b"c2"}  # type: ignore[misc]
    meta: Any = await client.hgetall(keys.meta)
    last: Any = await client.xrevrange(keys.log, count=1)
    assert meta[b"checkpoint"] == last[0][0]
    assert await client.xlen(keys.log) == 1  # the entry the checkpoint covers


async def test_given_a_leader_that_shuts_down_then_it_leaves_a_checkpoint(
    redis_node: StartNode, redis_namespace: str
) -> None:
    config = make_config()
    leader, client = await redis_node(config, run_timers=False, **NO_CHECKPOINTS)
    service = await with_ready_agent(leader)
    await service.enqueue("c1", "voice", "support")
    keys = RedisKeys(redis_namespace, "default")
    assert await client.hlen(keys.contacts) == 0  # type: ignore[misc]
    await leader.close()
    assert await client.hkeys(keys.contacts) == [b"c1"]  # type: ignore[misc]
    assert await client.hkeys(keys.agents) == [b"a1"]  # type: ignore[misc]
    meta: Any = await client.hgetall(keys.meta)
    entries: Any = await client.xrange(keys.log, min=b"(" + meta[b"checkpoint"])
    assert entries == []  # nothing for the next leader to replay


async def test_given_a_command_limit_then_a_checkpoint_follows_that_many_commands(
    redis_node: StartNode, redis_namespace: str
) -> None:
    leader, client = await redis_node(
        make_config(), run_timers=False, checkpoint_seconds=3600.0, checkpoint_commands=3
    )
    service = await with_ready_agent(leader)
    keys = RedisKeys(redis_namespace, "default")
    assert await client.hlen(keys.agents) == 0  # type: ignore[misc]
    await service.enqueue("c1", "voice", "support")
    await leader.checkpoint_written()
    assert await client.hkeys(keys.contacts) == [b"c1"]  # type: ignore[misc]
    assert await client.xlen(keys.log) == 1


@contextlib.contextmanager
def held_checkpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Checkpoint children wait for ``release()`` before they write anything (the
    child is a fork: it inherits the patched writer and the pipe it waits on)."""
    gate_read, gate_write = os.pipe()
    write = redis_backend._write_snapshot

    def held(engine: RoutingEngine, fd: int, *how: Any) -> None:
        os.read(gate_read, 1)
        write(engine, fd, *how)

    monkeypatch.setattr(redis_backend, "_write_snapshot", held)
    try:
        yield lambda: os.write(gate_write, b"go") and None
    finally:
        os.close(gate_read)
        os.close(gate_write)


async def test_given_a_checkpoint_being_written_then_the_leader_goes_on_and_it_holds_the_fork_state(
    redis_node: StartNode, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child writes the engine as it was when forked; commands applied meanwhile
    stay in the log, and a new leader replays them onto those records."""
    clock = ManualClock()
    keys = RedisKeys(redis_namespace, "default")
    with held_checkpoints(monkeypatch) as release:
        old, client = await redis_node(
            make_config(),
            clock=clock,
            run_timers=False,
            lease_seconds=60.0,
            checkpoint_seconds=3600.0,
            checkpoint_commands=3,
        )
        service = await with_ready_agent(old)
        await service.enqueue("c1", "voice", "support")  # the third command: a checkpoint
        last: Any = await client.xrevrange(keys.log, count=1)
        covered = last[0][0]
        # Applied and answered while the checkpoint is still being written.
        clock.now += 5
        await service.accept("c1", "a1")
        await service.enqueue("c2", "chat", "support")
        assert await client.hlen(keys.contacts) == 0  # type: ignore[misc]
        release()
        await old.checkpoint_written()
    contact: Any = orjson.loads(await client.hget(keys.contacts, "c1"))  # type: ignore[misc]
    assert contact["state"] == "offered"  # as at the fork, not connected as since
    assert await client.hkeys(keys.contacts) == [b"c1"]  # type: ignore[misc]
    meta: Any = await client.hgetall(keys.meta)
    assert meta[b"checkpoint"] == covered
    assert await client.xlen(keys.log) == 3  # the covered entry and the two after it
    assert await client.keys(f"*{redis_namespace}*staging*") == []

    await client.delete(keys.leader)
    new, _client = await redis_node(make_config(), clock=clock, run_timers=False, lease_seconds=0.3)
    async with asyncio.timeout(5):
        await new.leading.wait()
    assert records(new.engine) == records(old.engine)


async def test_given_a_checkpoint_child_that_fails_then_nothing_is_lost_and_the_next_one_is_written(
    redis_node: StartNode, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = redis_backend._write_snapshot
    failures = {"left": 1}

    def cut_short(engine: RoutingEngine, fd: int, *how: Any) -> None:
        if failures["left"]:
            # Everything staged, then death with the last word cut short: the leader
            # must not swap the staged records in, and must clear them away.
            write(engine, os.open(os.devnull, os.O_WRONLY), *how)
            os.write(fd, b'{"seq": 1')
            raise RuntimeError("the child died")
        write(engine, fd, *how)

    monkeypatch.setattr(redis_backend, "_write_snapshot", cut_short)
    keys = RedisKeys(redis_namespace, "default")
    leader, client = await redis_node(make_config(), run_timers=False, **NO_CHECKPOINTS)
    service = await with_ready_agent(leader)
    await service.enqueue("c1", "voice", "support")
    await leader.checkpoint()
    # The records were not touched and the log keeps every command.
    assert await client.hlen(keys.contacts) == 0  # type: ignore[misc]
    assert await client.xlen(keys.log) == 4
    assert b"checkpoint" not in await client.hgetall(keys.meta)  # type: ignore[misc]
    assert await client.keys(f"*{redis_namespace}*staging*") == []

    failures["left"] = 0
    await leader.checkpoint()
    assert await client.hkeys(keys.contacts) == [b"c1"]  # type: ignore[misc]
    assert await client.xlen(keys.log) == 1


async def test_given_a_leader_that_lost_its_lease_during_a_checkpoint_then_the_records_stay(
    redis_node: StartNode, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = RedisKeys(redis_namespace, "default")
    with held_checkpoints(monkeypatch) as release:
        leader, client = await redis_node(
            make_config(),
            run_timers=False,
            lease_seconds=60.0,
            checkpoint_seconds=3600.0,
            checkpoint_commands=3,
        )
        service = await with_ready_agent(leader)
        await service.enqueue("c1", "voice", "support")
        # Another node took the shard meanwhile.
        await client.set(keys.leader, "someone-else|99")
        release()
        await leader.checkpoint_written()
    assert await client.hlen(keys.contacts) == 0  # type: ignore[misc]
    assert b"checkpoint" not in await client.hgetall(keys.meta)  # type: ignore[misc]
    assert await client.keys(f"*{redis_namespace}*staging*") == []
    await client.delete(keys.leader)


async def test_given_a_leader_that_lost_its_lease_then_a_checkpoint_or_close_does_not_hang(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """Its own timer firing is not forwarded to the next leader: it fails at once."""
    keys = RedisKeys(redis_namespace, "default")
    leader, client = await redis_node(make_config(), run_timers=False, lease_seconds=60.0)
    await with_ready_agent(leader)
    await client.set(keys.leader, "someone-else|99")  # another node took the shard
    async with asyncio.timeout(2):
        with pytest.raises(errors.RouterUnavailable):
            await leader.checkpoint()
        await leader.close()
    await client.delete(keys.leader)


async def test_given_redis_forgot_its_scripts_then_the_next_commit_loads_them_again(
    redis_node: StartNode,
) -> None:
    """As after a Redis restart: commits run on a connection of their own, which loads
    the commit script again when Redis answers NOSCRIPT."""
    leader, client = await redis_node(make_config(), run_timers=False)
    service = await with_ready_agent(leader)
    await client.script_flush()
    result = await service.enqueue("c1", "voice", "support")
    assert [e.name for e in result.events] == ["contact.queued", "contact.offered"]
    assert (await service.describe_contact("c1"))["state"] == "offered"


def test_given_a_client_then_a_checkpoint_child_connects_to_the_same_redis() -> None:
    import redis as sync_redis

    from routing.backends.redis import _child_client, router_client

    tcp = _child_client(router_client("redis://someone:secret@10.1.2.3:6380/4"))()
    kwargs = tcp.connection_pool.connection_kwargs
    assert tcp.connection_pool.connection_class is sync_redis.connection.Connection
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("10.1.2.3", 6380, 4)
    assert (kwargs["username"], kwargs["password"]) == ("someone", "secret")
    assert kwargs["socket_timeout"] > 0  # a stalled Redis cannot hold the child for good
    unix = _child_client(router_client("unix:///run/redis.sock?db=2"))()
    assert unix.connection_pool.connection_class is sync_redis.connection.UnixDomainSocketConnection
    assert unix.connection_pool.connection_kwargs["path"] == "/run/redis.sock"
    tls = _child_client(router_client("rediss://10.1.2.3:6380/0"))()
    assert tls.connection_pool.connection_class is sync_redis.connection.SSLConnection


async def test_given_one_batch_of_local_and_remote_commands_then_replies_and_published_events_agree(
    redis_node: StartNode,
) -> None:
    """A remote command's events are encoded for its reply; the leader publishes every
    event of the batch, local or remote, once and in the order it made them."""
    sink = ListEventSink()
    leader, _client = await redis_node(make_config(), sink=sink, run_timers=False)
    follower, _client = await redis_node(make_config(), can_lead=False)
    local = await with_ready_agent(leader)
    remote = RoutingService(follower)
    await local.upsert_agent("a2", queues=("support",))
    await local.ready("a2")
    before = len(sink.events)
    results = await asyncio.gather(
        local.enqueue("c1", "voice", "support"),
        remote.enqueue("c2", "chat", "support"),
        local.enqueue("c3", "email", "support"),
        remote.enqueue("c4", "voice", "support"),
        remote.describe_contact("c2"),
    )
    # A remote caller may hear back before the leader has published the batch; the
    # leader applies batches in order, so one more local command waits for that.
    await local.describe_contact("c1")
    published = sink.events[before:]
    runs = [list(result.events) for result in results[:4]]
    assert sorted(map(repr, published)) == sorted(repr(e) for run in runs for e in run)
    for run in runs:
        start = published.index(run[0])
        assert published[start : start + len(run)] == run
    offered = [e for e in published if isinstance(e, ev.ContactOffered)]
    assert {e.contact_id for e in offered} <= {"c1", "c2", "c3", "c4"} and len(offered) >= 2
    assert results[4]["contact_id"] == "c2"


class StalledSink(ListEventSink):
    """Publishes nothing until released: a leader that died after a commit, before it
    published the batch's events."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.stalled.set()
        await self.release.wait()


async def test_given_a_leader_gone_between_commit_and_publish_then_the_next_one_publishes(
    redis_node: StartNode, redis_namespace: str
) -> None:
    """The log is the outbox: the next leader replays the entries not noted as
    published and publishes their events, the same ones (at least once)."""
    clock = ManualClock()
    stalled = StalledSink()
    # A long lease: the old leader does not check it again during the test.
    old, old_client = await redis_node(
        make_config(), stalled, clock, run_timers=False, lease_seconds=60.0
    )
    async with asyncio.timeout(5):
        await old.leading.wait()
    committed = asyncio.create_task(RoutingService(old).enqueue("c1", "voice", "support"))
    async with asyncio.timeout(5):
        await stalled.stalled.wait()
    keys = RedisKeys(redis_namespace, "default")
    await old_client.delete(keys.leader)  # the old leader is gone
    sink = ListEventSink()
    new, new_client = await redis_node(
        make_config(), sink, clock, run_timers=False, lease_seconds=0.3
    )
    async with asyncio.timeout(5):
        await new.leading.wait()
    assert sink.events == [
        ev.ContactQueued(at=clock.now, contact_id="c1", channel=Channel.VOICE, queue="support")
    ]
    # Committed before it stalled: its caller hears so once the old leader goes on.
    stalled.release.set()
    assert [e.name for e in (await committed).events] == ["contact.queued"]
    # Published, then noted by the next commit: not published again by the next leader.
    service = RoutingService(new)
    await service.upsert_agent("a1", queues=("support",))
    await service.ready("a1")
    await service.describe_contact("c1")
    await new_client.delete(keys.leader)  # gone too, with no checkpoint since
    again = ListEventSink()
    newest, _client = await redis_node(
        make_config(), again, clock, run_timers=False, lease_seconds=0.3
    )
    async with asyncio.timeout(5):
        await newest.leading.wait()
    assert again.events == []
    assert newest.engine is not None
    contact = newest.engine.contact("c1")
    assert contact is not None and contact.agent_id == "a1"


async def test_given_an_outbox_left_by_an_earlier_version_then_the_next_leader_publishes_it(
    redis_node: StartNode, redis_namespace: str, redis_url: str
) -> None:
    """Earlier versions kept the events in an outbox stream: a leader of this version
    publishes what it holds after the entry noted as published, then drops it."""
    keys = RedisKeys(redis_namespace, "default")
    client = aioredis.from_url(redis_url)
    try:
        done = ev.ContactQueued(at=1.0, contact_id="c1", channel=Channel.VOICE, queue="support")
        pending = ev.ContactQueued(at=2.0, contact_id="c2", channel=Channel.CHAT, queue="support")
        first = await client.xadd(keys.events, {"e": encode_event_batch([done])})
        await client.xadd(keys.events, {"e": encode_event_batch([pending])})
        await client.hset(keys.meta, "published", first)
        sink = ListEventSink()
        leader, _client = await redis_node(make_config(), sink, run_timers=False)
        async with asyncio.timeout(5):
            await leader.leading.wait()
        assert sink.events == [pending]
        assert not await client.exists(keys.events)
    finally:
        await client.aclose()


def test_given_a_platform_without_fork_then_the_redis_backend_says_so_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "fork")
    client = aioredis.from_url("redis://127.0.0.1:6379/0")
    with pytest.raises(errors.InvalidRoutingConfig, match=r"needs os\.fork"):
        RedisRouterBackend(make_config(), client, sink=ListEventSink())
