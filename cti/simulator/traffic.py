"""Call traffic for the demo: callers phone in, wait, talk or give up, hang up.

``CallTraffic(pbx).run(calls=20)`` places calls into the simulated PBX at random
intervals. A caller answered by an agent talks for a random time and hangs up (or,
now and then, the agent does); a caller still waiting after their patience runs
out abandons. Everything else (offers, redirects, no-answers) is the contact
center's own doing over AMI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Sequence

from cti.simulator.pbx import CallRefused, SimulatedPbx

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class TrafficProfile:
    queues: Sequence[str] = ("support", "sales")
    mean_interval_seconds: float = 4.0
    talk_seconds: tuple[float, float] = (10.0, 40.0)
    patience_seconds: tuple[float, float] = (20.0, 90.0)
    agent_hangs_up_share: float = 0.3
    # Caller numbers to pick from (e.g. known customers' phones); empty: random UK numbers.
    callers: Sequence[str] = ()


@dataclasses.dataclass(slots=True)
class TrafficOutcome:
    placed: int = 0
    talked: int = 0
    abandoned: int = 0
    refused: int = 0  # callers Asterisk refused (488: no media port left)


class CallTraffic:
    def __init__(
        self, pbx: SimulatedPbx, profile: TrafficProfile | None = None, *, seed: int | None = None
    ) -> None:
        self.pbx = pbx
        self.profile = profile or TrafficProfile()
        self.rng = random.Random(seed)
        self.outcome = TrafficOutcome()

    async def run(self, calls: int) -> TrafficOutcome:
        """Place ``calls`` calls and wait until every one of them has ended."""
        tasks = []
        for n in range(calls):
            tasks.append(asyncio.create_task(self._one_call(n)))
            await asyncio.sleep(self.rng.expovariate(1 / self.profile.mean_interval_seconds))
        await asyncio.gather(*tasks)
        return self.outcome

    async def _one_call(self, n: int) -> None:
        p, rng = self.profile, self.rng
        number = rng.choice(p.callers) if p.callers else f"+44207946{rng.randrange(10_000):04d}"
        try:
            call_id = await self.pbx.place_call(number, queue=rng.choice(list(p.queues)))
        except CallRefused:
            self.outcome.refused += 1
            return
        self.outcome.placed += 1
        patience = rng.uniform(*p.patience_seconds)
        try:
            state = await self.pbx.wait_call_state(call_id, ("connected",), timeout=patience)
        except TimeoutError:
            state = self.pbx.calls[call_id].state if call_id in self.pbx.calls else "gone"
        if state == "gone":
            return
        if state != "connected":
            self.outcome.abandoned += 1
            with contextlib.suppress(ValueError):  # it may have ended just now
                await self.pbx.caller_hangs_up(call_id)
            return
        self.outcome.talked += 1
        talk = rng.uniform(*p.talk_seconds)
        try:
            await self.pbx.wait_call_state(call_id, (), timeout=talk)
            return  # ended by the contact center (hangup, transfer out)
        except TimeoutError:
            pass
        if call_id not in self.pbx.calls:
            return
        try:
            if rng.random() < p.agent_hangs_up_share and self.pbx.calls[call_id].agent:
                await self.pbx.agent_hangs_up(call_id)
            else:
                await self.pbx.caller_hangs_up(call_id)
        except ValueError as exc:  # the call moved on meanwhile (on hold, transferring)
            log.info("demo call %s: agent hangup not possible (%s); caller hangs up", call_id, exc)
            with contextlib.suppress(ValueError):
                await self.pbx.caller_hangs_up(call_id)
