"""Call tracker: AMI messages in, calls keyed by linkedid and domain events out.

Pure (no I/O, no clock): every event's time is Asterisk's ``Timestamp`` header,
or the ``now`` the caller passes for messages without one. It follows the
dialplan contract of ``config/asterisk/``: callers wait in ``[cc-hold]`` after a
``CCEnqueue`` user event, agents are dialled from ``[cc-agent]``, agent phones
live in ``[cc-agents]``, click-to-dial runs in ``[cc-outbound]`` and supervisors
spy from ``[cc-supervisor*]``.

Facts from the captures that shape it:

* Who hung up is the leg that got ``HangupRequest`` (its phone sent BYE); the
  other leg only gets ``SoftHangupRequest``. The order of the two ``Hangup``
  events is not reliable, so a call ends when its *root* channel (uniqueid ==
  linkedid) hangs up, whatever order the others come in.
* A call is connected when the customer channel shares a bridge with an agent
  phone, which also covers every kind of transfer (the new agent's phone ends up
  in the customer's bridge, after Local channel optimisation for Atxfer).

Unknown and out-of-order events (a Hangup for a channel never seen, a duplicate
Newchannel after a resync) are tolerated and logged at debug level.

Bounded state: whatever arrives over AMI (a real Asterisk or anything posing as one),
the tracker's memory is bounded. At most ``max_channels`` channels are tracked (and
so calls, bridges and name lookups, which only hold tracked channels); channels past
the ceiling are not tracked, only counted, and their callers are reported with
:class:`CallNotTracked` when they ask for a queue. Phone states are kept for at most
``max_channels`` phones, monitors per call and expected originates are capped too.
Reaching the ceiling is one ERROR per episode; the episode ends once the count is
back under :data:`CEILING_CLEAR_FRACTION` of it (docs/cti.md "Bounded state").
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Iterable, Sequence

from contact_center.domain.events import DomainEvent
from cti.events import (
    AgentPhoneStateChanged,
    CallAgentLeft,
    CallAgentNoAnswer,
    CallAgentRinging,
    CallAnswered,
    CallDirection,
    CallHeld,
    CallHungUp,
    CallMonitorStarted,
    CallMonitorStopped,
    CallNotTracked,
    CallOutcome,
    CallQueued,
    CallRecordingStarted,
    CallRecordingStopped,
    CallResumed,
    CallTransferred,
    HungUpBy,
    MonitorMode,
    OutboundCallFailed,
    OutboundCallStarted,
    PhoneState,
    TransferKind,
)
from cti.protocol import AmiMessage

log = logging.getLogger(__name__)

# Default ceiling of tracked channels per server: a large site's busiest moment (a few
# thousand calls of two to four channels each) with room to spare. About 1 KB each.
DEFAULT_MAX_CHANNELS = 20_000
# A ceiling episode ends (tracking problem cleared) once the count is back under this
# fraction of the ceiling, so a site hovering at the ceiling logs one ERROR, not one
# per call.
CEILING_CLEAR_FRACTION = 0.9
# Supervisors listening to one call at once: more ChanSpyStart events are not kept.
MAX_MONITORS_PER_CALL = 16
# Click-to-dial Originates awaiting their channel; the oldest is forgotten past this.
MAX_PENDING_ORIGINATES = 1_000


@dataclasses.dataclass(frozen=True, slots=True)
class DialplanContexts:
    """Context names of the dialplan contract (``config/asterisk/extensions_cc.conf``)."""

    inbound: str = "cc-inbound"
    hold: str = "cc-hold"
    offer: str = "cc-agent"
    agents: str = "cc-agents"
    outbound: str = "cc-outbound"
    queue: str = "cc-queue"
    on_hold: str = "cc-onhold"
    agent_on_hold: str = "cc-agent-onhold"
    supervisor_listen: str = "cc-supervisor"
    supervisor_whisper: str = "cc-supervisor-whisper"
    supervisor_barge: str = "cc-supervisor-barge"

    def monitor_mode(self, context: str) -> MonitorMode | None:
        return {
            self.supervisor_listen: MonitorMode.LISTEN,
            self.supervisor_whisper: MonitorMode.WHISPER,
            self.supervisor_barge: MonitorMode.BARGE,
        }.get(context)


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    PHONE = "phone"  # an agent's or supervisor's phone
    LOCAL = "local"  # Local/ channels of an Atxfer consultation


class CallState(enum.StrEnum):
    RINGING = "ringing"  # inbound, not yet queued / outbound, phones ringing
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    HELD = "held"
    ENDED = "ended"


# OriginateResponse Reason: Asterisk's control frame of the last state seen.
_ORIGINATE_REASONS = {
    "0": "failed",
    "1": "hung-up",
    "3": "no-answer",
    "5": "busy",
    "8": "congestion",
}

_DEVICE_STATES = {
    "NOT_INUSE": PhoneState.AVAILABLE,
    "INUSE": PhoneState.IN_USE,
    "BUSY": PhoneState.BUSY,
    "RINGING": PhoneState.RINGING,
    "RINGINUSE": PhoneState.IN_USE,
    "ONHOLD": PhoneState.ON_HOLD,
    "UNAVAILABLE": PhoneState.UNREACHABLE,
    "INVALID": PhoneState.UNREACHABLE,
    "UNKNOWN": PhoneState.UNKNOWN,
}


@dataclasses.dataclass(slots=True)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    role: Role
    endpoint: str  # "1001" for PJSIP/1001-00000002, "trunk" for PJSIP/trunk-...
    context: str
    created_at: float
    state: str = ""
    bridge: str = ""
    far_hangup: bool = False


@dataclasses.dataclass(slots=True)
class Call:
    call_id: str  # the id events carry: id_prefix + linkedid
    linkedid: str
    direction: CallDirection
    root: str  # uniqueid of the channel that created the call
    created_at: float
    state: CallState = CallState.RINGING
    caller_number: str = ""
    caller_name: str = ""
    queue: str = ""
    customer: str = ""  # uniqueid of the customer leg
    agent: str = ""  # uniqueid of the connected agent leg
    extension: str = ""  # connected (or last connected) agent extension
    offered_extension: str = ""
    dialled_number: str = ""
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    hung_up_by: HungUpBy | None = None
    recording_file: str = ""
    recording: bool = False
    transfer_pending: bool = False
    monitors: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    channels: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """One live channel as listed by CoreShowChannels (for resync)."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    application: str
    caller_number: str
    caller_name: str
    bridge: str
    duration_seconds: float

    @classmethod
    def from_message(cls, msg: AmiMessage) -> ChannelSnapshot:
        h = msg.headers
        return cls(
            name=h.get("Channel", ""),
            uniqueid=h.get("Uniqueid", ""),
            linkedid=h.get("Linkedid", "") or h.get("Uniqueid", ""),
            context=h.get("Context", ""),
            exten=h.get("Exten", ""),
            application=h.get("Application", ""),
            caller_number=h.get("CallerIDNum", ""),
            caller_name=h.get("CallerIDName", ""),
            bridge=h.get("BridgeId", "") or h.get("BridgeID", ""),
            duration_seconds=_parse_duration(h.get("Duration", "")),
        )


def _parse_duration(text: str) -> float:
    try:
        hours, minutes, seconds = (int(p) for p in text.split(":"))
    except ValueError:
        return 0.0
    return float(hours * 3600 + minutes * 60 + seconds)


def endpoint_of(channel: str) -> str:
    """``PJSIP/1001-00000002`` -> ``1001``; ``Local/1002@cc-agents-00000000;1`` -> ``1002``."""
    resource = channel.partition("/")[2]
    if channel.startswith("Local/"):
        return resource.partition("@")[0]
    head, sep, _ = resource.rpartition("-")
    return head if sep else resource


def _unknown(value: str) -> str:
    return "" if value == "<unknown>" else value


class CallTracker:
    """Follows one Asterisk server. Feed it every AMI event, in order."""

    def __init__(
        self,
        server: str,
        *,
        contexts: DialplanContexts | None = None,
        is_agent_extension: Callable[[str], bool] | None = None,
        id_prefix: str = "",
        max_channels: int = DEFAULT_MAX_CHANNELS,
    ) -> None:
        if max_channels < 1:
            raise ValueError("max_channels must be at least 1")
        self.server = server
        self.max_channels = max_channels
        # Linkedids are unique within one Asterisk only: with several servers the
        # service prefixes them ("pbx1:1795392925.1") so call ids never collide.
        self.id_prefix = id_prefix
        self.contexts = contexts or DialplanContexts()
        self._is_agent_ext = is_agent_extension
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self._by_name: dict[str, str] = {}
        self._bridges: dict[str, set[str]] = {}
        self.phone_states: dict[str, PhoneState] = {}
        self._pending_originates: dict[str, tuple[str, str]] = {}
        self.unknown_events = 0
        # Ceiling (see the module docstring): channels Newchannel or a resync offered
        # and that were not tracked, phone states not kept, and whether an episode is on.
        self.channels_not_tracked = 0
        self.phone_states_not_kept = 0
        self.at_ceiling = False
        self.ceiling_episodes = 0
        self._handlers: dict[str, Callable[[AmiMessage, float, list[DomainEvent]], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "VarSet": self._on_varset,
            "UserEvent": self._on_userevent,
            "DialBegin": self._on_dialbegin,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "BridgeDestroy": self._on_bridge_destroy,
            "MusicOnHoldStart": self._on_moh_start,
            "MusicOnHoldStop": self._on_moh_stop,
            "HangupRequest": self._on_hangup_request,
            "Hangup": self._on_hangup,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "MixMonitorStart": self._on_mixmonitor_start,
            "MixMonitorStop": self._on_mixmonitor_stop,
            "ChanSpyStart": self._on_chanspy_start,
            "ChanSpyStop": self._on_chanspy_stop,
            "OriginateResponse": self._on_originate_response,
            "DeviceStateChange": self._on_device_state,
            "ContactStatus": self._on_contact_status,
        }
        # Seen all the time and carry nothing the call model needs.
        self._ignored = frozenset(
            {
                "Newexten",
                "RTCPSent",
                "RTCPReceived",
                "NewConnectedLine",
                "NewCallerid",
                "DialState",
                # Answers are taken from the bridge, no-answers from CCAgentNoAnswer.
                "DialEnd",
                "BridgeCreate",
                "BridgeMerge",
                "Cdr",
                "CEL",
                "DTMFBegin",
                "DTMFEnd",
                "LocalBridge",
                "LocalOptimizationBegin",
                "LocalOptimizationEnd",
                "FullyBooted",
                "SuccessfulAuth",
                "RequestBadFormat",
                "SoftHangupRequest",
                "Hold",
                "Unhold",
                "NewAccountCode",
                "VarSetAll",
                "Registry",
                "PeerStatus",
                "Reload",
                "ChallengeSent",
                "Shutdown",
                "InvalidAccountID",
                "FailedACL",
                "ChallengeResponseFailed",
                "InvalidPassword",
                "AgentLogin",
                "AgentLogoff",
                "MusicOnHold",
                "Pickup",
                "DeviceStateListComplete",
            }
        )

    # ------------------------------------------------------------------ input

    def feed(self, msg: AmiMessage, now: float = 0.0) -> list[DomainEvent]:
        """Apply one event; returns the domain events it caused (often none)."""
        out: list[DomainEvent] = []
        name = msg.headers.get("Event")
        if name is None:
            return out
        handler = self._handlers.get(name)
        if handler is None:
            if name not in self._ignored:
                self.unknown_events += 1
                log.debug("ami event %s ignored (not used by the call model)", name)
            return out
        stamp = msg.headers.get("Timestamp")
        at = now
        if stamp:
            try:
                at = float(stamp)
            except ValueError:
                log.debug("bad Timestamp %r in %s", stamp, name)
        try:
            handler(msg, at, out)
        except (KeyError, ValueError) as exc:
            # Malformed event (missing header, bad number): skip it, keep the rest.
            log.debug("ami event %s could not be applied: %r", name, exc)
        return out

    def feed_all(self, messages: Iterable[AmiMessage], now: float = 0.0) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for msg in messages:
            out.extend(self.feed(msg, now))
        return out

    def expect_outbound(self, channel_id: str, extension: str, number: str) -> None:
        """Note an Originate we sent (ChannelId = future uniqueid and linkedid)."""
        if len(self._pending_originates) >= MAX_PENDING_ORIGINATES:
            # Asterisk never answered the oldest one: forget it rather than grow.
            del self._pending_originates[next(iter(self._pending_originates))]
        self._pending_originates[channel_id] = (extension, number)

    def forget_outbound(self, channel_id: str) -> None:
        """The Originate was refused: no channel will come."""
        self._pending_originates.pop(channel_id, None)

    # ------------------------------------------------------------------ queries

    def call(self, call_id: str) -> Call | None:
        """A call by its event id (prefixed) or by its linkedid."""
        if self.id_prefix and call_id.startswith(self.id_prefix):
            call_id = call_id[len(self.id_prefix) :]
        return self.calls.get(call_id)

    def channel_name(self, uniqueid: str) -> str:
        ch = self.channels.get(uniqueid)
        return ch.name if ch else ""

    def phone_busy(self, extension: str) -> bool:
        """True when the phone cannot ring for another caller now: it has a channel in a
        call that is not over (ringing, talking, on hold, dialling out), or Asterisk
        cannot reach it.

        The channels decide, not the device state: ``DeviceStateChange`` lags them (the
        phone's NOT_INUSE comes after its channel's Hangup, which itself may come after
        the call's root channel hung up), and the tracker sees every channel of the server.
        """
        if self.phone_states.get(extension) is PhoneState.UNREACHABLE:
            return True
        for ch in self.channels.values():
            if ch.role is Role.PHONE and ch.endpoint == extension:
                call = self.calls.get(ch.linkedid)
                if call is None or call.state is not CallState.ENDED:
                    return True
        return False

    def phone_reachable(self, extension: str) -> bool:
        return self.phone_states.get(extension) is not PhoneState.UNREACHABLE

    def phone_state(self, extension: str) -> PhoneState:
        return self.phone_states.get(extension, PhoneState.UNKNOWN)

    def live_calls(self) -> list[Call]:
        return [c for c in self.calls.values() if c.state is not CallState.ENDED]

    def has_room(self) -> bool:
        """Whether one more channel may be tracked; counts and reports one that may not."""
        if len(self.channels) < self.max_channels:
            return True
        self.channels_not_tracked += 1
        if not self.at_ceiling:
            self.at_ceiling = True
            self.ceiling_episodes += 1
            log.error(
                "cti[%s] %d channels tracked, the ceiling ([asterisk] max_tracked_channels): "
                "new channels are not tracked and their callers are sent to the unroutable "
                "fallback until the count is back under %d",
                self.server,
                len(self.channels),
                self._clear_below(),
            )
        return False

    def _clear_below(self) -> int:
        return int(self.max_channels * CEILING_CLEAR_FRACTION)

    def _channel_gone(self) -> None:
        if self.at_ceiling and len(self.channels) < self._clear_below():
            self.at_ceiling = False
            log.warning(
                "cti[%s] back under the tracking ceiling (%d channels): new channels are "
                "tracked again; %d were not tracked so far",
                self.server,
                len(self.channels),
                self.channels_not_tracked,
            )

    def _add_channel(self, ch: Channel) -> None:
        self.channels[ch.uniqueid] = ch
        self._by_name[ch.name] = ch.uniqueid
        call = self.calls.get(ch.linkedid)
        if call is not None:
            call.channels.add(ch.uniqueid)

    def _role_for(self, name: str, context: str) -> Role:
        if name.startswith("Local/"):
            return Role.LOCAL
        if context == self.contexts.agents:
            return Role.PHONE
        endpoint = endpoint_of(name)
        if self._is_agent_ext is not None and self._is_agent_ext(endpoint):
            return Role.PHONE
        return Role.CUSTOMER

    def _call_of(self, msg: AmiMessage) -> Call | None:
        linkedid = msg.headers.get("Linkedid")
        if not linkedid:
            uid = msg.headers.get("Uniqueid", "")
            ch = self.channels.get(uid)
            linkedid = ch.linkedid if ch else ""
        call = self.calls.get(linkedid) if linkedid else None
        if call is not None and call.state is CallState.ENDED:
            return None
        return call

    def _new_inbound(self, ch: Channel, at: float, number: str, caller_name: str) -> Call:
        call = Call(
            call_id=self.id_prefix + ch.linkedid,
            linkedid=ch.linkedid,
            direction=CallDirection.INBOUND,
            root=ch.uniqueid,
            created_at=at,
            caller_number=number,
            caller_name=caller_name,
            customer=ch.uniqueid,
        )
        call.channels.add(ch.uniqueid)
        self.calls[call.linkedid] = call
        return call

    def _set_phone_state(
        self, extension: str, state: PhoneState, at: float, out: list[DomainEvent]
    ) -> None:
        known = self.phone_states.get(extension)
        if known is state:
            return
        if known is None and len(self.phone_states) >= self.max_channels:
            # More phones than the ceiling allows channels: a flood of made-up devices.
            # Reported, not kept (the service ignores extensions of no agent anyway).
            self.phone_states_not_kept += 1
        else:
            self.phone_states[extension] = state
        out.append(
            AgentPhoneStateChanged(at=at, server=self.server, extension=extension, state=state)
        )

    # ------------------------------------------------------------------ handlers

    def _on_newchannel(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        uid = h["Uniqueid"]
        if uid in self.channels:
            return  # replayed after a resync
        if not self.has_room():
            return
        name = h["Channel"]
        context = h.get("Context", "")
        linkedid = h.get("Linkedid") or uid
        ch = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid,
            role=self._role_for(name, context),
            endpoint=endpoint_of(name),
            context=context,
            created_at=at,
            state=h.get("ChannelStateDesc", ""),
        )
        self._add_channel(ch)
        if uid != linkedid or linkedid in self.calls:
            return
        if ch.role is Role.CUSTOMER:
            self._new_inbound(
                ch, at, _unknown(h.get("CallerIDNum", "")), _unknown(h.get("CallerIDName", ""))
            )
        elif ch.role is Role.PHONE and uid in self._pending_originates:
            extension, number = self._pending_originates.pop(uid)
            self._start_outbound(ch, at, extension, number, out)

    def _start_outbound(
        self, ch: Channel, at: float, extension: str, number: str, out: list[DomainEvent]
    ) -> Call:
        call = Call(
            call_id=self.id_prefix + ch.linkedid,
            linkedid=ch.linkedid,
            direction=CallDirection.OUTBOUND,
            root=ch.uniqueid,
            created_at=at,
            caller_number=number,
            dialled_number=number,
            extension=extension,
            offered_extension=extension,
            agent=ch.uniqueid,
        )
        call.channels.add(ch.uniqueid)
        self.calls[call.linkedid] = call
        out.append(
            OutboundCallStarted(
                at=at, server=self.server, call_id=call.call_id, extension=extension, number=number
            )
        )
        return call

    def _on_newstate(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        ch = self.channels.get(msg.headers.get("Uniqueid", ""))
        if ch is not None:
            ch.state = msg.headers.get("ChannelStateDesc", ch.state)

    def _on_varset(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        variable = h.get("Variable")
        if variable == "CC_QUEUE":
            call = self._call_of(msg)
            if call is not None and h.get("Uniqueid") == call.customer:
                call.queue = h.get("Value", "")
        elif variable == "MIXMONITOR_FILENAME":
            call = self._call_of(msg)
            if call is not None:
                call.recording_file = h.get("Value", "")

    def _on_userevent(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        kind = h.get("UserEvent")
        call = self._call_of(msg)
        if call is None:
            if kind == "CCEnqueue" and self.at_ceiling and h.get("Uniqueid") not in self.channels:
                linkedid = h.get("Linkedid") or h.get("Uniqueid", "")
                out.append(
                    CallNotTracked(
                        at=at,
                        server=self.server,
                        call_id=self.id_prefix + linkedid,
                        channel=h.get("Channel", ""),
                        queue=h.get("Queue", ""),
                    )
                )
                return
            log.debug("user event %s for an unknown call", kind)
            return
        if kind == "CCEnqueue":
            queue = h.get("Queue", "") or call.queue
            self._enqueue(call, queue, at, out)
        elif kind == "CCAgentNoAnswer":
            extension = h.get("Agent", "") or call.offered_extension
            call.state = CallState.QUEUED
            call.offered_extension = ""
            out.append(
                CallAgentNoAnswer(
                    at=at,
                    server=self.server,
                    call_id=call.call_id,
                    extension=extension,
                    dial_status=h.get("DialStatus", "NOANSWER"),
                )
            )

    def _enqueue(self, call: Call, queue: str, at: float, out: list[DomainEvent]) -> None:
        if call.state is CallState.QUEUED and call.queue == queue:
            return  # same enqueue seen twice (resync overlap)
        requeued = call.queued_at is not None
        if call.state in (CallState.CONNECTED, CallState.HELD) and call.extension:
            out.append(
                CallTransferred(
                    at=at,
                    server=self.server,
                    call_id=call.call_id,
                    kind=TransferKind.REDIRECT,
                    from_extension=call.extension,
                    to_queue=queue,
                )
            )
            call.agent = ""
        call.queue = queue
        call.state = CallState.QUEUED
        call.transfer_pending = False
        if call.queued_at is None:
            call.queued_at = at
        out.append(
            CallQueued(
                at=at,
                server=self.server,
                call_id=call.call_id,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                queue=queue,
                requeued=requeued,
            )
        )

    def _on_dialbegin(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        call = self._call_of(msg)
        dest_uid = h.get("DestUniqueid", "")
        dest = self.channels.get(dest_uid)
        if call is None or dest is None:
            return
        context = h.get("Context", "")
        if context == self.contexts.offer and h.get("Uniqueid") == call.customer:
            dest.role = Role.PHONE
            extension = h.get("DestExten") or h.get("Exten") or dest.endpoint
            if call.state in (CallState.CONNECTED, CallState.HELD) and call.extension:
                out.append(
                    CallTransferred(
                        at=at,
                        server=self.server,
                        call_id=call.call_id,
                        kind=TransferKind.REDIRECT,
                        from_extension=call.extension,
                        to_extension=extension,
                    )
                )
            call.state = CallState.OFFERED
            call.offered_extension = extension
            call.offered_at = at
            call.transfer_pending = False
            out.append(
                CallAgentRinging(
                    at=at, server=self.server, call_id=call.call_id, extension=extension
                )
            )
        elif context == self.contexts.outbound:
            dest.role = Role.CUSTOMER
            number = h.get("Exten", "")
            if h.get("Uniqueid") == call.customer and call.extension:
                # The customer leg itself was sent to an outside number.
                out.append(
                    CallTransferred(
                        at=at,
                        server=self.server,
                        call_id=call.call_id,
                        kind=TransferKind.REDIRECT,
                        from_extension=call.extension,
                        to_number=number,
                    )
                )
                call.state = CallState.RINGING
                call.dialled_number = number
            elif call.direction is CallDirection.OUTBOUND and not call.customer:
                call.customer = dest_uid
                call.dialled_number = number or call.dialled_number

    def _on_bridge_enter(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        bridge = h.get("BridgeUniqueid", "")
        uid = h.get("Uniqueid", "")
        ch = self.channels.get(uid)
        if ch is None:
            return  # only tracked channels are kept in bridges: bounded by the ceiling
        if ch.bridge and ch.bridge != bridge:
            self._leave_bridge(ch.bridge, uid)
        self._bridges.setdefault(bridge, set()).add(uid)
        ch.bridge = bridge
        self._check_connected(bridge, at, out)

    def _check_connected(self, bridge: str, at: float, out: list[DomainEvent]) -> None:
        members = self._bridges.get(bridge, set())
        customer: Channel | None = None
        phone: Channel | None = None
        for uid in members:
            ch = self.channels.get(uid)
            if ch is None:
                continue
            call = self.calls.get(ch.linkedid)
            if call is not None and call.customer == uid:
                customer = ch
            elif ch.role is Role.PHONE:
                phone = ch
        if customer is None or phone is None:
            return
        call = self.calls[customer.linkedid]
        if call.state is CallState.ENDED:
            return
        if call.state is CallState.HELD and call.agent == phone.uniqueid:
            return  # back in the bridge after hold: the MoH stop reports the resume
        if call.agent == phone.uniqueid and call.state is CallState.CONNECTED:
            return
        extension = phone.endpoint
        call.agent = phone.uniqueid
        call.extension = extension
        call.state = CallState.CONNECTED
        call.offered_extension = ""
        call.transfer_pending = False
        first = call.answered_at is None
        if first:
            call.answered_at = at
        wait = (at - call.queued_at) if call.queued_at is not None else 0.0
        ring = (at - call.offered_at) if call.offered_at is not None else 0.0
        out.append(
            CallAnswered(
                at=at,
                server=self.server,
                call_id=call.call_id,
                extension=extension,
                direction=call.direction,
                wait_seconds=round(max(wait, 0.0), 6),
                ring_seconds=round(max(ring, 0.0), 6),
            )
        )

    def _on_bridge_leave(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        bridge = h.get("BridgeUniqueid", "")
        uid = h.get("Uniqueid", "")
        self._leave_bridge(bridge, uid)
        ch = self.channels.get(uid)
        if ch is not None and ch.bridge == bridge:
            ch.bridge = ""

    def _leave_bridge(self, bridge: str, uid: str) -> None:
        members = self._bridges.get(bridge)
        if members is not None:
            members.discard(uid)
            if not members:
                del self._bridges[bridge]

    def _on_bridge_destroy(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        self._bridges.pop(msg.headers.get("BridgeUniqueid", ""), None)

    def _on_moh_start(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or msg.headers.get("Uniqueid") != call.customer:
            return
        if call.state is CallState.CONNECTED:
            call.state = CallState.HELD
            out.append(
                CallHeld(at=at, server=self.server, call_id=call.call_id, extension=call.extension)
            )

    def _on_moh_stop(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or msg.headers.get("Uniqueid") != call.customer:
            return
        if call.state is CallState.HELD:
            call.state = CallState.CONNECTED
            out.append(
                CallResumed(
                    at=at, server=self.server, call_id=call.call_id, extension=call.extension
                )
            )

    def _on_hangup_request(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        ch = self.channels.get(msg.headers.get("Uniqueid", ""))
        if ch is None:
            return
        ch.far_hangup = True
        call = self.calls.get(ch.linkedid)
        if call is None or call.hung_up_by is not None or call.state is CallState.ENDED:
            return
        if ch.uniqueid == call.customer:
            call.hung_up_by = HungUpBy.CUSTOMER
        elif ch.uniqueid == call.agent and call.state in (CallState.CONNECTED, CallState.HELD):
            call.hung_up_by = HungUpBy.AGENT

    def _on_hangup(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        uid = h.get("Uniqueid", "")
        ch = self.channels.pop(uid, None)
        if ch is None:
            log.debug("hangup of unknown channel %s", h.get("Channel"))
            return
        if self._by_name.get(ch.name) == uid:
            del self._by_name[ch.name]
        if ch.bridge:
            self._leave_bridge(ch.bridge, uid)
        self._channel_gone()
        call = self.calls.get(ch.linkedid)
        if call is None:
            return
        call.channels.discard(uid)
        if call.state is CallState.ENDED:
            if not call.channels:
                del self.calls[call.linkedid]
            return
        if uid == call.agent and uid != call.root:
            call.agent = ""
            if call.direction is CallDirection.INBOUND and call.state is CallState.HELD:
                # The agent hung up on a held customer, who now hears music with nobody
                # to come back: report it so the service can queue the call again.
                call.state = CallState.CONNECTED
                out.append(
                    CallAgentLeft(
                        at=at, server=self.server, call_id=call.call_id, extension=call.extension
                    )
                )
        if uid != call.root:
            return
        cause_text = h.get("Cause-txt", "")
        try:
            cause = int(h.get("Cause", "0") or 0)
        except ValueError:
            cause = 0
        self._end_call(call, at, cause, cause_text, out)
        if not call.channels:
            del self.calls[call.linkedid]

    def _end_call(
        self,
        call: Call,
        at: float,
        cause: int,
        cause_text: str,
        out: list[DomainEvent],
        *,
        by: HungUpBy | None = None,
    ) -> None:
        was = call.state
        call.state = CallState.ENDED
        if (
            call.answered_at is not None
            and call.dialled_number
            and call.direction is (CallDirection.INBOUND)
            and was is CallState.RINGING
        ):
            outcome = CallOutcome.TRANSFERRED_OUT
        elif call.answered_at is not None:
            outcome = CallOutcome.COMPLETED
        elif call.direction is CallDirection.OUTBOUND:
            outcome = CallOutcome.FAILED
        else:
            outcome = CallOutcome.ABANDONED
        hung_up_by = by or call.hung_up_by or HungUpBy.SYSTEM
        if by is None and call.hung_up_by is None and outcome is CallOutcome.ABANDONED:
            hung_up_by = HungUpBy.CUSTOMER if cause in (0, 16) else HungUpBy.SYSTEM
        wait_end = call.answered_at if call.answered_at is not None else at
        wait = wait_end - call.queued_at if call.queued_at is not None else 0.0
        talk = at - call.answered_at if call.answered_at is not None else 0.0
        out.append(
            CallHungUp(
                at=at,
                server=self.server,
                call_id=call.call_id,
                direction=call.direction,
                hung_up_by=hung_up_by,
                outcome=outcome,
                cause=cause,
                cause_text=cause_text,
                extension=call.extension,
                queue=call.queue,
                caller_number=call.caller_number,
                wait_seconds=round(max(wait, 0.0), 6),
                talk_seconds=round(max(talk, 0.0), 6),
            )
        )

    def _on_blind_transfer(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        if h.get("Result") != "Success":
            return
        call = self.calls.get(h.get("TransfereeLinkedid", ""))
        if call is None or call.state is CallState.ENDED:
            return
        target = h.get("Extension", "")
        context = h.get("Context", "")
        from_ext = endpoint_of(h.get("TransfererChannel", "")) or call.extension
        kwargs = (
            {"to_queue": target}
            if context == self.contexts.queue
            else (
                {"to_number": target}
                if context == self.contexts.outbound
                else {"to_extension": target}
            )
        )
        out.append(
            CallTransferred(
                at=at,
                server=self.server,
                call_id=call.call_id,
                kind=TransferKind.BLIND,
                from_extension=from_ext,
                **kwargs,
            )
        )
        # The redirect that follows must not count as a second transfer.
        call.extension = ""
        call.agent = ""
        call.state = CallState.RINGING
        call.transfer_pending = True

    def _on_attended_transfer(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        if h.get("Result") != "Success":
            return
        call = self.calls.get(h.get("TransfereeLinkedid", ""))
        if call is None or call.state is CallState.ENDED:
            return
        target = h.get("TransferTargetChannel", "")
        from_ext = endpoint_of(h.get("OrigTransfererChannel", "")) or call.extension
        out.append(
            CallTransferred(
                at=at,
                server=self.server,
                call_id=call.call_id,
                kind=TransferKind.ATTENDED,
                from_extension=from_ext,
                to_extension=endpoint_of(target),
            )
        )
        call.transfer_pending = True

    def _on_mixmonitor_start(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or call.recording:
            return
        call.recording = True
        out.append(
            CallRecordingStarted(
                at=at, server=self.server, call_id=call.call_id, file=call.recording_file
            )
        )

    def _on_mixmonitor_stop(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or not call.recording:
            return
        call.recording = False
        out.append(
            CallRecordingStopped(
                at=at, server=self.server, call_id=call.call_id, file=call.recording_file
            )
        )

    def _on_chanspy_start(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        call = self.calls.get(h.get("SpyeeLinkedid", ""))
        if call is None or call.state is CallState.ENDED:
            return
        spyer = h.get("SpyerChannel", "")
        mode = self.contexts.monitor_mode(h.get("SpyerContext", "")) or MonitorMode.LISTEN
        supervisor = endpoint_of(spyer)
        agent = endpoint_of(h.get("SpyeeChannel", ""))
        if spyer not in call.monitors and len(call.monitors) >= MAX_MONITORS_PER_CALL:
            log.debug("call %s: more than %d monitors, not kept", call.call_id, len(call.monitors))
            return
        call.monitors[spyer] = (supervisor, agent)
        out.append(
            CallMonitorStarted(
                at=at,
                server=self.server,
                call_id=call.call_id,
                supervisor_extension=supervisor,
                agent_extension=agent,
                mode=mode,
            )
        )

    def _on_chanspy_stop(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        call = self.calls.get(h.get("SpyeeLinkedid", ""))
        spyer = h.get("SpyerChannel", "")
        if call is None or spyer not in call.monitors:
            return
        supervisor, agent = call.monitors.pop(spyer)
        out.append(
            CallMonitorStopped(
                at=at,
                server=self.server,
                call_id=call.call_id,
                supervisor_extension=supervisor,
                agent_extension=agent,
            )
        )

    def _on_originate_response(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        h = msg.headers
        uid = h.get("Uniqueid", "")
        call = self.calls.get(uid)
        if h.get("Response") == "Success":
            if call is None and uid in self.channels and h.get("Context") == self.contexts.outbound:
                ch = self.channels[uid]
                self._start_outbound(ch, at, ch.endpoint, h.get("Exten", ""), out)
            return
        reason = _ORIGINATE_REASONS.get(h.get("Reason", ""), "failed")
        pending = self._pending_originates.pop(uid, None)
        if call is not None and call.direction is CallDirection.OUTBOUND:
            out.append(
                OutboundCallFailed(
                    at=at,
                    server=self.server,
                    call_id=call.call_id,
                    extension=call.extension,
                    number=call.dialled_number,
                    reason=reason,
                )
            )
            call.hung_up_by = HungUpBy.SYSTEM
        elif pending is not None:
            out.append(
                OutboundCallFailed(
                    at=at,
                    server=self.server,
                    call_id=self.id_prefix + uid,
                    extension=pending[0],
                    number=pending[1],
                    reason=reason,
                )
            )

    def _on_device_state(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        device = msg.headers.get("Device", "")
        tech, _, extension = device.partition("/")
        if tech not in ("PJSIP", "SIP", "IAX2") or not extension:
            return
        state = _DEVICE_STATES.get(msg.headers.get("State", ""), PhoneState.UNKNOWN)
        self._set_phone_state(extension, state, at, out)

    def _on_contact_status(self, msg: AmiMessage, at: float, out: list[DomainEvent]) -> None:
        aor = msg.headers.get("AOR", "")
        status = msg.headers.get("ContactStatus", "")
        if not aor:
            return
        if status in ("Unreachable", "Removed"):
            self._set_phone_state(aor, PhoneState.UNREACHABLE, at, out)
        elif status in ("Reachable", "NonQualified", "Created", "Updated") and (
            self.phone_states.get(aor) is PhoneState.UNREACHABLE
        ):
            self._set_phone_state(aor, PhoneState.AVAILABLE, at, out)

    # ------------------------------------------------------------------ resync

    def reconcile(
        self,
        snapshot: Sequence[ChannelSnapshot],
        queues: dict[str, str],
        at: float,
    ) -> list[DomainEvent]:
        """Bring the model in line with the channels Asterisk lists after a (re)connect.

        ``queues`` maps uniqueid -> CC_QUEUE for customer channels (Getvar).
        Calls that vanished while we were away end with ``hung_up_by=unknown``;
        calls we did not know are created in the state Asterisk shows; calls we
        knew are moved to their current state. Nothing is emitted twice.
        """
        out: list[DomainEvent] = []
        live = {s.uniqueid: s for s in snapshot}
        # 1. Calls and channels that no longer exist.
        for call in list(self.calls.values()):
            if call.root not in live and call.state is not CallState.ENDED:
                self._end_call(
                    call,
                    at,
                    0,
                    "ended while the AMI link was down",
                    out,
                    by=call.hung_up_by or HungUpBy.UNKNOWN,
                )
        for uid in [u for u in self.channels if u not in live]:
            ch = self.channels.pop(uid)
            if self._by_name.get(ch.name) == uid:
                del self._by_name[ch.name]
        self.calls = {k: c for k, c in self.calls.items() if c.state is not CallState.ENDED}
        self._bridges = {}
        # 2. Channels: add the new ones, refresh bridges and contexts.
        roots = [s for s in snapshot if s.uniqueid == s.linkedid]
        for snap in snapshot:
            known = self.channels.get(snap.uniqueid)
            if known is None:
                if not self.has_room():
                    continue
                role = self._snapshot_role(snap, live)
                known = Channel(
                    name=snap.name,
                    uniqueid=snap.uniqueid,
                    linkedid=snap.linkedid,
                    role=role,
                    endpoint=endpoint_of(snap.name),
                    context=snap.context,
                    created_at=at - snap.duration_seconds,
                    state="Up",
                )
                self.channels[snap.uniqueid] = known
                self._by_name[known.name] = known.uniqueid
            known.bridge = snap.bridge
            known.context = snap.context
            if snap.bridge:
                self._bridges.setdefault(snap.bridge, set()).add(snap.uniqueid)
        # 3. Calls: create or move each to what Asterisk shows.
        self._channel_gone()
        for snap in roots:
            if snap.uniqueid not in self.channels:
                continue  # not tracked: past the ceiling
            ch = self.channels[snap.uniqueid]
            found = self.calls.get(snap.linkedid)
            if found is not None:
                call = found
            else:
                if ch.role is Role.PHONE:
                    if snap.context != self.contexts.outbound:
                        continue  # a supervisor or internal call, not a customer call
                    call = self._start_outbound(
                        ch, at - snap.duration_seconds, ch.endpoint, snap.exten, out
                    )
                else:
                    call = self._new_inbound(
                        ch,
                        at - snap.duration_seconds,
                        _unknown(snap.caller_number),
                        _unknown(snap.caller_name),
                    )
            call.channels = {
                s.uniqueid
                for s in snapshot
                if s.linkedid == call.linkedid and s.uniqueid in self.channels
            }
            queue = queues.get(snap.uniqueid, "") or call.queue
            if call.direction is CallDirection.INBOUND:
                self._reconcile_inbound(call, snap, queue, at, out)
            else:
                if call.customer and call.customer not in live:
                    call.customer = ""
                for s in snapshot:
                    if s.linkedid == call.linkedid and s.uniqueid != call.root:
                        call.customer = call.customer or s.uniqueid
                if snap.bridge:
                    self._check_connected(snap.bridge, at, out)
        return out

    def _snapshot_role(self, snap: ChannelSnapshot, live: dict[str, ChannelSnapshot]) -> Role:
        if snap.name.startswith("Local/"):
            return Role.LOCAL
        if snap.context in (
            self.contexts.agents,
            self.contexts.outbound,
            self.contexts.supervisor_listen,
            self.contexts.supervisor_whisper,
            self.contexts.supervisor_barge,
            self.contexts.agent_on_hold,
        ):
            return (
                Role.PHONE
                if snap.uniqueid == snap.linkedid or snap.context != (self.contexts.outbound)
                else Role.CUSTOMER
            )
        if snap.uniqueid != snap.linkedid and snap.application == "AppDial":
            root = live.get(snap.linkedid)
            if root is not None and root.context == self.contexts.outbound:
                return Role.CUSTOMER
            return Role.PHONE
        if self._is_agent_ext is not None and self._is_agent_ext(endpoint_of(snap.name)):
            return Role.PHONE
        return Role.CUSTOMER

    def _reconcile_inbound(
        self, call: Call, snap: ChannelSnapshot, queue: str, at: float, out: list[DomainEvent]
    ) -> None:
        if call.agent and call.agent not in self.channels:
            call.agent = ""
        if snap.bridge:
            self._check_connected(snap.bridge, at, out)
            if call.state is CallState.CONNECTED:
                call.queue = queue or call.queue
                return
        if snap.context == self.contexts.on_hold and call.state is CallState.CONNECTED:
            call.state = CallState.HELD
            out.append(
                CallHeld(at=at, server=self.server, call_id=call.call_id, extension=call.extension)
            )
            return
        if snap.context == self.contexts.hold and queue:
            if call.state is CallState.OFFERED and call.offered_extension:
                out.append(
                    CallAgentNoAnswer(
                        at=at,
                        server=self.server,
                        call_id=call.call_id,
                        extension=call.offered_extension,
                        dial_status="UNKNOWN",
                    )
                )
                call.state = CallState.QUEUED
                call.offered_extension = ""
                call.queue = queue
                return
            if call.state is not CallState.QUEUED:
                if call.queued_at is None:
                    call.queued_at = at - snap.duration_seconds
                    call.queue = queue
                    call.state = CallState.QUEUED
                    out.append(
                        CallQueued(
                            at=at,
                            server=self.server,
                            call_id=call.call_id,
                            caller_number=call.caller_number,
                            caller_name=call.caller_name,
                            queue=queue,
                            requeued=False,
                        )
                    )
                else:
                    self._enqueue(call, queue, at, out)
            return
        if snap.context == self.contexts.offer and snap.application == "Dial":
            call.queue = queue or call.queue
            if call.queued_at is None:
                call.queued_at = at - snap.duration_seconds
            if call.state is not CallState.OFFERED:
                call.state = CallState.OFFERED
                call.offered_extension = snap.exten
                call.offered_at = at
                out.append(
                    CallAgentRinging(
                        at=at, server=self.server, call_id=call.call_id, extension=snap.exten
                    )
                )
