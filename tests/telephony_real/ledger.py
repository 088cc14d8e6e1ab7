"""What happened on Asterisk, rebuilt from the AMI events the test recorded.

``CallLedger`` turns the events into channels, callers (the trunk legs) and agent
phones, and checks the rules every real-Asterisk flow must keep:

* every caller who should be served is bridged with an agent exactly once, and a
  caller who hangs up while waiting never rings an agent;
* no agent phone ever has two channels at once;
* every call is ended by one of its parties (a ``HangupRequest``: a phone sent BYE),
  never by the product or by Asterisk on the product's behalf;
* no caller is taken away from an agent phone that is ringing for it;
* callers are offered in arrival order;
* no caller waits on hold while an eligible agent (made ready by the test, with a
  phone that answers) is idle for more than a second.

Each check returns a list of problems (empty when the rule held), written so that a
failing test says what went wrong on Asterisk's side.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence

from tests.telephony_real.ami import AmiEvent

Interval = tuple[float, float]


def endpoint_of(channel: str) -> str:
    """``PJSIP/1001-00000004`` -> ``1001``; ``PJSIP/trunk-0000000a`` -> ``trunk``."""
    _, _, rest = channel.partition("/")
    return rest.rsplit("-", 1)[0] if "-" in rest else rest


@dataclasses.dataclass(slots=True)
class Channel:
    uniqueid: str
    name: str
    linkedid: str
    endpoint: str
    number: str
    created: float
    hung_up: float | None = None
    hangup_cause: str = ""
    hangup_requested: float | None = None  # HangupRequest: this leg's phone sent BYE
    bridges: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class Dial:
    at: float
    agent: str
    agent_uniqueid: str
    status: str = ""  # DialEnd's DialStatus ("" while ringing)
    ended: float | None = None


@dataclasses.dataclass(slots=True)
class Caller:
    """One trunk leg: a customer calling in."""

    channel: Channel
    enqueued: list[float] = dataclasses.field(default_factory=list)
    no_answers: list[tuple[float, str, str]] = dataclasses.field(default_factory=list)
    dials: list[Dial] = dataclasses.field(default_factory=list)

    @property
    def number(self) -> str:
        return self.channel.number

    @property
    def first_enqueued(self) -> float | None:
        return self.enqueued[0] if self.enqueued else None

    def waiting(self, until: float) -> list[Interval]:
        """Times on hold: from CCEnqueue or CCAgentNoAnswer to the next DialBegin."""
        starts = sorted(self.enqueued + [t for t, _, _ in self.no_answers])
        end_of_call = self.channel.hung_up if self.channel.hung_up is not None else until
        out: list[Interval] = []
        dial_times = sorted(d.at for d in self.dials)
        for start in starts:
            if out and start < out[-1][1]:
                continue  # a second CCEnqueue while already waiting
            end = next((t for t in dial_times if t >= start), end_of_call)
            out.append((start, min(end, end_of_call)))
        return out


class CallLedger:
    """Channels, callers and agent phones from a list of AMI events."""

    def __init__(self, events: Iterable[AmiEvent]) -> None:
        self.events = list(events)
        self.channels: dict[str, Channel] = {}
        self.callers: dict[str, Caller] = {}  # by trunk uniqueid
        self.bridge_members: dict[str, set[str]] = {}
        for event in self.events:
            self._apply(event)

    def _apply(self, e: AmiEvent) -> None:
        uid = e.get("Uniqueid")
        if e.name == "Newchannel":
            new = Channel(
                uniqueid=uid,
                name=e.get("Channel"),
                linkedid=e.get("Linkedid"),
                endpoint=endpoint_of(e.get("Channel")),
                number=e.get("CallerIDNum"),
                created=e.ts,
            )
            self.channels[uid] = new
            if new.endpoint == "trunk":
                self.callers[uid] = Caller(new)
            return
        ch = self.channels.get(uid)
        if ch is None:
            return  # a channel born before the test's mark
        caller = self.callers.get(uid)
        if e.name == "UserEvent" and caller is not None:
            if e.get("UserEvent") == "CCEnqueue":
                caller.enqueued.append(e.ts)
            elif e.get("UserEvent") == "CCAgentNoAnswer":
                caller.no_answers.append((e.ts, e.get("Agent"), e.get("DialStatus")))
        elif e.name == "DialBegin" and caller is not None:
            dest = e.get("DestChannel")
            caller.dials.append(Dial(e.ts, endpoint_of(dest), e.get("DestUniqueid")))
        elif e.name == "DialEnd" and caller is not None:
            for i, dial in enumerate(caller.dials):
                if dial.agent_uniqueid == e.get("DestUniqueid"):
                    caller.dials[i] = dataclasses.replace(
                        dial, status=e.get("DialStatus"), ended=e.ts
                    )
        elif e.name == "BridgeEnter":
            bridge = e.get("BridgeUniqueid")
            ch.bridges.append(bridge)
            self.bridge_members.setdefault(bridge, set()).add(uid)
        elif e.name == "HangupRequest":
            if ch.hangup_requested is None:
                ch.hangup_requested = e.ts
        elif e.name == "Hangup":
            ch.hung_up = e.ts
            ch.hangup_cause = e.get("Cause")

    # ------------------------------------------------------------------ views

    def caller(self, number: str) -> Caller:
        found = [c for c in self.callers.values() if c.number == number]
        assert len(found) == 1, f"expected one trunk channel from {number}, Asterisk had {found}"
        return found[0]

    def callers_by_arrival(self) -> list[Caller]:
        return sorted(
            (c for c in self.callers.values() if c.first_enqueued is not None),
            key=lambda c: c.first_enqueued or 0.0,
        )

    def bridged_agents(self, caller: Caller) -> list[str]:
        """The agent phones the caller shared a bridge with, in order."""
        agents: list[str] = []
        for bridge in caller.channel.bridges:
            for uid in sorted(self.bridge_members.get(bridge, ())):
                other = self.channels.get(uid)
                if (
                    other is not None
                    and other.endpoint not in ("trunk", caller.channel.endpoint)
                    and not other.name.startswith("Local/")  # an Atxfer's, optimised away
                ):
                    agents.append(other.endpoint)
        return agents

    def agent_channels(self, agent: str) -> list[Channel]:
        return sorted(
            (c for c in self.channels.values() if c.endpoint == agent), key=lambda c: c.created
        )

    def hung_up_by(self, caller: Caller) -> str:
        """``caller``, ``agent <ext>`` or ``nobody`` (no leg's phone sent BYE)."""
        ch = caller.channel
        if ch.hung_up is None:
            return "still up"
        first: tuple[float, str] | None = None
        if ch.hangup_requested is not None and ch.hangup_requested <= ch.hung_up:
            first = (ch.hangup_requested, "caller")
        for bridge in ch.bridges:
            for uid in self.bridge_members.get(bridge, ()):
                other = self.channels.get(uid)
                if other is None or other is ch or other.hangup_requested is None:
                    continue
                if other.hangup_requested <= ch.hung_up + 0.001 and (
                    first is None or other.hangup_requested < first[0]
                ):
                    first = (other.hangup_requested, f"agent {other.endpoint}")
        return first[1] if first else "nobody"

    def describe(self, caller: Caller) -> str:
        texts = [
            f"{d.agent}@{d.at - (caller.first_enqueued or d.at):.1f}s:{d.status or 'ringing'}"
            for d in caller.dials
        ]
        if len(texts) > 10:
            texts = [*texts[:5], f"... {len(texts) - 8} more ...", *texts[-3:]]
        dials = ", ".join(texts)
        return (
            f"caller {caller.number} ({caller.channel.name}): dialled [{dials}], "
            f"bridged with {self.bridged_agents(caller)}, hung up by {self.hung_up_by(caller)}"
        )

    # ------------------------------------------------------------------ checks

    def served_exactly_once(self, numbers: Iterable[str]) -> list[str]:
        """Each of ``numbers`` was bridged with exactly one agent, once."""
        problems = []
        for number in numbers:
            found = [c for c in self.callers.values() if c.number == number]
            if len(found) != 1:
                problems.append(f"caller {number}: {len(found)} trunk channels on Asterisk")
                continue
            agents = self.bridged_agents(found[0])
            if len(agents) != 1:
                problems.append(
                    f"served {len(agents)} times (expected once): {self.describe(found[0])}"
                )
        return problems

    def served_in_turn(self, expected: Mapping[str, Sequence[str]]) -> list[str]:
        """Each caller was bridged with these agents in this order (a hold and resume
        with the same agent counts once): callers whose call was transferred."""
        problems = []
        for number, agents in expected.items():
            found = [c for c in self.callers.values() if c.number == number]
            if len(found) != 1:
                problems.append(f"caller {number}: {len(found)} trunk channels on Asterisk")
                continue
            bridged = self.bridged_agents(found[0])
            turns = [a for i, a in enumerate(bridged) if i == 0 or a != bridged[i - 1]]
            if turns != list(agents):
                problems.append(
                    f"served by {turns}, expected {list(agents)}: {self.describe(found[0])}"
                )
        return problems

    def never_offered(self, numbers: Iterable[str]) -> list[str]:
        """Each of ``numbers`` (callers who hung up while waiting) never rang an agent."""
        problems = []
        for number in numbers:
            for caller in (c for c in self.callers.values() if c.number == number):
                if caller.dials or self.bridged_agents(caller):
                    problems.append(f"rang an agent after all: {self.describe(caller)}")
        return problems

    def no_agent_with_two_calls(self) -> list[str]:
        """No agent phone ever had two channels at the same time."""
        problems = []
        # Local/ channels come in pairs (;1 and ;2) for an Atxfer: not phones.
        agents = {
            c.endpoint
            for c in self.channels.values()
            if c.endpoint != "trunk" and not c.name.startswith("Local/")
        }
        for agent in sorted(agents):
            chans = self.agent_channels(agent)
            for a, b in itertools.pairwise(chans):
                if a.hung_up is None or b.created < a.hung_up:
                    problems.append(
                        f"agent {agent} had two calls at once: {a.name} (linkedid {a.linkedid}) "
                        f"still up when {b.name} (linkedid {b.linkedid}) started"
                    )
        return problems

    def ended_by_parties(self, exempt: Iterable[str] = ()) -> list[str]:
        """Every caller's call ended by a BYE from the caller or from the agent it talked
        to; ``exempt``: callers an agent hung up from the console (the product's Hangup)."""
        skip = set(exempt)
        return [
            f"ended by nobody's BYE (the product or Asterisk hung it up, cause "
            f"{c.channel.hangup_cause}): {self.describe(c)}"
            for c in self.callers.values()
            if c.channel.hung_up is not None
            and self.hung_up_by(c) == "nobody"
            and c.number not in skip
        ]

    def never_taken_from_a_ringing_phone(self) -> list[str]:
        """No caller was moved away from an agent phone that was ringing for it.

        A Dial that ends ``CANCEL`` while the caller stays on the line means the caller
        was redirected (by the product) in the middle of ringing that agent.
        """
        problems = []
        for caller in self.callers.values():
            hung_up = caller.channel.hung_up
            moved = [
                d
                for d in caller.dials
                if d.status == "CANCEL"
                and d.ended is not None
                and (hung_up is None or hung_up - d.ended > 0.5)
            ]
            if moved:
                problems.append(
                    f"taken away from a ringing phone {len(moved)} time(s) "
                    f"(Dial ended CANCEL while the caller stayed): {self.describe(caller)}"
                )
        return problems

    def all_hung_up(self) -> list[str]:
        return [
            f"channel {c.name} never hung up" for c in self.channels.values() if c.hung_up is None
        ]

    def offered_in_arrival_order(self, tolerance: float = 0.25) -> list[str]:
        """No caller is offered while one who arrived earlier is still on hold.

        ``tolerance``: Redirects decided together are run by Asterisk in parallel, so
        DialBegins closer than this may come in either order.
        """
        problems = []
        order = self.callers_by_arrival()
        for i, early in enumerate(order):
            if not early.dials:
                continue
            first_early = early.dials[0].at
            for late in order[i + 1 :]:
                if not late.dials:
                    continue
                first_late = late.dials[0].at
                if first_late + tolerance < first_early:
                    problems.append(
                        f"caller {late.number} (arrived {self._rel(late.first_enqueued)}) was "
                        f"offered at {self._rel(first_late)}, before caller {early.number} "
                        f"(arrived {self._rel(early.first_enqueued)}, offered at "
                        f"{self._rel(first_early)})"
                    )
        return problems

    def no_idle_agent_while_waiting(
        self,
        eligible: Mapping[str, Sequence[Interval]],
        *,
        blackouts: Sequence[Interval] = (),
        until: float,
        tolerance: float = 1.0,
    ) -> list[str]:
        """No caller waited on hold while an eligible agent was idle for > ``tolerance`` s.

        ``eligible``: per agent, when the test had it ready with a phone that answers;
        ``blackouts``: times the product could not act (its AMI link cut, the process
        down until it was in sync again); ``until``: the end of the observation.
        """
        problems = []
        idle = {
            agent: _subtract(
                _merge([(s, min(e, until)) for s, e in windows]),
                [(c.created, c.hung_up or until) for c in self.agent_channels(agent)]
                + list(blackouts),
            )
            for agent, windows in eligible.items()
        }
        for caller in self.callers_by_arrival():
            for wait in _subtract(caller.waiting(until), list(blackouts)):
                for agent, free in idle.items():
                    for overlap in _intersect([wait], free):
                        if overlap[1] - overlap[0] > tolerance:
                            problems.append(
                                f"caller {caller.number} waited on hold "
                                f"{overlap[1] - overlap[0]:.1f} s (from {self._rel(overlap[0])}) "
                                f"while agent {agent} was ready and idle: "
                                f"{self.describe(caller)}"
                            )
        return problems

    def _rel(self, t: float | None) -> str:
        """A time relative to the first event seen (``+3.25s``)."""
        if t is None:
            return "never"
        base = self.events[0].ts if self.events else 0.0
        return f"+{t - base:.2f}s"


def _subtract(intervals: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            next_pieces = []
            for s, e in pieces:
                if h_end <= s or h_start >= e:
                    next_pieces.append((s, e))
                    continue
                if s < h_start:
                    next_pieces.append((s, h_start))
                if h_end < e:
                    next_pieces.append((h_end, e))
            pieces = next_pieces
        out.extend(p for p in pieces if p[1] > p[0])
    return out


def _merge(intervals: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if e > s:
                out.append((s, e))
    return out
