"""Routing decisions per second and decision latency, in memory and on Redis.

Scenario (full): 2,000 agents, 50 queues, 20 skills, 10,000 waiting contacts across
voice, chat and email. Every agent starts busy with an offered contact; the measured
step is "agent finishes a contact" (hang-up, wrap-up 0): the router closes it and
decides which waiting contact the freed agent gets next. A new contact arrives for
each one served, so about 10,000 keep waiting. Latency is per decision, measured
around the command that triggers it (for Redis: submit to committed reply).

    python -m bench.routing            # full scenario
    python -m bench.routing --quick    # small smoke run (< 30 s)
    python -m bench.routing --no-redis # memory only
    python -m bench.routing --gc-threshold 700     # Python's automatic collector on

Redis runs: one node and three nodes with the load generator in the leader's process
(as before), then the leader alone in its process with the load generator and one or
two submitting nodes in a child process (``*_load_apart``). Each layout runs in a fresh
process of its own, on the event loop and collector settings the server uses: no
automatic collection; the server's periodic full collection (every 60 s by default)
does not fall in a run, so each reports the pause one would cost the router process
at that point (``full_collection_ms``).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

import routing.compiled
from contact_center.cli import event_loop_factory
from contact_center.collection import collect_now, take_over_collection
from contact_center.domain.events import DomainEvent
from routing import commands as cmd
from routing.backends.base import CommandResult, RouterBackend
from routing.events import ContactOffered
from routing.model import RoutingConfig
from routing.settings import build_config, parse_routing_settings

CHANNELS = ("voice", "chat", "email")
STRATEGIES = (
    "longest-idle",
    "least-occupied",
    "highest-proficiency",
    "round-robin",
    "fewest-today",
)


@dataclass(frozen=True)
class Scenario:
    agents: int
    queues: int
    skills: int
    waiting: int
    decisions: int
    queues_per_agent: int = 5


FULL = Scenario(agents=2000, queues=50, skills=20, waiting=10_000, decisions=40_000)
QUICK = Scenario(agents=200, queues=10, skills=20, waiting=1000, decisions=3000)


class DiscardingSink:
    async def publish(self, events: Sequence[DomainEvent]) -> None:
        return None


def build_scenario(s: Scenario, seed: int = 7) -> tuple[RoutingConfig, list[cmd.Command]]:
    """Queues, and the agent definitions (each meets the skills of the queues it serves)."""
    rng = random.Random(seed)
    skills = [f"skill{n:02d}" for n in range(s.skills)]
    queues: dict[str, Any] = {}
    requirements: dict[str, dict[str, int]] = {}
    for n in range(s.queues):
        name = f"q{n:02d}"
        required = {sk: rng.randint(1, 3) for sk in rng.sample(skills, rng.randint(1, 2))}
        requirements[name] = required
        queues[name] = {
            "channels": [CHANNELS[n % 3]],
            "skills": required,
            "strategy": STRATEGIES[n % len(STRATEGIES)],
            "tier_boost": {"gold": 20},
            "ageing_points_per_minute": 1 + n % 3,
            "overflow": [{"after_seconds": 120, "lower_skills": dict.fromkeys(required, 1)}],
            "offer_timeout_seconds": {"voice": 3600, "chat": 3600, "email": 3600},
        }
    config = build_config(parse_routing_settings({"queues": queues}))
    agents: list[cmd.Command] = []
    names = sorted(queues)
    for n in range(s.agents):
        served = rng.sample(names, s.queues_per_agent)
        levels: dict[str, int] = {sk: rng.randint(1, 5) for sk in rng.sample(skills, 4)}
        for queue in served:
            for skill, level in requirements[queue].items():
                levels[skill] = max(levels.get(skill, 0), level + rng.randint(0, 2))
        agents.append(
            cmd.UpsertAgent(
                agent_id=f"a{n:05d}",
                skills=tuple(sorted((k, min(v, 5)) for k, v in levels.items())),
                queues=tuple(served),
            )
        )
    return config, agents


class Load:
    """Drives one backend through the scenario and collects decision latencies."""

    def __init__(self, scenario: Scenario, config: RoutingConfig, agents: list[cmd.Command]):
        self.s = scenario
        self.config = config
        self.agent_commands = agents
        self.rng = random.Random(11)
        self.next_contact = 0
        self.queue_names = sorted(config.queues)
        # Contacts offered to an agent (to accept) and connected with them (to finish).
        self.offered: dict[str, list[str]] = {}
        self.holding: dict[str, list[str]] = {}
        # Per worker, its agents with offers to accept (see ``worker``); agent -> worker.
        self.to_accept: list[set[str]] = []
        self.owner: dict[str, int] = {}

    def arrival(self) -> cmd.EnqueueContact:
        self.next_contact += 1
        queue = self.rng.choice(self.queue_names)
        channel = next(iter(self.config.queues[queue].channels))
        return cmd.EnqueueContact(
            contact_id=f"c{self.next_contact:07d}",
            channel=str(channel),
            queue=queue,
            customer_id=f"cust{self.rng.randint(1, 50_000)}",
            tier="gold" if self.rng.random() < 0.1 else None,
        )

    def note_offers(self, events: Sequence[DomainEvent]) -> int:
        offers = 0
        for event in events:
            if isinstance(event, ContactOffered):
                self.offered.setdefault(event.agent_id, []).append(event.contact_id)
                owner = self.owner.get(event.agent_id)
                if owner is not None:
                    self.to_accept[owner].add(event.agent_id)
                offers += 1
        return offers

    async def prepare(self, backends: Sequence[RouterBackend]) -> None:
        """Agents registered, contacts waiting, then agents ready: everyone busy."""
        first = backends[0]
        await _many(first, self.agent_commands)
        arrivals: list[cmd.Command] = [self.arrival() for _ in range(self.s.waiting)]
        await _many(first, arrivals)
        ready = [cmd.SetAgentState(agent_id=c.agent_id, state="ready") for c in self.agent_commands]  # type: ignore[attr-defined]
        for result in await _many(first, ready):
            self.note_offers(result.events)
        # Top up so that about ``waiting`` contacts still wait once agents took theirs.
        taken = sum(len(v) for v in self.offered.values())
        await _many(first, [self.arrival() for _ in range(taken)])
        # Accept every offer: the measured loop then frees agents one contact at a time.
        await _many(first, self.accepts(list(self.offered)))

    def accepts(self, agents: list[str]) -> list[cmd.Command]:
        commands: list[cmd.Command] = []
        for agent_id in agents:
            for contact_id in self.offered.pop(agent_id, ()):
                commands.append(cmd.AcceptOffer(contact_id=contact_id, agent_id=agent_id))
                self.holding.setdefault(agent_id, []).append(contact_id)
        return commands

    async def worker(
        self,
        backend: RouterBackend,
        agents: list[str],
        budget: int,
        latencies: list[float],
    ) -> int:
        decisions = 0
        mine = self.to_accept[self.owner[agents[0]]] if agents else set()
        idle_streak = 0
        index = 0
        while decisions < budget and agents and idle_streak <= len(agents):
            agent_id = agents[index % len(agents)]
            index += 1
            if self.offered.get(agent_id):
                # Offers made while another worker's command ran: accept them first.
                await _many(backend, self.accepts([agent_id]))
            held = self.holding.get(agent_id)
            if not held:
                idle_streak += 1
                continue
            idle_streak = 0
            contact_id = held.pop(0)
            # Both the hang-up (the agent frees up) and the arrival (a free agent may
            # exist for it) can trigger decisions: each is timed.
            for command in (cmd.HangUp(contact_id=contact_id, reason="done"), self.arrival()):
                started = time.perf_counter()
                result = await backend.execute(command)
                elapsed = time.perf_counter() - started
                made = self.note_offers(result.events)
                if made:
                    decisions += made
                    latencies.extend([elapsed / made] * made)
            # Each worker accepts only for its own agents, so no two race on one contact.
            if mine:
                ready = sorted(mine)
                mine.clear()
                await _many(backend, self.accepts(ready))
        return decisions


async def _many(backend: RouterBackend, commands: Sequence[cmd.Command]) -> list[CommandResult]:
    """Run commands concurrently in chunks (lets the Redis leader batch them)."""
    if len(commands) == 1:
        return [await backend.execute(commands[0])]
    results: list[CommandResult] = []
    for start in range(0, len(commands), 256):
        chunk = commands[start : start + 256]
        results.extend(await asyncio.gather(*(backend.execute(c) for c in chunk)))
    return results


async def measure(
    load: Load, backends: Sequence[RouterBackend], concurrency: int
) -> dict[str, float]:
    agents = sorted(load.holding)
    budget = load.s.decisions // concurrency
    latencies: list[float] = []
    shards = [agents[k::concurrency] for k in range(concurrency)]
    # Each worker accepts the offers made to its own agents, whoever's command made them.
    load.to_accept = [set() for _ in shards]
    load.owner = {agent_id: k for k, shard in enumerate(shards) for agent_id in shard}
    for agent_id in load.offered:
        load.to_accept[load.owner[agent_id]].add(agent_id)
    gc.collect()
    started = time.perf_counter()
    made = await asyncio.gather(
        *(
            load.worker(backends[k % len(backends)], shard, budget, latencies)
            for k, shard in enumerate(shards)
        )
    )
    elapsed = time.perf_counter() - started
    return summarise(sum(made), elapsed, latencies, sequential=concurrency == 1)


def summarise(
    decisions: int, elapsed: float, latencies: list[float], *, sequential: bool
) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    wall_rate = round(decisions / elapsed) if elapsed else 0
    return {
        "decisions": decisions,
        "seconds": round(elapsed, 3),
        # Sequential (memory): decisions per second of decision time; the wall-clock
        # rate, which also pays for the arrival and accept around each decision, is
        # "wall_per_s". Concurrent (Redis): decisions per wall-clock second.
        "decisions_per_s": (
            round(len(ordered) / sum(ordered)) if sequential and ordered else wall_rate
        ),
        "wall_per_s": wall_rate,
        "p50_ms": round(statistics.median(ordered) * 1000, 4) if ordered else 0.0,
        "p99_ms": round(p99 * 1000, 4),
    }


async def run_memory(s: Scenario) -> dict[str, float]:
    from routing.backends.memory import MemoryRouterBackend

    config, agents = build_scenario(s)
    backend = MemoryRouterBackend(config, sink=DiscardingSink(), run_timers=False)
    await backend.start()
    load = Load(s, config, agents)
    await load.prepare([backend])
    figures = await measure(load, [backend], concurrency=1)
    figures["full_collection_ms"] = _full_collection_ms()
    await backend.close()
    return figures


class BareEngine:
    """The engine alone, no lock, store or sink: the cost of routing itself."""

    def __init__(self, config: RoutingConfig) -> None:
        from routing.engine import RoutingEngine

        self.engine = RoutingEngine(config)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "engine"}

    async def execute(self, command: cmd.Command) -> CommandResult:
        outcome = self.engine.execute(command, time.time())
        self.engine.discard_changes()
        return CommandResult(events=tuple(outcome.events), value=outcome.value)


async def run_engine(s: Scenario) -> dict[str, float]:
    config, agents = build_scenario(s)
    backend = BareEngine(config)
    load = Load(s, config, agents)
    await load.prepare([backend])
    return await measure(load, [backend], concurrency=1)


async def run_redis(s: Scenario, url: str, nodes: int, concurrency: int) -> dict[str, float]:
    from routing.backends.redis import RedisRouterBackend, router_client

    config, agents = build_scenario(s)
    prefix = f"ccbench-{uuid.uuid4().hex[:8]}"
    clients = [router_client(url) for _ in range(nodes)]
    backends = [
        RedisRouterBackend(
            config,
            client,
            sink=DiscardingSink(),
            key_prefix=prefix,
            node_id=f"bench{n}",
            can_lead=(n == 0),
            run_timers=False,
            command_timeout=60.0,
        )
        for n, client in enumerate(clients)
    ]
    try:
        for backend in backends:
            await backend.start()
        async with asyncio.timeout(10):
            await backends[0].leading.wait()
        load = Load(s, config, agents)
        await load.prepare(backends[:1])
        figures = await measure(load, backends, concurrency)
        figures["full_collection_ms"] = _full_collection_ms()
        return figures
    finally:
        for backend in backends:
            await backend.close()
        keys = [k async for k in clients[0].scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


async def run_redis_separate(
    s: Scenario, url: str, submitters: int, concurrency: int, *, gc_threshold: int | None = None
) -> dict[str, float]:
    """The leader alone in this process; the load generator, with ``submitters``
    non-leading nodes that submit through the command stream, in a child process.

    This is how a deployment looks (consoles and channels on other nodes), and it keeps
    the load generator's own Python work off the leader's core.
    """
    from routing.backends.redis import RedisRouterBackend, router_client

    config, _agents = build_scenario(s)
    prefix = f"ccbench-{uuid.uuid4().hex[:8]}"
    client = router_client(url)
    leader = RedisRouterBackend(
        config,
        client,
        sink=DiscardingSink(),
        key_prefix=prefix,
        node_id="bench-leader",
        run_timers=False,
        command_timeout=60.0,
    )
    try:
        await leader.start()
        async with asyncio.timeout(10):
            await leader.leading.wait()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.routing",
            "--load-process",
            prefix,
            "--submitters",
            str(submitters),
            "--concurrency",
            str(concurrency),
            "--redis-url",
            url,
            *(["--gc-threshold", str(gc_threshold)] if gc_threshold else []),
            *(["--scenario", orjson.dumps(dataclasses.asdict(s)).decode()]),
            stdout=asyncio.subprocess.PIPE,
        )
        figures = await _figures_of(child, "load process")
        figures["full_collection_ms"] = _full_collection_ms()  # the leader's
        return figures
    finally:
        await leader.close()
        keys = [k async for k in client.scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def load_process(
    s: Scenario, url: str, prefix: str, submitters: int, concurrency: int
) -> None:
    """Child side of :func:`run_redis_separate`: prepare and measure through
    non-leading nodes, print the figures as one JSON line."""
    from routing.backends.redis import RedisRouterBackend, router_client

    config, agents = build_scenario(s)
    clients = [router_client(url) for _ in range(submitters)]
    backends = [
        RedisRouterBackend(
            config,
            client,
            sink=DiscardingSink(),
            key_prefix=prefix,
            node_id=f"bench-submitter{n}",
            can_lead=False,
            run_timers=False,
            command_timeout=60.0,
        )
        for n, client in enumerate(clients)
    ]
    try:
        for backend in backends:
            await backend.start()
        load = Load(s, config, agents)
        await load.prepare(backends[:1])
        figures = await measure(load, backends, concurrency)
    finally:
        for backend in backends:
            await backend.close()
        for client in clients:
            await client.aclose()
    print(orjson.dumps(figures).decode())


def _full_collection_ms() -> float:
    """The pause of one full collection of this process now (the server runs one every
    ``server.gc_interval_seconds``; see contact_center.collection)."""
    _found, pause = collect_now()
    return round(pause * 1000, 1)


def calibration_ms() -> float:
    """Best of three runs of a fixed loop of dict stores, in milliseconds."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        table: dict[int, int] = {}
        for n in range(1_000_000):
            table[n & 1023] = n
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


# Each layout runs in a fresh process of its own: run one after another in one process,
# the later ones inherited the heap the earlier ones left (three nodes, load apart:
# 9,145 decisions/s after the others against 9,621 alone, measured), which a router
# process would not have.
LAYOUTS: dict[str, Callable[[Scenario, argparse.Namespace], Awaitable[dict[str, float]]]] = {
    "memory": lambda s, a: run_memory(s),
    "memory_engine_only": lambda s, a: run_engine(s),
    "redis": lambda s, a: run_redis(s, a.redis_url, 1, a.concurrency),
    "redis_3_nodes": lambda s, a: run_redis(s, a.redis_url, 3, a.concurrency),
    "redis_load_apart": lambda s, a: run_redis_separate(
        s, a.redis_url, 1, a.concurrency, gc_threshold=a.gc_threshold
    ),
    "redis_3_nodes_load_apart": lambda s, a: run_redis_separate(
        s, a.redis_url, 2, a.concurrency, gc_threshold=a.gc_threshold
    ),
}


async def _in_own_process(layout: str, argv: list[str]) -> dict[str, float]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.routing",
        *argv,
        "--layout",
        layout,
        stdout=asyncio.subprocess.PIPE,
    )
    return await _figures_of(child, f"layout {layout}")


async def _figures_of(child: asyncio.subprocess.Process, what: str) -> dict[str, float]:
    """The figures a bench child process prints as its last line."""
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{what} failed with exit code {child.returncode}")
    figures: dict[str, float] = orjson.loads(out.decode().strip().splitlines()[-1])
    return figures


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis runs")
    parser.add_argument(
        "--redis-url", default=os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--concurrency", type=int, default=64, help="Redis: concurrent agents")
    # Internal: one layout in a process of its own, and the child process of the
    # separate-process Redis runs.
    parser.add_argument("--layout", choices=sorted(LAYOUTS), help=argparse.SUPPRESS)
    parser.add_argument("--load-process", metavar="PREFIX", help=argparse.SUPPRESS)
    parser.add_argument("--submitters", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gc-threshold",
        type=int,
        help="turn Python's automatic collection on in every bench process, with this "
        "young-generation threshold (default: off, as `contact-center serve` runs; 700 is "
        "Python's own)",
    )
    args = parser.parse_args(argv)
    # Measure the router as the server runs it: the same collection policy.
    take_over_collection()
    if args.gc_threshold:
        gc.enable()
        gc.set_threshold(args.gc_threshold)
    scenario = QUICK if args.quick else FULL
    if args.scenario:
        scenario = Scenario(**orjson.loads(args.scenario))
    if args.load_process:
        await load_process(
            scenario, args.redis_url, args.load_process, args.submitters, args.concurrency
        )
        return {}
    if args.layout:
        print(orjson.dumps(await LAYOUTS[args.layout](scenario, args)).decode())
        return {}
    figures: dict[str, Any] = {
        "scenario": {
            "agents": scenario.agents,
            "queues": scenario.queues,
            "skills": scenario.skills,
            "waiting": scenario.waiting,
            "decisions": scenario.decisions,
        },
        # Python's young-generation threshold, or null: automatic collection off.
        "gc_threshold": gc.get_threshold()[0] if gc.isenabled() else None,
        # The event loop the server runs on here (see contact_center.cli.event_loop_factory).
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        # "compiled" when the router core runs as built by mypyc (routing.compiled).
        "router_core": routing.compiled.mode,
        # How fast this machine runs Python right now (a fixed dict loop): shared machines
        # vary by half between minutes, so compare figures taken at similar speeds.
        "calibration_ms": calibration_ms(),
    }
    for name in LAYOUTS:
        if args.no_redis and name.startswith("redis"):
            continue
        figures[name] = await _in_own_process(name, argv if argv is not None else sys.argv[1:])
        print(name, figures[name], file=sys.stderr)
    print(orjson.dumps(figures).decode())
    return figures


if __name__ == "__main__":
    # On the event loop the server uses (uvloop where installed), child processes too.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())
