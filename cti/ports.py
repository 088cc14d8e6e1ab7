"""Ports the CTI service needs from the rest of the system, with in-memory twins.

* :class:`VoiceRouting` - the router, in call terms: a voice contact queued, an
  agent's phone ringing for it, offer answered / not answered / refused by the
  CTI itself, call ended or transferred, an agent's phone reachable or not, a server
  resynchronised. Each call returns the offers the router decided right away ("ring
  agent A for call X"); later decisions (an agent became ready) come in through
  :meth:`cti.service.TelephonyService.offer`.
* :class:`AgentDirectory` - agent id <-> phone extension (user accounts own it).
* :class:`EventSink` - where domain events go (the bus).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Sequence
from typing import Protocol

from contact_center.domain.events import DomainEvent

# Why a voice contact ends when Asterisk no longer has its call and nobody saw it end
# (the PBX restarted, or the call ended while the AMI link was down).
LOST_WITH_PBX = "lost-with-pbx"


@dataclasses.dataclass(frozen=True, slots=True)
class VoiceOffer:
    """A routing decision: ring ``agent_id``'s phone for call ``call_id``."""

    call_id: str
    agent_id: str
    # The router's time of the decision: the same decision reaching the CTI twice (a
    # router call's result and the bus) is carried out once.
    decided_at: float | None = dataclasses.field(default=None, compare=False)
    # The agent auto-accepts calls: their phone is asked to answer by itself.
    auto_answer: bool = dataclasses.field(default=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class CallFacts:
    """What the tracker knows of a call, for a router that has no contact for it (a
    call found ringing or talking after a restart)."""

    queue: str = ""
    caller_number: str = ""
    caller_name: str = ""
    waiting_since: float | None = None


class VoiceRouting(Protocol):
    async def call_queued(
        self,
        *,
        call_id: str,
        queue: str,
        caller_number: str,
        caller_name: str,
        at: float,
        requeued: bool,
    ) -> Sequence[VoiceOffer]:
        """A caller waits in ``queue``. Raises :class:`cti.errors.CallNotRoutable` when
        the router cannot take it there (no such queue...): nobody would ever be offered it."""
        ...

    async def agent_ringing(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts
    ) -> Sequence[VoiceOffer]:
        """The agent's phone rings for the call: whatever the router decided, the contact
        is now offered to that agent (one offered to someone else is taken from them)."""
        ...

    async def offer_answered(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts | None = None
    ) -> Sequence[VoiceOffer]:
        """The agent talks with the caller: the contact is connected with them (created
        from ``facts`` if the router has none, e.g. a call found talking after a restart)."""
        ...

    async def offer_not_answered(
        self, *, call_id: str, agent_id: str, reason: str, at: float
    ) -> Sequence[VoiceOffer]:
        """The agent's phone rang and nobody answered (or it was busy): a real no-answer."""
        ...

    async def offer_refused(
        self, *, call_id: str, agent_id: str, reason: str, at: float, retry_seconds: float
    ) -> Sequence[VoiceOffer]:
        """The CTI could not carry out the offer (the phone is in another call, the call
        is not known yet, Asterisk refused the Redirect...): not the agent's doing. The
        contact goes back to its place, the agent stays as they were, and the two are not
        matched again for ``retry_seconds``."""
        ...

    async def call_transferred(
        self,
        *,
        call_id: str,
        from_agent_id: str | None,
        to_agent_id: str | None,
        to_queue: str | None,
        at: float,
    ) -> Sequence[VoiceOffer]: ...

    async def call_ended(
        self, *, call_id: str, agent_id: str | None, abandoned: bool, at: float, lost: bool = False
    ) -> Sequence[VoiceOffer]:
        """The call is over. ``lost``: Asterisk no longer has it and nobody saw it end;
        a contact still waiting for an agent ends abandoned with :data:`LOST_WITH_PBX`."""
        ...

    async def phone_availability(
        self, *, agent_id: str, can_take_calls: bool, at: float
    ) -> Sequence[VoiceOffer]:
        """The agent's phone has been unreachable for longer than the grace
        (``can_take_calls`` false), or is reachable again. Its own ringing and talking
        are never told here."""
        ...

    async def resynced(
        self,
        *,
        server: str,
        waiting_calls: Collection[str],
        live_calls: Collection[str],
        at: float,
    ) -> Sequence[VoiceOffer]:
        """Asterisk ``server`` was just resynchronised: ``live_calls`` are every call it
        has, ``waiting_calls`` those holding or ringing an agent. Voice contacts of that
        server kept from an earlier run (restored after a restart) are settled against it:
        still waiting, they go back to their queue; gone, they end abandoned with
        :data:`LOST_WITH_PBX`. Until then they are never offered."""
        ...


class AgentDirectory(Protocol):
    def extension_of(self, agent_id: str) -> str | None: ...

    def agent_of(self, extension: str) -> str | None: ...


class EventSink(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> None: ...


class StaticAgentDirectory:
    """Agent id <-> extension from a mapping (tests, the demo, a settings file)."""

    def __init__(self, extensions: dict[str, str] | None = None) -> None:
        self._ext: dict[str, str] = {}
        self._agent: dict[str, str] = {}
        for agent_id, extension in (extensions or {}).items():
            self.set(agent_id, extension)

    def set(self, agent_id: str, extension: str) -> None:
        old = self._ext.pop(agent_id, None)
        if old is not None:
            self._agent.pop(old, None)
        self._ext[agent_id] = extension
        self._agent[extension] = agent_id

    def extension_of(self, agent_id: str) -> str | None:
        return self._ext.get(agent_id)

    def agent_of(self, extension: str) -> str | None:
        return self._agent.get(extension)


class CollectingEventSink:
    """Keeps every published event (tests, the demo's console log)."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._changed = asyncio.Condition()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        async with self._changed:
            self.events.extend(events)
            self._changed.notify_all()

    async def wait_for(self, name: str, count: int = 1, timeout: float = 5.0) -> DomainEvent:
        """Wait until ``count`` events named ``name`` arrived; returns the last of them."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.named(name)) >= count)
        return self.named(name)[count - 1]

    def named(self, name: str) -> list[DomainEvent]:
        return [e for e in self.events if e.name == name]

    def names(self) -> list[str]:
        return [e.name for e in self.events]


@dataclasses.dataclass(slots=True)
class _Waiting:
    call_id: str
    queue: str
    since: float


class FifoVoiceRouting:
    """In-memory twin of the router: first-come first-served, one call per agent.

    Enough for tests of the CTI flows and for a demo without the real router:
    ready agents serve the queues they are listed in; an agent whose offer was
    not answered is set not-ready (as the real router does).
    """

    def __init__(self, agents: dict[str, Sequence[str]] | None = None) -> None:
        self.queues_of: dict[str, tuple[str, ...]] = {
            a: tuple(q) for a, q in (agents or {}).items()
        }
        self.ready: list[str] = list(self.queues_of)
        self.busy: dict[str, str] = {}  # agent -> call
        self.offered: dict[str, str] = {}  # call -> agent
        self.waiting: list[_Waiting] = []
        self.phone_down: set[str] = set()
        self.log: list[tuple[str, str, str]] = []

    def add_agent(self, agent_id: str, queues: Sequence[str], *, ready: bool = True) -> None:
        self.queues_of[agent_id] = tuple(queues)
        if ready and agent_id not in self.ready:
            self.ready.append(agent_id)

    def set_ready(self, agent_id: str) -> list[VoiceOffer]:
        if agent_id not in self.ready:
            self.ready.append(agent_id)
        return self._match()

    def _match(self) -> list[VoiceOffer]:
        offers: list[VoiceOffer] = []
        for waiting in list(self.waiting):
            for agent in self.ready:
                if (
                    agent in self.busy
                    or agent in self.phone_down
                    or waiting.queue not in self.queues_of.get(agent, ())
                ):
                    continue
                self.waiting.remove(waiting)
                self.busy[agent] = waiting.call_id
                self.offered[waiting.call_id] = agent
                self.ready.remove(agent)
                self.ready.append(agent)  # longest idle first next time
                offers.append(VoiceOffer(waiting.call_id, agent))
                self.log.append(("offer", waiting.call_id, agent))
                break
        return offers

    async def call_queued(
        self,
        *,
        call_id: str,
        queue: str,
        caller_number: str,
        caller_name: str,
        at: float,
        requeued: bool,
    ) -> list[VoiceOffer]:
        self.log.append(("queued", call_id, queue))
        if not any(w.call_id == call_id for w in self.waiting):
            self.waiting.append(_Waiting(call_id, queue, at))
        return self._match()

    async def agent_ringing(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts
    ) -> list[VoiceOffer]:
        self.log.append(("ringing", call_id, agent_id))
        holder = self.offered.get(call_id)
        if holder == agent_id:
            return []
        if holder is not None and self.busy.get(holder) == call_id:
            del self.busy[holder]
        self.offered[call_id] = agent_id
        self.busy[agent_id] = call_id
        self.waiting = [w for w in self.waiting if w.call_id != call_id]
        return self._match()

    async def offer_answered(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts | None = None
    ) -> list[VoiceOffer]:
        self.log.append(("answered", call_id, agent_id))
        holder = self.offered.get(call_id)
        if holder is not None and holder != agent_id and self.busy.get(holder) == call_id:
            del self.busy[holder]
        self.offered.pop(call_id, None)
        self.busy[agent_id] = call_id
        self.waiting = [w for w in self.waiting if w.call_id != call_id]
        return self._match()

    async def offer_refused(
        self, *, call_id: str, agent_id: str, reason: str, at: float, retry_seconds: float
    ) -> list[VoiceOffer]:
        # No pause and no memory of the pair: the twin re-offers at the next match.
        self.log.append(("refused", call_id, agent_id))
        self.offered.pop(call_id, None)
        if self.busy.get(agent_id) == call_id:
            del self.busy[agent_id]
        if not any(w.call_id == call_id for w in self.waiting):
            queue = next(
                (q for a, c, q in reversed(self.log) if a == "queued" and c == call_id), ""
            )
            self.waiting.insert(0, _Waiting(call_id, queue, at))
        return []

    async def offer_not_answered(
        self, *, call_id: str, agent_id: str, reason: str, at: float
    ) -> list[VoiceOffer]:
        self.log.append(("not_answered", call_id, agent_id))
        self.offered.pop(call_id, None)
        if self.busy.get(agent_id) == call_id:
            del self.busy[agent_id]
        if agent_id in self.ready:
            self.ready.remove(agent_id)  # not ready, reason "no answer"
        if not any(w.call_id == call_id for w in self.waiting):
            self.waiting.insert(0, _Waiting(call_id, "", at))
            queue = next(
                (q for a, c, q in reversed(self.log) if a == "queued" and c == call_id), ""
            )
            self.waiting[0].queue = queue
        return self._match()

    async def call_transferred(
        self,
        *,
        call_id: str,
        from_agent_id: str | None,
        to_agent_id: str | None,
        to_queue: str | None,
        at: float,
    ) -> list[VoiceOffer]:
        self.log.append(("transferred", call_id, to_agent_id or to_queue or ""))
        if from_agent_id is not None and self.busy.get(from_agent_id) == call_id:
            del self.busy[from_agent_id]
        if to_agent_id is not None:
            self.busy[to_agent_id] = call_id
        return self._match()

    async def call_ended(
        self, *, call_id: str, agent_id: str | None, abandoned: bool, at: float, lost: bool = False
    ) -> list[VoiceOffer]:
        ended = ("abandoned" if abandoned else "ended") + (f" ({LOST_WITH_PBX})" if lost else "")
        self.log.append((ended, call_id, agent_id or ""))
        self.waiting = [w for w in self.waiting if w.call_id != call_id]
        self.offered.pop(call_id, None)
        for agent, call in list(self.busy.items()):
            if call == call_id:
                del self.busy[agent]
        return self._match()

    async def phone_availability(
        self, *, agent_id: str, can_take_calls: bool, at: float
    ) -> list[VoiceOffer]:
        if can_take_calls:
            self.phone_down.discard(agent_id)
            return self._match()
        self.phone_down.add(agent_id)
        return []

    async def resynced(
        self,
        *,
        server: str,
        waiting_calls: Collection[str],
        live_calls: Collection[str],
        at: float,
    ) -> list[VoiceOffer]:
        # Keeps nothing across restarts: every call it holds was told to it in this run,
        # and the tracker reports those that vanished as lost hang-ups.
        return []
