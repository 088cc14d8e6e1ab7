"""Property-based tests of the routing engine: random days in a small contact center.

Hypothesis drives random sequences of arrivals, agent state changes, accepts,
declines, no-answers, timeouts, hang-ups, transfers and supervisor actions. After
every step the engine's structural invariants hold (capacity, one holder per contact,
no idle agent next to a contact it may take); over the whole run the events show that
no contact was offered to two agents at once, sticky windows were respected and
every contact ended CLOSED or ABANDONED with a reason.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from routing import commands as cmd
from routing import events as ev
from routing.engine import RoutingEngine
from routing.model import ContactState
from routing.settings import build_config, parse_routing_settings

# Per-test settings (not a global profile, which would change other packages' tests):
# derandomized in CI so the suite is reproducible there.
IN_CI = os.environ.get("CC_REQUIRE_SERVICES") == "1"


def routing_settings(max_examples: int = 60) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=IN_CI,
        suppress_health_check=[HealthCheck.too_slow],
    )


T0 = 1_800_000_000.0

CONFIG = build_config(
    parse_routing_settings(
        {
            "profiles": {
                "chat_only": {"capacity": {"chat": 2}},
                "blended": {
                    "capacity": {"voice": 1, "chat": 2, "email": 2},
                    "max_total": 3,
                    "blocks": [
                        {"when": "voice", "blocks": ["chat", "email"]},
                        {"when": "chat", "blocks": ["voice"], "unless_awaiting_customer": True},
                    ],
                },
            },
            "queues": {
                "q1": {
                    "channels": ["voice", "chat"],
                    "skills": {"s1": 2},
                    "tier_boost": {"gold": 30},
                    "ageing_points_per_minute": 2,
                    "wrap_up_seconds": 5,
                    "sticky": {"seconds": 20},
                    "overflow": [
                        {"after_seconds": 30, "lower_skills": {"s1": 1}},
                        {"after_seconds": 60, "add_queues": ["q2"]},
                    ],
                },
                "q2": {
                    "channels": ["voice", "chat", "email"],
                    "strategy": "round-robin",
                    "wrap_up_seconds": "manual",
                    "wrap_up_max_seconds": 50,
                    "max_wait": {"seconds": 90, "action": "callback"},
                },
                "q3": {
                    "channels": ["chat", "email"],
                    "strategy": "least-occupied",
                    "max_wait": {"seconds": 120, "action": "move", "target_queue": "q2"},
                },
            },
        }
    )
)
QUEUE_CHANNELS = {
    "q1": ("voice", "chat"),
    "q2": ("voice", "chat", "email"),
    "q3": ("chat", "email"),
}
AGENTS = ("a0", "a1", "a2", "a3", "a4")
PROFILES = ("default", "chat_only", "blended")

# Kinds 14-17 repeat "accept" so that conversations actually happen.
operation = st.tuples(st.integers(0, 17), st.integers(0, 50), st.integers(0, 50))


class Day:
    """Applies random operations to an engine and records every event."""

    def __init__(self) -> None:
        self.engine = RoutingEngine(CONFIG)
        self.now = T0
        self.events: list[DomainEvent] = []
        self.next_contact = 0

    def run(self, command: cmd.Command) -> None:
        try:
            outcome = self.engine.execute(command, self.now)
        except AppError:
            return
        self.events.extend(outcome.events)
        self.engine.check_invariants()

    def staff(self) -> None:
        """Three agents, one per profile, ready in q1 and q2: how every day starts."""
        for n, agent in enumerate(AGENTS[:3]):
            self.run(
                cmd.UpsertAgent(
                    agent_id=agent, queues=("q1", "q2"), skills=(("s1", 2),), profile=PROFILES[n]
                )
            )
            self.run(cmd.SetAgentState(agent_id=agent, state="ready"))

    def contacts_in(self, *states: ContactState) -> list[Any]:
        return sorted(
            (c for c in self.engine.contacts() if c.state in states), key=lambda c: c.contact_id
        )

    def apply(self, op: tuple[int, int, int]) -> None:
        kind, x, y = op
        kind = 5 if kind >= 14 else kind
        agent = AGENTS[x % len(AGENTS)]
        if kind <= 2:
            queue = ("q1", "q2", "q3")[x % 3]
            channel = QUEUE_CHANNELS[queue][y % len(QUEUE_CHANNELS[queue])]
            self.next_contact += 1
            owner = AGENTS[y % len(AGENTS)] if y % 4 == 0 else None
            self.run(
                cmd.EnqueueContact(
                    contact_id=f"c{self.next_contact}",
                    channel=channel,
                    queue=queue,
                    tier="gold" if y % 5 == 0 else None,
                    owner_agent_id=owner,
                    priority=y % 3,
                )
            )
        elif kind == 3:
            queues = tuple(q for i, q in enumerate(("q1", "q2", "q3")) if (y >> i) & 1) or ("q2",)
            self.run(
                cmd.UpsertAgent(
                    agent_id=agent,
                    skills=(("s1", 1 + y % 5),),
                    queues=queues,
                    profile=PROFILES[y % 3],
                )
            )
        elif kind == 4:
            state = ("ready", "ready", "not_ready", "offline")[y % 4]
            self.run(
                cmd.SetAgentState(agent_id=agent, state=state, reason="break", forced=bool(y % 2))
            )
        elif kind in (5, 6, 7):
            offered = self.contacts_in(ContactState.OFFERED)
            if offered:
                c = offered[y % len(offered)]
                if kind == 6 and x % 4 == 3:
                    # The channel could not ring the agent: back, the pair kept apart.
                    self.run(
                        cmd.ReturnOffer(
                            contact_id=c.contact_id, agent_id=c.agent_id, retry_seconds=y % 30
                        )
                    )
                elif kind == 7 and x % 4 == 3:
                    # The channel rings another agent than the router chose.
                    self.run(cmd.AttachToAgent(contact_id=c.contact_id, agent_id=agent))
                else:
                    action = (cmd.AcceptOffer, cmd.DeclineOffer, cmd.OfferNotAnswered)[kind - 5]
                    self.run(action(contact_id=c.contact_id, agent_id=c.agent_id))
        elif kind == 8:
            live = self.contacts_in(
                ContactState.QUEUED, ContactState.OFFERED, ContactState.CONNECTED
            )
            if live:
                self.run(cmd.HangUp(contact_id=live[y % len(live)].contact_id))
        elif kind == 9:
            wrapping = self.contacts_in(ContactState.WRAP_UP)
            if wrapping:
                c = wrapping[y % len(wrapping)]
                self.run(cmd.EndWrapUp(contact_id=c.contact_id, agent_id=c.agent_id))
        elif kind == 10:
            connected = self.contacts_in(ContactState.CONNECTED)
            if connected:
                c = connected[y % len(connected)]
                if x % 2:
                    self.run(cmd.TransferToQueue(contact_id=c.contact_id, queue="q2"))
                else:
                    self.run(cmd.TransferToAgent(contact_id=c.contact_id, agent_id=agent))
        elif kind == 11:
            waiting = self.contacts_in(ContactState.QUEUED)
            if waiting:
                c = waiting[y % len(waiting)]
                if x % 3 == 0:
                    self.run(cmd.MoveContact(contact_id=c.contact_id, queue="q2"))
                elif x % 3 == 1:
                    self.run(cmd.ChangePriority(contact_id=c.contact_id, priority=y))
                elif y % 2:
                    self.run(cmd.OfferToAgent(contact_id=c.contact_id, agent_id=agent))
                else:
                    # The channel rings (or connects) this agent whatever was decided.
                    state = ("offered", "connected")[y % 4 // 2]
                    self.run(
                        cmd.AttachToAgent(contact_id=c.contact_id, agent_id=agent, state=state)
                    )
        elif kind == 12:
            connected = self.contacts_in(ContactState.CONNECTED)
            if connected:
                c = connected[y % len(connected)]
                self.run(cmd.SetAwaitingCustomer(contact_id=c.contact_id, awaiting=bool(x % 2)))
        else:
            self.now += y
            self.run(cmd.FireTimers())

    def drain(self) -> None:
        """End the day: every agent works until no contact is left."""
        for agent in AGENTS:
            self.run(
                cmd.UpsertAgent(agent_id=agent, queues=("q1", "q2", "q3"), skills=(("s1", 5),))
            )
            agent_state = self.engine.agent(agent)
            if agent_state is not None and agent_state.state != "ready":
                self.run(cmd.SetAgentState(agent_id=agent, state="ready"))
        for _ in range(1000):
            live = list(self.engine.contacts())
            if not live:
                return
            for contact in sorted(live, key=lambda c: c.contact_id):
                if contact.state == ContactState.OFFERED:
                    self.run(
                        cmd.AcceptOffer(
                            contact_id=contact.contact_id, agent_id=contact.agent_id or ""
                        )
                    )
                elif contact.state == ContactState.CONNECTED:
                    self.run(cmd.HangUp(contact_id=contact.contact_id))
                elif contact.state == ContactState.WRAP_UP:
                    self.run(
                        cmd.EndWrapUp(
                            contact_id=contact.contact_id, agent_id=contact.agent_id or ""
                        )
                    )
            for agent in AGENTS:
                a = self.engine.agent(agent)
                if a is not None and a.state != "ready":
                    self.run(cmd.SetAgentState(agent_id=agent, state="ready"))
            self.now += 30
            self.run(cmd.FireTimers())
        raise AssertionError("contacts still live after draining")


def check_history(events: list[DomainEvent]) -> None:
    holder: dict[str, str | None] = {}
    sticky: dict[str, tuple[str, float]] = {}
    ended: dict[str, DomainEvent] = {}
    for event in events:
        if not isinstance(event, ev.ContactEvent):
            continue
        cid = event.contact_id
        assert cid not in ended, f"{cid} had an event after it ended: {event.name}"
        if isinstance(event, ev.ContactQueued):
            holder[cid] = None
            sticky.pop(cid, None)
            if event.sticky_agent_id is not None and event.sticky_until is not None:
                sticky[cid] = (event.sticky_agent_id, event.sticky_until)
        elif isinstance(event, ev.ContactStickyWidened):
            sticky.pop(cid, None)
        elif isinstance(event, ev.ContactTransferred | ev.ContactAttached):
            holder[cid] = None
            sticky.pop(cid, None)
        elif isinstance(event, ev.ContactOffered):
            assert holder.get(cid) is None, f"{cid} offered to {event.agent_id} while held"
            holder[cid] = event.agent_id
            if cid in sticky and event.decided_by != "direct":
                agent, until = sticky[cid]
                if event.at < until:
                    assert event.agent_id == agent, f"{cid} left its sticky agent early"
            sticky.pop(cid, None)
        elif isinstance(event, ev.ContactOfferTimedOut | ev.ContactOfferDeclined):
            assert holder.get(cid) == event.agent_id
            holder[cid] = None
        elif isinstance(event, ev.ContactClosed | ev.ContactAbandoned):
            assert event.reason
            ended[cid] = event
    queued = {e.contact_id for e in events if isinstance(e, ev.ContactQueued)}
    assert queued == set(ended), f"never ended: {sorted(queued - set(ended))}"


@routing_settings(max_examples=150)
@given(st.lists(operation, min_size=1, max_size=80))
def test_given_random_traffic_then_invariants_hold_and_every_contact_ends(
    ops: list[tuple[int, int, int]],
) -> None:
    day = Day()
    day.staff()
    for op in ops:
        day.apply(op)
    day.drain()
    check_history(day.events)


FIFO_CONFIG = build_config(
    parse_routing_settings(
        {"queues": {"fifo": {"channels": ["voice", "chat"], "ageing_points_per_minute": 1}}}
    )
)


@routing_settings()
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20)), min_size=1, max_size=80))
def test_given_equal_priority_then_contacts_are_offered_first_in_first_out(
    ops: list[tuple[int, int]],
) -> None:
    engine = RoutingEngine(FIFO_CONFIG)
    now = T0
    for n in range(3):
        engine.execute(cmd.UpsertAgent(agent_id=f"a{n}", queues=("fifo",)), now)
    counter = 0
    for kind, x in ops:
        now += x / 4
        # As the backends do: timers due by now fire before the next command.
        if engine.timers_due(now):
            engine.execute(cmd.FireTimers(), now)
        if kind <= 1:
            counter += 1
            outcome = engine.execute(
                cmd.EnqueueContact(
                    contact_id=f"c{counter:04d}", channel=("voice", "chat")[x % 2], queue="fifo"
                ),
                now,
            )
        elif kind == 2:
            agent = engine.agent(f"a{x % 3}")
            assert agent is not None
            target = "not_ready" if agent.state == "ready" else "ready"
            outcome = engine.execute(
                cmd.SetAgentState(agent_id=agent.agent_id, state=target, reason="break"), now
            )
        elif kind == 3:
            offered = [c for c in engine.contacts() if c.state == ContactState.OFFERED]
            if not offered:
                continue
            c = min(offered, key=lambda c: c.contact_id)
            outcome = engine.execute(
                cmd.AcceptOffer(contact_id=c.contact_id, agent_id=c.agent_id or ""), now
            )
        elif kind == 4:
            connected = [c for c in engine.contacts() if c.state == ContactState.CONNECTED]
            if not connected:
                continue
            c = min(connected, key=lambda c: c.contact_id)
            outcome = engine.execute(cmd.HangUp(contact_id=c.contact_id), now)
        else:
            outcome = engine.execute(cmd.FireTimers(), now)
        for event in outcome.events:
            if isinstance(event, ev.ContactOffered):
                offered_contact = engine.contact(event.contact_id)
                assert offered_contact is not None
                earlier = [
                    c.contact_id
                    for c in engine.contacts()
                    if c.state == ContactState.QUEUED
                    and c.channel == event.channel
                    and (c.waiting_since, c.seq)
                    < (offered_contact.waiting_since, offered_contact.seq)
                ]
                assert not earlier, f"{event.contact_id} overtook {earlier}"


STARVE_CONFIG = build_config(
    parse_routing_settings(
        {"queues": {"q": {"channels": ["voice"], "ageing_points_per_minute": 10}}}
    )
)


@routing_settings()
@given(
    low=st.integers(0, 5),
    highs=st.lists(st.tuples(st.integers(20, 50), st.integers(1, 10)), min_size=5, max_size=60),
)
def test_given_a_stream_of_higher_priority_contacts_then_ageing_prevents_starvation(
    low: int, highs: list[tuple[int, int]]
) -> None:
    """A priority-``low`` contact is served within (priority gap / ageing rate) + one service."""
    engine = RoutingEngine(STARVE_CONFIG)
    now = T0
    engine.execute(cmd.UpsertAgent(agent_id="a", queues=("q",)), now)
    engine.execute(
        cmd.EnqueueContact(contact_id="low", channel="voice", queue="q", priority=low), now
    )
    engine.execute(
        cmd.EnqueueContact(contact_id="h-first", channel="voice", queue="q", priority=50), now
    )
    engine.execute(cmd.SetAgentState(agent_id="a", state="ready"), now)
    rate = 10 / 60
    service_time = 10.0
    bound = (50 - low) / rate + 2 * service_time + max(gap for _, gap in highs)
    served_low_at = None
    n = 0
    while served_low_at is None:
        priority, gap = highs[n % len(highs)]
        n += 1
        now += gap
        engine.execute(
            cmd.EnqueueContact(contact_id=f"h{n}", channel="voice", queue="q", priority=priority),
            now,
        )
        agent = engine.agent("a")
        assert agent is not None
        for cid in list(agent.active):
            contact = engine.contact(cid)
            assert contact is not None
            if contact.state == ContactState.OFFERED:
                if cid == "low":
                    served_low_at = now
                    break
                engine.execute(cmd.AcceptOffer(contact_id=cid, agent_id="a"), now)
                now += service_time
                engine.execute(cmd.HangUp(contact_id=cid), now)
        assert now - T0 <= bound + service_time, "low-priority contact starved"
