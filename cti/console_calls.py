"""Call control as the consoles use it: calls shown as Asterisk reports them.

:class:`ConsoleCalls` sits between the telephony service and its event sink. It

* shows a call (:meth:`ConsoleCalls.view`) from the call tracker, which follows only
  Asterisk's events: ``held`` is true once Asterisk put the customer on music on hold,
  never because somebody asked for it;
* carries out the consoles' actions through :class:`~cti.service.TelephonyService` and
  then waits (briefly) until Asterisk's events show the result, so an answer tells
  what Asterisk did, and a refused action changes nothing;
* keeps the transfers started from a console (blind or attended, their target, how far
  they got) until Asterisk's events end them;
* after every batch of telephony events, publishes one :class:`~cti.events.CallChanged`
  per call whose shown state changed, which the hub turns into ``call`` messages.

Agents are named by router agent id (user id as text); their phones come from the
agent directory.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError, InvalidInput, ServiceUnavailable
from cti.errors import IllegalCallState, NoSuchCall
from cti.events import (
    CallAgentNoAnswer,
    CallAnswered,
    CallChanged,
    CallDirection,
    CallEvent,
    CallHungUp,
    CallMonitorStarted,
    CallMonitorStopped,
    CallQueued,
    MonitorMode,
    OutboundCallFailed,
)
from cti.ports import EventSink, StaticAgentDirectory
from cti.routing_adapter import contact_id
from cti.service import ServerSession, TelephonyService
from cti.tracker import Call, CallState

log = logging.getLogger(__name__)

# How long an action's answer waits for Asterisk's events to show its result; after it
# the answer says "accepted" (202) and the hub's ``call`` message tells the rest.
CONFIRM_SECONDS = 3.0
# Click-to-dial attempts whose failure is remembered for their answer.
MAX_REMEMBERED_FAILURES = 1_000


class TransferMode:
    BLIND = "blind"
    ATTENDED = "attended"


class TransferNotPossible(InvalidInput):
    """A transfer this target cannot have (an attended transfer to a queue...)."""

    error_id = "transfer-not-possible"


class NoTelephony(ServiceUnavailable):
    """No Asterisk server is configured on this server: there is no phone to ring."""

    error_id = "telephony-not-configured"


class DialFailed(AppError):
    """Click-to-dial: Asterisk could not ring the agent's phone (``details.reason``)."""

    error_id = "dial-failed"
    status = 502


@dataclasses.dataclass(slots=True)
class Transfer:
    """A transfer started from a console. ``target``: ``{"agent_id"}``, ``{"queue"}`` or
    ``{"number"}``; ``state``: ringing (blind, at the target), queued (blind, to a
    queue), dialing (blind, to a number), consulting (attended: the agent talks to
    the target, the customer holds), completing (attended: the agent left)."""

    mode: str
    target: dict[str, str]
    state: str
    extension: str = ""  # the target agent's phone

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "target": dict(self.target), "state": self.state}


@dataclasses.dataclass(frozen=True, slots=True)
class CallView:
    """A call as a console shows it (``GET /api/v1/calls/{contact_id}``)."""

    contact_id: str
    call_id: str
    server: str
    state: str
    direction: str
    caller_number: str
    queue: str
    agent_id: str | None
    extension: str
    held: bool
    recording: bool
    recording_file: str
    transfer: dict[str, Any] | None
    monitors: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["monitors"] = list(self.monitors)
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What an action did: the call as Asterisk shows it after the action, and whether
    Asterisk's events already showed the result (``confirmed``) or only its reply."""

    view: CallView | None
    confirmed: bool
    message: str
    file: str = ""
    call_id: str = ""


def console_state(call: Call) -> str:
    state = call.state
    if state is CallState.ENDED:
        return "ended"
    if state is CallState.CONNECTED:
        return "talking"
    if state is CallState.HELD:
        return "held"
    if state is CallState.QUEUED:
        return "queued"
    if state is CallState.OFFERED:
        return "ringing"
    # RINGING: not (or no longer) with an agent.
    if call.direction is CallDirection.OUTBOUND:
        return "dialing" if call.customer else "ringing"
    if call.transfer_pending:
        return "transferring"
    if call.dialled_number and call.answered_at is not None:
        return "transferred"
    return "new"


class ConsoleCalls:
    """The consoles' call control over one telephony service (see the module doc)."""

    def __init__(
        self,
        inner: EventSink,
        directory: StaticAgentDirectory,
        *,
        confirm_seconds: float = CONFIRM_SECONDS,
    ) -> None:
        self.inner = inner
        self.directory = directory
        self.confirm_seconds = confirm_seconds
        self.telephony: TelephonyService | None = None
        self._transfers: dict[str, Transfer] = {}
        # Call -> spyer extension -> mode, from ChanSpy events.
        self._monitor_modes: dict[str, dict[str, str]] = {}
        # The last CallChanged published per live call (what consoles were told).
        self._shown: dict[str, CallChanged] = {}
        self._dial_failures: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._changed = asyncio.Event()

    def attach(self, telephony: TelephonyService) -> None:
        """The service whose sink this is (built after it: the service needs a sink)."""
        self.telephony = telephony

    # ------------------------------------------------------------------ views

    def _lookup(self, call_id: str) -> tuple[ServerSession, Call] | None:
        telephony = self.telephony
        if telephony is None:
            return None
        for session in telephony.sessions.values():
            if call_id.startswith(session.tracker.id_prefix):
                call = session.tracker.call(call_id)
                if call is not None and call.state is not CallState.ENDED:
                    return session, call
        return None

    def view(self, call_id: str) -> CallView | None:
        """The live call ``call_id`` as Asterisk shows it, or None."""
        found = self._lookup(call_id)
        if found is None:
            return None
        session, call = found
        agent_ext = self._agent_extension(call)
        modes = self._monitor_modes.get(call.call_id, {})
        monitors = tuple(
            {
                "supervisor_id": self.directory.agent_of(supervisor),
                "extension": supervisor,
                "mode": modes.get(spyer, MonitorMode.LISTEN.value),
            }
            for spyer, (supervisor, _) in call.monitors.items()
        )
        transfer = self._transfers.get(call.call_id)
        return CallView(
            contact_id=contact_id(call.call_id),
            call_id=call.call_id,
            server=session.name,
            state=console_state(call),
            direction=str(call.direction),
            caller_number=call.caller_number,
            queue=call.queue,
            agent_id=self.directory.agent_of(agent_ext) if agent_ext else None,
            extension=agent_ext,
            held=call.state is CallState.HELD,
            recording=call.recording,
            recording_file=call.recording_file,
            transfer=transfer.to_dict() if transfer is not None else None,
            monitors=monitors,
        )

    def require(self, call_id: str) -> CallView:
        found = self.view(call_id)
        if found is None:
            raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})
        return found

    @staticmethod
    def _agent_extension(call: Call) -> str:
        """The phone the call is with: talking, held, ringing, or dialling out from."""
        if call.state in (CallState.CONNECTED, CallState.HELD):
            return call.extension
        if call.state is CallState.OFFERED:
            return call.offered_extension
        if call.direction is CallDirection.OUTBOUND and call.state is CallState.RINGING:
            return call.extension
        return ""

    def calls_of(self, agent_id: str) -> list[CallView]:
        """Every live call with ``agent_id``'s phone (snapshots of their console)."""
        extension = self.directory.extension_of(agent_id)
        telephony = self.telephony
        if not extension or telephony is None:
            return []
        out = []
        for session in telephony.sessions.values():
            for call in session.tracker.live_calls():
                if self._agent_extension(call) == extension:
                    found = self.view(call.call_id)
                    if found is not None:
                        out.append(found)
        return out

    # ------------------------------------------------------------------ event sink

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """The telephony service's sink: pass the events on, then one ``call.changed``
        per call whose shown state they changed."""
        await self.inner.publish(events)
        touched: dict[str, CallEvent] = {}
        for event in events:
            if isinstance(event, CallEvent) and not isinstance(event, CallChanged):
                self._follow(event)
                touched[event.call_id] = event
        changes = [c for c in (self._change(e) for e in touched.values()) if c is not None]
        if changes:
            await self.inner.publish(changes)
        if touched:
            self._changed.set()
            self._changed = asyncio.Event()

    def _follow(self, event: CallEvent) -> None:
        """Transfers and monitor modes from Asterisk's events."""
        call_id = event.call_id
        transfer = self._transfers.get(call_id)
        if isinstance(event, CallHungUp | OutboundCallFailed):
            self._transfers.pop(call_id, None)
            self._monitor_modes.pop(call_id, None)
            if isinstance(event, OutboundCallFailed):
                self._dial_failures[call_id] = event.reason
                while len(self._dial_failures) > MAX_REMEMBERED_FAILURES:
                    self._dial_failures.popitem(last=False)
        elif isinstance(event, CallMonitorStarted):
            modes = self._monitor_modes.setdefault(call_id, {})
            found = self._lookup(call_id)
            if found is not None:
                for spyer, (supervisor, _) in found[1].monitors.items():
                    if supervisor == event.supervisor_extension:
                        modes[spyer] = event.mode.value
        elif isinstance(event, CallMonitorStopped):
            found = self._lookup(call_id)
            live = set(found[1].monitors) if found is not None else set()
            modes = self._monitor_modes.get(call_id, {})
            for spyer in [s for s in modes if s not in live]:
                del modes[spyer]
        elif transfer is None:
            return
        elif isinstance(event, CallAnswered):
            if transfer.extension and event.extension != transfer.extension:
                return  # e.g. the agent back with the customer before the target answers
            del self._transfers[call_id]  # the target took the call
        elif isinstance(event, CallAgentNoAnswer) and event.extension == transfer.extension:
            del self._transfers[call_id]  # the caller is back in its queue
        elif isinstance(event, CallQueued):
            del self._transfers[call_id]

    def _change(self, event: CallEvent) -> CallChanged | None:
        call_id = event.call_id
        shown = self._shown.get(call_id)
        view = self.view(call_id)
        if view is None:
            self._shown.pop(call_id, None)
            if shown is None and isinstance(event, OutboundCallFailed):
                agent = self.directory.agent_of(event.extension)
                return CallChanged(
                    at=event.at,
                    server=event.server,
                    call_id=call_id,
                    state="ended",
                    direction=CallDirection.OUTBOUND,
                    held=False,
                    recording=False,
                    transfer=None,
                    agent_id=agent,
                    caller_number=event.number,
                    queue="",
                )
            if shown is None or shown.state == "ended":
                return None
            return CallChanged(
                at=event.at,
                server=event.server,
                call_id=call_id,
                state="ended",
                direction=shown.direction,
                held=False,
                recording=False,
                transfer=None,
                agent_id=shown.agent_id,
                caller_number=shown.caller_number,
                queue=shown.queue,
            )
        previous = shown.agent_id if shown is not None else None
        change = CallChanged(
            at=event.at,
            server=view.server,
            call_id=call_id,
            state=view.state,
            direction=CallDirection(view.direction),
            held=view.held,
            recording=view.recording,
            transfer=view.transfer,
            agent_id=view.agent_id,
            previous_agent_id=previous if previous != view.agent_id else None,
            caller_number=view.caller_number,
            queue=view.queue,
        )
        if shown is not None and _same(shown, change):
            return None
        self._shown[call_id] = change
        return change

    async def _wait(self, call_id: str, done: Callable[[CallView | None], bool]) -> bool:
        """Wait until Asterisk's events make ``done(view)`` true, as consoles were told
        (the tracker runs ahead of this sink by the router's turn); False after the wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_seconds
        while True:
            changed = self._changed
            view = self.view(call_id)
            if self._told(call_id, view) and done(view):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return done(view)
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return done(self.view(call_id))

    def _told(self, call_id: str, view: CallView | None) -> bool:
        """Whether the consoles were told of this view (this sink has seen its events)."""
        shown = self._shown.get(call_id)
        if view is None or shown is None:
            return view is None
        return (shown.state, shown.agent_id, shown.held, shown.recording) == (
            view.state,
            view.agent_id,
            view.held,
            view.recording,
        )

    async def _outcome(
        self, call_id: str, message: str, done: Callable[[CallView | None], bool], file: str = ""
    ) -> ActionOutcome:
        confirmed = await self._wait(call_id, done)
        return ActionOutcome(self.view(call_id), confirmed, message, file)

    # ------------------------------------------------------------------ actions

    def _service(self) -> TelephonyService:
        if self.telephony is None:
            raise NoTelephony("this server runs no telephony")
        return self.telephony

    async def hold(self, call_id: str) -> ActionOutcome:
        result = await self._service().hold(call_id)
        return await self._outcome(call_id, result.message, lambda v: v is None or v.held)

    async def resume(self, call_id: str) -> ActionOutcome:
        result = await self._service().resume(call_id)
        return await self._outcome(
            call_id, result.message, lambda v: v is None or v.state == "talking"
        )

    async def hangup(self, call_id: str) -> ActionOutcome:
        view = self.require(call_id)
        if view.direction == CallDirection.INBOUND and view.state == "ringing":
            # Hanging up here would drop the caller; a ringing offer is declined instead.
            raise IllegalCallState(
                f"call {call_id} is ringing at an agent: decline the offer instead",
                details={"call_id": call_id, "state": view.state},
            )
        result = await self._service().hangup(call_id)
        return await self._outcome(call_id, result.message, lambda v: v is None)

    async def start_recording(self, call_id: str) -> ActionOutcome:
        result = await self._service().start_recording(call_id)
        return await self._outcome(
            call_id, result.message, lambda v: v is None or v.recording, result.file
        )

    async def stop_recording(self, call_id: str) -> ActionOutcome:
        view = self.require(call_id)
        if not view.recording:
            raise IllegalCallState(f"call {call_id} is not being recorded")
        result = await self._service().stop_recording(call_id)
        return await self._outcome(
            call_id, result.message, lambda v: v is None or not v.recording, result.file
        )

    async def transfer(self, call_id: str, mode: str, target: dict[str, str]) -> ActionOutcome:
        """Blind (Redirect of the customer to an agent, a queue or a number) or attended
        (Atxfer: the agent consults another agent while the customer holds)."""
        service = self._service()
        view = self.require(call_id)
        if call_id in self._transfers:
            raise IllegalCallState(
                f"call {call_id} has a transfer in progress",
                details={"transfer": self._transfers[call_id].to_dict()},
            )
        agent_id = target.get("agent_id")
        extension = ""
        if agent_id is not None:
            extension = self.directory.extension_of(agent_id) or ""
            if agent_id == view.agent_id:
                raise TransferNotPossible("the call is already with this agent")
        if mode == TransferMode.ATTENDED and agent_id is None:
            raise TransferNotPossible(
                "an attended transfer consults an agent; transfer to a queue or a number blind"
            )
        if mode == TransferMode.ATTENDED:
            state = "consulting"
        elif agent_id is not None:
            state = "ringing"
        else:
            state = "queued" if "queue" in target else "dialing"
        # Noted before the action: Asterisk's events of its result may come before its
        # reply, and must find it. Forgotten again if the action fails.
        self._transfers[call_id] = Transfer(mode, dict(target), state, extension)
        try:
            if mode == TransferMode.ATTENDED:
                assert agent_id is not None
                result = await service.start_attended_transfer(call_id, agent_id)
            elif agent_id is not None:
                result = await service.transfer_to_agent(call_id, agent_id)
            elif "queue" in target:
                result = await service.transfer_to_queue(call_id, target["queue"])
            else:
                result = await service.transfer_to_number(call_id, target["number"])
        except AppError:
            self._transfers.pop(call_id, None)
            await self._correct(call_id)
            raise
        except BaseException:
            self._transfers.pop(call_id, None)
            raise
        if mode == TransferMode.ATTENDED:
            # The customer holds (music) while the agent consults.
            return await self._outcome(call_id, result.message, lambda v: v is None or v.held)
        return await self._outcome(
            call_id, result.message, lambda v: v is None or v.agent_id != view.agent_id
        )

    async def complete_transfer(self, call_id: str) -> ActionOutcome:
        """The transferring agent leaves the consultation: Asterisk joins the customer
        and the target."""
        transfer = self._consultation(call_id)
        view = self.require(call_id)
        transfer.state = "completing"  # before: Asterisk's events may beat its reply
        try:
            result = await self._service().complete_attended_transfer(call_id)
        except AppError:
            transfer.state = "consulting"
            await self._correct(call_id)
            raise
        return await self._outcome(
            call_id, result.message, lambda v: v is None or v.agent_id != view.agent_id
        )

    async def cancel_transfer(self, call_id: str) -> ActionOutcome:
        """End the consultation: the customer comes back to the agent."""
        self._consultation(call_id)
        result = await self._service().cancel_attended_transfer(call_id)
        self._transfers.pop(call_id, None)
        await self._correct(call_id)
        return await self._outcome(
            call_id, result.message, lambda v: v is None or v.state == "talking"
        )

    def _consultation(self, call_id: str) -> Transfer:
        self.require(call_id)
        transfer = self._transfers.get(call_id)
        if transfer is None or transfer.mode != TransferMode.ATTENDED:
            raise IllegalCallState(
                f"call {call_id} has no consultation in progress", details={"call_id": call_id}
            )
        return transfer

    async def click_to_dial(
        self, agent_id: str, number: str, *, server: str | None = None
    ) -> ActionOutcome:
        """Ring the agent's phone; once answered, Asterisk dials ``number``."""
        service = self._service()
        if not service.sessions:
            raise NoTelephony("no Asterisk server is configured")
        result = await service.click_to_dial(agent_id, number, server=server)
        call_id = result.call_id
        confirmed = await self._wait(
            call_id, lambda v: v is not None or call_id in self._dial_failures
        )
        reason = self._dial_failures.get(call_id)
        if reason is not None and self.view(call_id) is None:
            raise DialFailed(
                f"Asterisk could not ring the agent's phone ({reason})",
                details={"call_id": call_id, "reason": reason},
            )
        return ActionOutcome(self.view(call_id), confirmed, result.message, call_id=call_id)

    async def monitor(
        self, call_id: str, supervisor_id: str, extension: str, mode: MonitorMode
    ) -> ActionOutcome:
        """Ring the supervisor's phone; once answered it listens to, whispers into or
        barges into the agent's side of the call (ChanSpy)."""
        self._supervisor_phone(supervisor_id, extension)
        result = await self._service().monitor(supervisor_id, call_id, mode)
        return await self._outcome(
            call_id,
            result.message,
            lambda v: v is None or any(m["extension"] == extension for m in v.monitors),
        )

    async def stop_monitor(self, call_id: str, supervisor_id: str, extension: str) -> ActionOutcome:
        self._supervisor_phone(supervisor_id, extension)
        result = await self._service().stop_monitor(supervisor_id, call_id)
        return await self._outcome(
            call_id,
            result.message,
            lambda v: v is None or all(m["extension"] != extension for m in v.monitors),
        )

    def _supervisor_phone(self, supervisor_id: str, extension: str) -> None:
        # Supervisors are not router agents, so the directory learns their phone when
        # they first monitor: the tracker then takes its channels as a phone's, never as
        # a customer's call.
        if self.directory.extension_of(supervisor_id) != extension:
            self.directory.set(supervisor_id, extension)

    async def _correct(self, call_id: str) -> None:
        """Tell consoles about a transfer changed here rather than by Asterisk (a failed
        start, a cancel), if what they were told shows another one."""
        shown = self._shown.get(call_id)
        transfer = self._transfers.get(call_id)
        expected = transfer.to_dict() if transfer is not None else None
        if shown is None or shown.transfer == expected or self.telephony is None:
            return
        change = msgspec.structs.replace(
            shown, at=self.telephony.clock(), transfer=expected, previous_agent_id=None
        )
        self._shown[call_id] = change
        await self.inner.publish([change])


def _same(a: CallChanged, b: CallChanged) -> bool:
    return (
        a.state == b.state
        and a.held == b.held
        and a.recording == b.recording
        and a.transfer == b.transfer
        and a.agent_id == b.agent_id
        and a.queue == b.queue
        and a.caller_number == b.caller_number
    )
