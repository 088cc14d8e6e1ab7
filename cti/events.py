"""Domain events of telephony: what happened to calls and agent phones.

Emitted by :mod:`cti.tracker` from the AMI event stream; nothing here knows AMI.
``call_id`` is ``<server>:<linkedid>`` as the service emits them (the linkedid is one
id for every leg of one call, unique within one Asterisk only) and ``server`` names the
Asterisk server of :mod:`contact_center.settings`.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from contact_center.domain.events import DomainEvent


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HungUpBy(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    # Asterisk or this system ended it (dialplan Hangup, AMI Hangup, failed originate).
    SYSTEM = "system"
    # Ended while the AMI link was down: only the resync saw that it is gone.
    UNKNOWN = "unknown"


class CallOutcome(enum.StrEnum):
    COMPLETED = "completed"  # talked to an agent
    ABANDONED = "abandoned"  # the customer left before talking to anyone
    FAILED = "failed"  # never connected (outbound not answered, error)
    TRANSFERRED_OUT = "transferred_out"  # handed to an external number


class TransferKind(enum.StrEnum):
    REDIRECT = "redirect"  # AMI Redirect of the customer channel
    BLIND = "blind"  # BlindTransfer (phone or AMI)
    ATTENDED = "attended"  # Atxfer: consultation, then completion


class MonitorMode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class PhoneState(enum.StrEnum):
    AVAILABLE = "available"
    RINGING = "ringing"
    IN_USE = "in_use"
    BUSY = "busy"
    ON_HOLD = "on_hold"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


class CallEvent(DomainEvent, frozen=True, kw_only=True):
    server: str
    call_id: str


class CallQueued(CallEvent, frozen=True, kw_only=True):
    """The caller is holding (music on hold) for ``queue``; identity is the caller number."""

    name: ClassVar[str] = "call.queued"
    caller_number: str
    caller_name: str
    queue: str
    # True when the call comes back to a queue (transfer to a queue, resync).
    requeued: bool = False


class CallAgentRinging(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.agent_ringing"
    extension: str


class CallAgentNoAnswer(CallEvent, frozen=True, kw_only=True):
    """The offered phone did not take the call; the caller is back on hold."""

    name: ClassVar[str] = "call.agent_no_answer"
    extension: str
    # Asterisk DIALSTATUS: NOANSWER, BUSY, CHANUNAVAIL, CONGESTION, or UNREACHABLE.
    dial_status: str


class CallAnswered(CallEvent, frozen=True, kw_only=True):
    """The customer is bridged with the agent's phone: the contact is connected."""

    name: ClassVar[str] = "call.answered"
    extension: str
    direction: CallDirection
    wait_seconds: float
    ring_seconds: float


class CallAgentLeft(CallEvent, frozen=True, kw_only=True):
    """The agent hung up while the customer was on hold; the customer is still there."""

    name: ClassVar[str] = "call.agent_left"
    extension: str


class CallHeld(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.held"
    extension: str


class CallResumed(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.resumed"
    extension: str


class CallTransferred(CallEvent, frozen=True, kw_only=True):
    """The connected agent handed the call on; exactly one target field is set."""

    name: ClassVar[str] = "call.transferred"
    kind: TransferKind
    from_extension: str
    to_extension: str = ""
    to_queue: str = ""
    to_number: str = ""


class CallRecordingStarted(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.recording_started"
    file: str


class CallRecordingStopped(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.recording_stopped"
    file: str


class CallMonitorStarted(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.monitor_started"
    supervisor_extension: str
    agent_extension: str
    mode: MonitorMode


class CallMonitorStopped(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.monitor_stopped"
    supervisor_extension: str
    agent_extension: str


class OutboundCallStarted(CallEvent, frozen=True, kw_only=True):
    """Click-to-dial: the agent's phone is being called first."""

    name: ClassVar[str] = "call.outbound_started"
    extension: str
    number: str


class OutboundCallFailed(CallEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "call.outbound_failed"
    extension: str
    number: str
    # no-answer, busy, congestion, hung-up, failed
    reason: str


class CallHungUp(CallEvent, frozen=True, kw_only=True):
    """The call is over (every leg): the contact goes to wrap-up or is abandoned."""

    name: ClassVar[str] = "call.hung_up"
    direction: CallDirection
    hung_up_by: HungUpBy
    outcome: CallOutcome
    cause: int
    cause_text: str
    extension: str  # last connected agent's extension, "" if none
    queue: str
    caller_number: str
    wait_seconds: float
    talk_seconds: float


class AgentPhoneStateChanged(DomainEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "agent_phone.state_changed"
    server: str
    extension: str
    state: PhoneState

    @property
    def reachable(self) -> bool:
        """Whether Asterisk can reach the phone at all. Ringing, talking and on hold are
        the agent's own calls, not a reason to stop routing to them; UNKNOWN is Asterisk
        not knowing (Dial will tell), not a phone it knows to be gone."""
        return self.state is not PhoneState.UNREACHABLE


class TelephonyResynced(DomainEvent, frozen=True, kw_only=True):
    """The tracker of ``server`` was brought in line with Asterisk after a (re)connect.

    ``first``: the first resync of this server since the process started, so any
    open contact history of its calls that Asterisk no longer has belongs to an earlier
    run. ``waiting_call_ids``: calls holding or ringing an agent; ``live_call_ids``: every
    call Asterisk has (both as ``<server>:<linkedid>``).
    """

    name: ClassVar[str] = "telephony.resynced"
    server: str
    first: bool
    live_call_ids: tuple[str, ...]
    waiting_call_ids: tuple[str, ...]


class CallChanged(CallEvent, frozen=True, kw_only=True):
    """A call as the consoles show it, after Asterisk reported a change to it (at most one
    per call per batch of AMI events, only when something shown changed): what the
    hub's ``call`` message carries. Built by :mod:`cti.console_calls` from the tracker.

    ``state``: new (arriving, not queued yet), queued, ringing (an agent's phone rings:
    an offer, or the agent's own phone for click-to-dial), dialing (click-to-dial: the
    customer is being dialled), talking, held, transferring (handed on, not ringing
    anywhere yet), transferred (handed to an outside number), ended. ``held`` is true
    only when Asterisk put the customer on music on hold. ``transfer``: null, or
    ``{"mode", "target", "state"}`` of a transfer started from a console.
    ``previous_agent_id``: the agent the call was with before this change, when that
    changed (a transfer), so their console can let the call go.
    """

    name: ClassVar[str] = "call.changed"
    state: str
    direction: CallDirection
    held: bool
    recording: bool
    transfer: dict[str, Any] | None
    agent_id: str | None
    previous_agent_id: str | None = None
    caller_number: str
    queue: str
