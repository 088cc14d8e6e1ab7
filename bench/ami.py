"""AMI ingest and ring-to-offer latency.

``python -m bench.ami`` (``--quick`` for a smoke run under 30 s) measures:

* ``events_per_s``: AMI events framed, parsed and applied to the call tracker per
  second on one core, replaying the burst capture (k: 20 callers) in a loop, fed
  in 64 KiB reads as a socket would deliver them;
* ``ring_to_offer_p99_ms`` (and p50): from the moment the simulated PBX writes the
  bytes of a caller's ``CCEnqueue`` to its socket to the moment the ``Redirect``
  action's bytes arrive back from the CTI, with the real router (memory backend)
  choosing among 2,000 ready agents. One call at a time, each ended before the next.
* ``panoramisk_parse_per_s``: for comparison, panoramisk's own message parser on the
  same capture (the client weighed in docs/cti.md).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink
from cti.ports import (
    CollectingEventSink,
    FifoVoiceRouting,
    StaticAgentDirectory,
    VoiceOffer,
    VoiceRouting,
)
from cti.protocol import AmiFramer, AmiMessage
from cti.routing_adapter import RouterVoiceRouting
from cti.service import TelephonyService
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.tracker import CallTracker
from cti.wiring import RouterOffersToTelephony
from routing.backends.memory import MemoryRouterBackend
from routing.ports import ListEventSink
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

CAPTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
BURST = CAPTURE / "k-burst-20-callers.ami.txt"


def ingest(seconds: float) -> dict[str, float]:
    data = BURST.read_bytes()
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    tracker = CallTracker("bench")
    events = 0
    loops = 0
    gc.collect()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        framer = AmiFramer()
        for chunk in chunks:
            for frame in framer.feed(chunk):
                if isinstance(frame, AmiMessage) and "Event" in frame.headers:
                    events += 1
                    tracker.feed(frame, 0.0)
        loops += 1
    elapsed = time.perf_counter() - start
    assert not tracker.live_calls(), "the burst must leave no call behind"
    return {"events_per_s": round(events / elapsed), "ingest_loops": loops}


def panoramisk_parse(seconds: float) -> float:
    from panoramisk.message import Message

    text = BURST.read_bytes().decode("ascii", "ignore")
    blocks = text.split("\r\n\r\n")
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for block in blocks:
            if Message.from_line(block.strip()) is not None:
                count += 1
    return round(count / (time.perf_counter() - start))


class TimedRouting(RouterVoiceRouting):
    """The real router adapter, timing each enqueue decision (the router's share)."""

    def __init__(self, inner: RouterVoiceRouting) -> None:
        super().__init__(inner.routing)
        self.decisions_ms: list[float] = []

    async def call_queued(self, **kwargs: Any) -> Sequence[VoiceOffer]:
        start = time.perf_counter()
        try:
            return await super().call_queued(**kwargs)
        finally:
            self.decisions_ms.append((time.perf_counter() - start) * 1000)


async def ring_to_offer(calls: int, agents: int, *, real_router: bool = True) -> dict[str, float]:
    logging.getLogger("cti").setLevel(logging.WARNING)
    pbx = SimulatedPbx(ring_timeout=3600)
    extensions = {f"agent-{i:04d}": str(20000 + i) for i in range(agents)}
    for ext in extensions.values():
        pbx.set_phone(ext, PhoneMode.MANUAL)
    port = await pbx.start()
    routing_settings: dict[str, Any] = {
        "queues": {"support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 600}}}
    }
    offers_sink = RouterOffersToTelephony(ListEventSink())
    router = RoutingService(
        MemoryRouterBackend(
            build_config(parse_routing_settings(routing_settings)), sink=offers_sink
        )
    )
    await router.start()
    voice: VoiceRouting
    if real_router:
        for agent in extensions:
            await router.upsert_agent(agent, queues=("support",))
            await router.ready(agent)
        voice = TimedRouting(RouterVoiceRouting(router))
    else:
        voice = FifoVoiceRouting({agent: ["support"] for agent in extensions})
    events = CollectingEventSink()
    telephony = TelephonyService(
        routing=voice, directory=StaticAgentDirectory(extensions), sink=events
    )
    offers_sink.attach(telephony)
    link = AmiLink(AsteriskServer(name="bench", port=port, secret=pbx.secret))
    session = telephony.add_server(link)
    await telephony.start()
    await telephony.wait_resyncs("bench", 1, timeout=10)
    # Long-lived state (2,000 agents) out of the collector's way, as a server would at start.
    gc.collect()
    gc.freeze()
    samples: list[float] = []
    try:
        for n in range(calls):
            redirect = asyncio.ensure_future(pbx.wait_for_action("Redirect", timeout=10))
            await asyncio.sleep(0)  # let the waiter register before the call arrives
            call = await pbx.place_call(f"+4420794{n:05d}")
            enqueue_written = pbx.written_at["UserEvent"]
            await redirect
            samples.append((pbx.action_times[-1] - enqueue_written) * 1000)
            await pbx.caller_hangs_up(call)
            await events.wait_for("call.hung_up", n + 1, timeout=10)
    finally:
        await telephony.stop()
        await router.close()
        await pbx.stop()
    samples.sort()
    assert session.tracker.live_calls() == []
    prefix = "ring_to_offer" if real_router else "ring_to_offer_cti_only"
    extra: dict[str, float] = {}
    if isinstance(voice, TimedRouting):
        decisions = sorted(voice.decisions_ms)
        extra = {
            "router_decision_p50_ms": round(statistics.median(decisions), 3),
            "router_decision_p99_ms": round(decisions[max(0, int(len(decisions) * 0.99) - 1)], 3),
        }
    return extra | {
        f"{prefix}_p50_ms": round(statistics.median(samples), 3),
        f"{prefix}_p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 3),
        f"{prefix}_max_ms": round(samples[-1], 3),
        f"{prefix}_calls": len(samples),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run under 30 s")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=None, help="ingest run time")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    calls = args.calls or (100 if args.quick else 1000)
    figures: dict[str, Any] = {"quick": args.quick}
    figures.update(ingest(seconds))
    figures["panoramisk_parse_per_s"] = panoramisk_parse(seconds / 2)
    figures.update(asyncio.run(ring_to_offer(calls, args.agents)))
    figures.update(asyncio.run(ring_to_offer(calls, args.agents, real_router=False)))
    figures["agents"] = args.agents
    print(f"AMI ingest: {figures['events_per_s']:,} events/s (parse + track, one core)")
    print(f"panoramisk parser alone: {figures['panoramisk_parse_per_s']:,} messages/s")
    print(
        f"ring-to-offer over {figures['ring_to_offer_calls']} calls, {args.agents} agents: "
        f"p50 {figures['ring_to_offer_p50_ms']} ms, p99 {figures['ring_to_offer_p99_ms']} ms"
    )
    print(
        f"  the router's decision alone: p50 {figures['router_decision_p50_ms']} ms, "
        f"p99 {figures['router_decision_p99_ms']} ms"
    )
    print(
        "  the CTI alone (router replaced by its in-memory FIFO twin): "
        f"p50 {figures['ring_to_offer_cti_only_p50_ms']} ms, "
        f"p99 {figures['ring_to_offer_cti_only_p99_ms']} ms"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
