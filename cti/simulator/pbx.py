"""A simulated Asterisk that speaks AMI, for the demo and the tests.

``SimulatedPbx`` is an asyncio TCP server. Its event sequences are the real
ones: every step (a call arriving, a redirect to an agent, an answer, a hangup,
a transfer, an originate, ChanSpy, MixMonitor) replays a template cut from the
recorded captures (:mod:`cti.simulator.recorded`) with this call's channel
names, uniqueids, caller id and timestamps filled in. Replies to bad actions
are Asterisk's own (``Channel does not exist: ...``, ``Permission denied``).

Control API (all async, for the demo and tests)::

    pbx = SimulatedPbx()
    port = await pbx.start("127.0.0.1", 0)
    pbx.set_phone("1001", PhoneMode.ANSWER, ring_seconds=1.0)
    call_id = await pbx.place_call("+4420794600001", queue="support")
    await pbx.caller_hangs_up(call_id)

Hold and the cancellation of an attended transfer were not recorded; those
steps are assembled from recorded messages of the same kinds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import hashlib
import itertools
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable

from cti.protocol import AmiFramer, AmiMessage, encode_message
from cti.simulator import devices
from cti.simulator.devices import DeviceStates
from cti.simulator.extract import as_pairs
from cti.simulator.recorded import SEGMENTS
from cti.tracker import endpoint_of as endpoint

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\$\{([a-z0-9_.]+)(?:\+([0-9.]+))?\}")


# What Asterisk answers a caller it has no RTP port for (capture p4).
REFUSED_NO_MEDIA = "488 Not Acceptable Here"


class CallRefused(Exception):
    """Asterisk refused an incoming call at the SIP level (no channel, no AMI event)."""

    def __init__(self, number: str, status: str) -> None:
        super().__init__(f"call from {number} refused: SIP {status}")
        self.number = number
        self.status = status


class PhoneMode(enum.StrEnum):
    ANSWER = "answer"  # answers after ring_seconds
    NO_ANSWER = "no_answer"  # rings until the dial timeout
    BUSY = "busy"  # rejects with 486 Busy Here
    UNREACHABLE = "unreachable"  # not registered: CHANUNAVAIL
    MANUAL = "manual"  # rings until the control API answers it


@dataclasses.dataclass(slots=True)
class SimPhone:
    extension: str
    name: str
    mode: PhoneMode = PhoneMode.ANSWER
    ring_seconds: float = 1.0


@dataclasses.dataclass(slots=True)
class SimChannel:
    name: str
    uid: str
    linkedid: str
    number: str
    caller_name: str
    context: str
    exten: str
    application: str = ""
    app_data: str = ""
    bridge: str = ""
    created: float = 0.0
    variables: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class SimCall:
    call_id: str
    kind: str  # "inbound" or "click_to_dial"
    caller: SimChannel
    queue: str = ""
    dnid: str = ""
    state: str = "holding"
    agent: SimChannel | None = None
    agent_ext: str = ""
    target: SimChannel | None = None
    target_ext: str = ""
    bridge: str = ""
    consult_bridge: str = ""
    target_bridge: str = ""
    local1: str = ""
    local2: str = ""
    local_base: str = ""
    hangup_style: str = "dial"
    # Hang-up cause a failed Dial left on the caller's channel (Cause, Cause-txt, TechCause).
    caller_cause: tuple[str, str, str] | None = None
    dials: int = 0  # agent legs dialled: one CDR each at the end
    auto_answer: bool = False  # the agent leg was dialled to answer by itself
    file: str = ""
    spies: dict[str, tuple[SimChannel, str]] = dataclasses.field(default_factory=dict)
    timers: list[asyncio.TimerHandle] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events: bool = True
    challenge: str = ""


_ORIGINATE_FAILED_REASON = {
    PhoneMode.NO_ANSWER: "3",
    PhoneMode.BUSY: "5",
    PhoneMode.UNREACHABLE: "0",
    PhoneMode.MANUAL: "3",
}


class SimulatedPbx:
    def __init__(
        self,
        *,
        username: str = "cc",
        secret: str = "cc-secret",  # noqa: S107 - the reference config's AMI secret
        ring_timeout: float = 15.0,
        media_sessions: int | None = None,
        atxfer_digit_timeout: float = 3.0,
        optimize_delay: float = 0.45,
        auth_failure_close_delay: float = 0.2,
        redirect_delay: float = 0.001,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.username = username
        self.secret = secret
        self.ring_timeout = ring_timeout
        # RTP sessions Asterisk can open (its rtp.conf port range / 2), one per PJSIP
        # channel; None: no limit. Past it new callers get 488 and agent legs fail.
        self.media_sessions = media_sessions
        self.atxfer_digit_timeout = atxfer_digit_timeout
        self.optimize_delay = optimize_delay
        self.auth_failure_close_delay = auth_failure_close_delay
        # Seconds from a Redirect's reply to the redirected channel's first event.
        self.redirect_delay = redirect_delay
        self.clock = clock
        self.phones: dict[str, SimPhone] = {}
        self.numbers: dict[str, SimPhone] = {}
        self.calls: dict[str, SimCall] = {}
        self.channels: dict[str, SimChannel] = {}
        self.actions: list[AmiMessage] = []
        # perf_counter() when each action arrived (benchmarks time the CTI's reactions)
        self.action_times: list[float] = []
        # perf_counter() when each event type was last written to the sockets
        self.written_at: dict[str, float] = {}
        self.connections = 0
        self.accepting = True
        # Lower-case action names answered "Permission denied" (a manager.conf without them).
        self.denied_actions: set[str] = set()
        self._clients: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._seq = itertools.count(1)
        self._chan_seq = itertools.count(1)
        self._epoch = int(clock())
        self._action_waiters: list[tuple[str, asyncio.Future[AmiMessage]]] = []
        self.emitted: collections.Counter[str] = collections.Counter()
        self._event_waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self._state_waiters: list[tuple[str, frozenset[str], asyncio.Future[str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Phone states (DeviceStateChange), derived from the channel events as Asterisk does.
        self._devices = DeviceStates(self._unreachable, clock)
        # Callers refused for want of media ports (number, SIP status), oldest first.
        self.refused_calls: list[tuple[str, str]] = []
        # Events held back by a delay (``_send``), oldest first, with their due time.
        self._outbox: collections.deque[tuple[float, list[list[tuple[str, str]]]]] = (
            collections.deque()
        )
        self._outbox_timer: asyncio.TimerHandle | None = None

    # ================================================================== server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for AMI clients; returns the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("simulated PBX listening on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        for call in self.calls.values():
            _cancel(call)
        if self._outbox_timer is not None:
            self._outbox_timer.cancel()
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def drop_connections(self) -> None:
        """Close every AMI socket (a network drop, as the clients see it)."""
        for client in list(self._clients):
            client.writer.close()
            with contextlib.suppress(Exception):
                await client.writer.wait_closed()
        self._clients.clear()

    async def restart(self) -> None:
        """An Asterisk restart: sockets closed, every call gone."""
        for call in self.calls.values():
            _cancel(call)
        self.calls.clear()
        self.channels.clear()
        self._devices.forget()
        await self.drop_connections()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.close()
            return
        client = _Client(writer)
        self._clients.add(client)
        self.connections += 1
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        framer = AmiFramer(expect_banner=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for frame in framer.feed(data):
                    if isinstance(frame, AmiMessage):
                        await self._on_action(client, frame)
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(client)
            writer.close()

    # ================================================================== control API

    def set_phone(
        self,
        extension: str,
        mode: PhoneMode = PhoneMode.ANSWER,
        *,
        ring_seconds: float = 1.0,
        name: str = "",
    ) -> SimPhone:
        phone = self.phones.get(extension)
        if phone is None:
            phone = SimPhone(extension, name or f"Agent {extension}", mode, ring_seconds)
            self.phones[extension] = phone
        phone.mode, phone.ring_seconds = mode, ring_seconds
        if name:
            phone.name = name
        return phone

    def set_number(
        self, number: str, mode: PhoneMode = PhoneMode.ANSWER, *, ring_seconds: float = 1.5
    ) -> SimPhone:
        """How an outside number reached by click-to-dial behaves."""
        phone = SimPhone(number, f"Customer {number}", mode, ring_seconds)
        self.numbers[number] = phone
        return phone

    async def set_phone_reachable(self, extension: str, reachable: bool) -> None:
        """A qualify check finds the phone reachable or not (ContactStatus, capture m3)."""
        self._set_reachable(extension, reachable)
        self._broadcast(devices.qualify(extension, reachable, self.clock()))

    async def register_phone(self, extension: str) -> None:
        """The phone REGISTERs: Asterisk has a contact for it again (capture p3)."""
        self._set_reachable(extension, True)
        uri = f"sip:{extension}@127.0.0.1:5373"
        self._broadcast(devices.registration(extension, uri, True, self.clock()))

    async def unregister_phone(self, extension: str) -> None:
        """The phone un-REGISTERs (Expires: 0): no contact, UNAVAILABLE (capture p3);
        a Dial to it then fails at once with CHANUNAVAIL, without a channel."""
        self._set_reachable(extension, False)
        uri = f"sip:{extension}@127.0.0.1:5373"
        self._broadcast(devices.registration(extension, uri, False, self.clock()))

    def _set_reachable(self, extension: str, reachable: bool) -> None:
        old = self.phones.get(extension)
        self.set_phone(
            extension,
            PhoneMode.ANSWER if reachable else PhoneMode.UNREACHABLE,
            ring_seconds=old.ring_seconds if old is not None else 1.0,
        )

    def _unreachable(self, extension: str) -> bool:
        phone = self.phones.get(extension)
        return phone is not None and phone.mode is PhoneMode.UNREACHABLE

    async def place_call(
        self, number: str, *, queue: str = "support", name: str = "", dnid: str = ""
    ) -> str:
        """A customer calls in: answered, enqueued for ``queue``, music on hold.

        Raises :class:`CallRefused` when every media session is taken (``media_sessions``):
        Asterisk then answers the INVITE ``488 Not Acceptable Here`` and shows nothing on
        AMI (capture p4).
        """
        if self._media_full():
            self.refused_calls.append((number, REFUSED_NO_MEDIA))
            log.info("simulated PBX refused caller %s: %s", number, REFUSED_NO_MEDIA)
            raise CallRefused(number, REFUSED_NO_MEDIA)
        channel = self._new_channel(
            "PJSIP/trunk", number, name or f"Customer {number}", "cc-hold", "s"
        )
        call = SimCall(
            channel.uid,
            "inbound",
            channel,
            queue=queue,
            dnid=dnid or {"support": "100", "sales": "200"}.get(queue, "100"),
        )
        channel.variables["CC_QUEUE"] = queue
        channel.application, channel.app_data = "MusicOnHold", "default"
        self.calls[call.call_id] = call
        self._emit("inbound", call)
        return call.call_id

    async def caller_hangs_up(self, call_id: str) -> None:
        call = self._call(call_id)
        self._caller_gone(call, soft=False)

    async def agent_hangs_up(self, call_id: str) -> None:
        call = self._call(call_id)
        if call.kind in ("click_to_dial", "transfer_out"):
            self._end_c2d(call)
            return
        if call.state == "onhold" and call.agent is not None:
            # The agent's leg alone hangs up; the customer stays in [cc-onhold].
            agent = call.agent
            self._emit("agent_hangup", call, keep=lambda m: dict(m).get("Channel") == agent.name)
            self._drop(agent)
            call.agent, call.agent_ext = None, ""
            return
        if call.state != "connected" or call.agent is None:
            raise ValueError(f"call {call_id} has no connected agent ({call.state})")
        self._agent_gone(call, soft=False)

    async def offer_directly(self, call_id: str, extension: str) -> None:
        """Asterisk sends a waiting caller to a phone on its own (another system's Redirect)."""
        self._offer(self._call(call_id), extension, None, "")

    async def answer(self, extension: str) -> None:
        """A phone in MANUAL mode picks up (an offer, or an attended transfer's
        consultation ringing there)."""
        for call in self.calls.values():
            if call.state == "ringing" and call.agent_ext == extension:
                _cancel(call)
                self._answered(call)
                return
            if (
                call.state == "consulting"
                and call.target is not None
                and call.target_ext == extension
                and not call.target_bridge
            ):
                self._consult_answer(call)
                return
        raise ValueError(f"phone {extension} is not ringing")

    async def wait_for_action(self, name: str, timeout: float = 5.0) -> AmiMessage:
        """Wait until a client sends ``name`` (tests)."""
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._action_waiters.append((name, future))
        return await asyncio.wait_for(future, timeout)

    async def wait_call_state(
        self, call_id: str, states: Iterable[str], timeout: float = 5.0
    ) -> str:
        """Wait until the call is in one of ``states`` ("connected", "holding", ...) or gone.

        Returns the state, or "gone" once the call has ended.
        """
        wanted = frozenset(states)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._state_waiters.append((call_id, wanted, future))
        self._check_state_waiters()
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._state_waiters = [w for w in self._state_waiters if w[2] is not future]

    def _check_state_waiters(self) -> None:
        for call_id, wanted, future in list(self._state_waiters):
            call = self.calls.get(call_id)
            state = call.state if call is not None else "gone"
            if (state in wanted or state == "gone") and not future.done():
                future.set_result(state)

    async def wait_for_event(self, name: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` events ``name`` have been sent since start (tests)."""
        if self.emitted[name] >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._event_waiters.append((name, count, future))
        await asyncio.wait_for(future, timeout)

    def _new_uid(self) -> str:
        return f"{self._epoch}.{next(self._seq)}"

    def _new_channel(
        self,
        prefix: str,
        number: str,
        caller_name: str,
        context: str,
        exten: str,
        *,
        uid: str = "",
        linkedid: str = "",
    ) -> SimChannel:
        uid = uid or self._new_uid()
        name = f"{prefix}-{next(self._chan_seq):08x}"
        channel = SimChannel(
            name, uid, linkedid or uid, number, caller_name, context, exten, created=self.clock()
        )
        self.channels[name] = channel
        return channel

    def _phone_channel(self, extension: str, linkedid: str, *, uid: str = "") -> SimChannel:
        phone = self.phones.get(extension) or self.set_phone(extension)
        return self._new_channel(
            f"PJSIP/{extension}", extension, phone.name, "cc-agents", "", uid=uid, linkedid=linkedid
        )

    def _drop(self, *channels: SimChannel | None) -> None:
        for channel in channels:
            if channel is not None:
                self.channels.pop(channel.name, None)

    def _call(self, call_id: str) -> SimCall:
        try:
            return self.calls[call_id]
        except KeyError:
            raise ValueError(f"no call {call_id!r} on the simulated PBX") from None

    def _call_of_channel(self, name: str) -> SimCall | None:
        for call in self.calls.values():
            if name in (
                call.caller.name,
                call.agent.name if call.agent else "",
                call.target.name if call.target else "",
            ):
                return call
            if name in call.spies:
                return call
        return None

    def _media_full(self) -> bool:
        if self.media_sessions is None:
            return False
        in_use = sum(1 for name in self.channels if name.startswith("PJSIP/"))
        return in_use >= self.media_sessions

    def phone_in_use(self, extension: str) -> bool:
        prefix = f"PJSIP/{extension}-"
        return any(name.startswith(prefix) for name in self.channels)

    # ================================================================== emitting

    def _binding(self, call: SimCall, action_id: str = "") -> dict[str, str]:
        caller = call.caller
        b = {
            "action_id": action_id,
            "queue": call.queue,
            "dnid": call.dnid,
            "file": call.file,
            "caller.channel": caller.name,
            "caller.uid": caller.uid,
            "caller.number": caller.number,
            "caller.name": caller.caller_name,
            "bridge": call.bridge,
            "bridge2": call.consult_bridge,
            "bridge3": call.target_bridge,
            "local.base": call.local_base,
            "local1.uid": call.local1,
            "local2.uid": call.local2,
        }
        for role, channel, ext in (
            ("agent", call.agent, call.agent_ext),
            ("target", call.target, call.target_ext),
        ):
            phone = self.phones.get(ext)
            b[f"{role}.ext"] = ext
            b[f"{role}.name"] = phone.name if phone else f"Agent {ext}"
            b[f"{role}.channel"] = channel.name if channel else ""
            b[f"{role}.uid"] = channel.uid if channel else ""
        if call.kind in ("click_to_dial", "transfer_out"):
            b["customer.channel"] = call.target.name if call.target else ""
            b["customer.uid"] = call.target.uid if call.target else ""
            b["customer.number"] = call.target_ext
            b["customer.name"] = f"Customer {call.target_ext}"
        return b

    def _render(
        self,
        segment: str,
        binding: dict[str, str],
        *,
        keep: Callable[[list[tuple[str, str]]], bool] | None = None,
        overrides: dict[tuple[str, str], str] | None = None,
    ) -> list[list[tuple[str, str]]]:
        now = self.clock()
        out = []
        for text in SEGMENTS[segment]:
            msg = []
            for key, value in as_pairs(text):
                if "${" in value:
                    value = _TOKEN.sub(lambda m: _fill(m, binding, now), value)
                if overrides and (key, value) in overrides:
                    value = overrides[(key, value)]
                msg.append((key, value))
            if msg[0] == ("Event", "RTCPSent"):
                continue  # media reports: no media here
            if keep is None or keep(msg):
                out.append(msg)
        return out

    def _emit(
        self,
        segment: str,
        call: SimCall,
        *,
        client: _Client | None = None,
        action_id: str = "",
        keep: Callable[[list[tuple[str, str]]], bool] | None = None,
        overrides: dict[tuple[str, str], str] | None = None,
        rename: dict[str, str] | None = None,
        extra_binding: dict[str, str] | None = None,
        cdrs: int | None = None,
        post: Callable[[list[list[tuple[str, str]]]], list[list[tuple[str, str]]]] | None = None,
        delay: float = 0.0,
    ) -> None:
        binding = self._binding(call, action_id)
        if extra_binding:
            binding.update(extra_binding)
        messages = self._render(segment, binding, keep=keep, overrides=overrides)
        if cdrs is not None:
            messages = _with_cdrs(messages, cdrs)
        if post is not None:
            messages = post(messages)
        if rename:
            for msg in messages:
                if msg and msg[0][0] == "Event" and msg[0][1] in rename:
                    msg[0] = ("Event", rename[msg[0][1]])
        self._send(messages, client, delay=delay)

    def _send(
        self,
        messages: Iterable[list[tuple[str, str]]],
        client: _Client | None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Responses to the asking client, events to all, in order, batched per write.

        With ``delay``, the events go out that many seconds after the response, as a
        real Asterisk's do after a Redirect (the reply first, the channel's events about
        1.5 ms later: recorded in tests/fixtures/ami-product/p2). Events are never
        reordered: while some wait, later ones queue behind them.
        """
        if self._state_waiters:
            # Call states change right after their events are emitted: look next turn.
            asyncio.get_running_loop().call_soon(self._check_state_waiters)
        batch: list[list[tuple[str, str]]] = []
        for msg in messages:
            if msg and msg[0][0] == "Response":
                if delay <= 0:
                    self._broadcast(batch)
                    batch = []
                if client is not None:
                    self._write(client, encode_message(msg))
            else:
                batch.append(msg)
        if delay <= 0 and not self._outbox:
            self._broadcast(batch)
            return
        loop = asyncio.get_running_loop()
        self._outbox.append((loop.time() + delay, batch))
        if self._outbox_timer is None:
            self._outbox_timer = loop.call_at(self._outbox[0][0], self._flush_outbox)

    def _flush_outbox(self) -> None:
        """Broadcast the delayed events that are due, in the order they were sent."""
        loop = asyncio.get_running_loop()
        self._outbox_timer = None
        while self._outbox and self._outbox[0][0] <= loop.time():
            self._broadcast(self._outbox.popleft()[1])
        if self._outbox:
            self._outbox_timer = loop.call_at(self._outbox[0][0], self._flush_outbox)

    def _broadcast(self, messages: Iterable[list[tuple[str, str]]]) -> None:
        messages = self._devices.with_changes(messages)
        if not messages:
            return
        for msg in messages:
            if msg and msg[0][0] == "Event":
                self.emitted[msg[0][1]] += 1
        for waiter in list(self._event_waiters):
            name, count, future = waiter
            if self.emitted[name] >= count and not future.done():
                future.set_result(None)
                self._event_waiters.remove(waiter)
        data = b"".join(encode_message(m) for m in messages)
        now = time.perf_counter()
        for msg in messages:
            if msg and msg[0][0] == "Event":
                self.written_at[msg[0][1]] = now
        for client in list(self._clients):
            if client.logged_in and client.events:
                self._write(client, data)

    @staticmethod
    def _write(client: _Client, data: bytes) -> None:
        if not client.writer.is_closing():
            client.writer.write(data)

    def _respond(
        self, client: _Client, action_id: str, response: str = "Success", **headers: str
    ) -> None:
        msg = [("Response", response), ("ActionID", action_id)]
        msg += [(k.replace("_", "-") if k == "Cause_txt" else k, v) for k, v in headers.items()]
        self._write(client, encode_message(msg))

    def _later(self, call: SimCall, delay: float, step: Callable[[], None]) -> None:
        def run() -> None:
            if call.call_id in self.calls:
                try:
                    step()
                except Exception:  # a broken step must not kill the event loop
                    log.exception("simulated PBX step failed")

        call.timers.append(asyncio.get_running_loop().call_later(delay, run))

    # ================================================================== actions

    async def _on_action(self, client: _Client, msg: AmiMessage) -> None:
        self.action_times.append(time.perf_counter())
        self.actions.append(msg)
        action = msg.get("Action")
        action_id = msg.get("ActionID")
        for waiter in list(self._action_waiters):
            if waiter[0].lower() == action.lower() and not waiter[1].done():
                waiter[1].set_result(msg)
                self._action_waiters.remove(waiter)
        if not action:
            self._respond(client, action_id, "Error", Message="Missing action in request")
            self._bad_format(client, "Action: NONE")
            return
        name = action.lower()
        if name == "login":
            await self._login(client, msg)
            return
        if name == "challenge":
            client.challenge = str(random.randint(100_000_000, 999_999_999))
            self._respond(client, action_id, Challenge=client.challenge)
            return
        if name == "logoff":
            self._respond(client, action_id, "Goodbye", Message="Thanks for all the fish.")
            client.writer.close()
            return
        if not client.logged_in:
            self._respond(client, action_id, "Error", Message="Permission denied")
            return
        if name in self.denied_actions:
            # What Asterisk answers when the AMI user lacks the action's write class.
            self._respond(client, action_id, "Error", Message="Permission denied")
            return
        handler = getattr(self, f"_act_{name}", None)
        if handler is None:
            self._respond(
                client,
                action_id,
                "Error",
                Message=(
                    f"Invalid/unknown command: {action}. Use Action: ListCommands to show "
                    "available commands."
                ),
            )
            self._bad_format(client, f"Action: {action}")
            return
        await handler(client, msg, action_id)

    def _bad_format(self, client: _Client, request: str) -> None:
        if client.logged_in:
            self._write(
                client,
                encode_message(
                    [
                        ("Event", "RequestBadFormat"),
                        ("Privilege", "security,all"),
                        ("Timestamp", f"{self.clock():.6f}"),
                        ("Severity", "Error"),
                        ("Service", "AMI"),
                        ("EventVersion", "1"),
                        ("RequestType", request),
                        ("AccountID", self.username),
                    ]
                ),
            )

    async def _login(self, client: _Client, msg: AmiMessage) -> None:
        action_id = msg.get("ActionID")
        ok = msg.get("Username") == self.username
        if msg.get("AuthType").lower() == "md5":
            expected = hashlib.md5(  # noqa: S324 - the AMI challenge protocol is MD5
                (client.challenge + self.secret).encode()
            ).hexdigest()
            ok = ok and bool(client.challenge) and msg.get("Key") == expected
        else:
            ok = ok and msg.get("Secret") == self.secret
        if not ok:
            self._respond(client, action_id, "Error", Message="Authentication failed")
            await asyncio.sleep(self.auth_failure_close_delay)  # Asterisk's own delay
            client.writer.close()
            return
        client.logged_in = True
        client.events = msg.get("Events", "on").lower() not in ("off", "no", "false")
        binding = {"action_id": action_id}
        self._write(client, b"".join(encode_message(m) for m in self._render("login", binding)))

    async def _act_ping(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        self._respond(client, action_id, Ping="Pong", Timestamp=f"{self.clock():.6f}")

    async def _act_events(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        client.events = msg.get("EventMask", "on").lower() not in ("off", "no", "false")
        self._respond(client, action_id, Events="On" if client.events else "Off")

    async def _act_setvar(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        channel = self.channels.get(msg.get("Channel"))
        if channel is None:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        channel.variables[msg.get("Variable")] = msg.get("Value")
        self._respond(client, action_id, Message="Variable Set")

    async def _act_getvar(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        channel = self.channels.get(msg.get("Channel"))
        variable = msg.get("Variable")
        if channel is None:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        self._respond(
            client, action_id, Variable=variable, Value=channel.variables.get(variable, "")
        )

    async def _act_coreshowchannels(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        self._respond(client, action_id, EventList="start", Message="Channels will follow")
        template = as_pairs(SEGMENTS["list_channel"][0])
        now = self.clock()
        items = []
        for ch in self.channels.values():
            values = {
                "ActionID": action_id,
                "Channel": ch.name,
                "CallerIDNum": ch.number,
                "CallerIDName": ch.caller_name,
                "Context": ch.context,
                "Exten": ch.exten,
                "Uniqueid": ch.uid,
                "Linkedid": ch.linkedid,
                "Application": ch.application,
                "ApplicationData": ch.app_data,
                "BridgeId": ch.bridge,
                "Duration": _hms(now - ch.created),
                "ConnectedLineNum": "<unknown>",
                "ConnectedLineName": "<unknown>",
            }
            items.append([(k, values.get(k, v)) for k, v in template])
        items.append(
            [
                ("Event", "CoreShowChannelsComplete"),
                ("ActionID", action_id),
                ("EventList", "Complete"),
                ("ListItems", str(len(items))),
            ]
        )
        self._write(client, b"".join(encode_message(m) for m in items))

    async def _act_bridgelist(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        self._respond(client, action_id, EventList="start", Message="Bridge listing will follow")
        bridges: dict[str, int] = {}
        for ch in self.channels.values():
            if ch.bridge:
                bridges[ch.bridge] = bridges.get(ch.bridge, 0) + 1
        template = as_pairs(SEGMENTS["list_channel"][2])
        items = [
            [
                (
                    k,
                    {"ActionID": action_id, "BridgeUniqueid": b, "BridgeNumChannels": str(n)}.get(
                        k, v
                    ),
                )
                for k, v in template
            ]
            for b, n in bridges.items()
        ]
        items.append(
            [
                ("Event", "BridgeListComplete"),
                ("ActionID", action_id),
                ("EventList", "Complete"),
                ("ListItems", str(len(items))),
            ]
        )
        self._write(client, b"".join(encode_message(m) for m in items))

    # ------------------------------------------------------------------ redirect

    async def _act_redirect(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        name = msg.get("Channel")
        channel = self.channels.get(name)
        call = self._call_of_channel(name) if channel else None
        if channel is None or call is None:
            self._respond(client, action_id, "Error", Message=f"Channel does not exist: {name}")
            return
        context, exten = msg.get("Context"), msg.get("Exten")
        extra = msg.get("ExtraChannel")
        if extra:
            if extra not in self.channels:
                self._respond(
                    client, action_id, "Error", Message=f"ExtraChannel does not exist: {extra}"
                )
                return
            if context == "cc-onhold" and call.state == "connected":
                self._hold(call, client, action_id)
                return
        if channel is not call.caller:
            self._respond(
                client, action_id, "Error", Message="Redirect of this channel is not simulated"
            )
            return
        if context == "cc-agent":
            self._offer(call, exten, client, action_id)
        elif context in ("cc-queue", "cc-hold"):
            self._requeue(call, exten if context == "cc-queue" else call.queue, client, action_id)
        elif context == "cc-outbound":
            self._transfer_out(call, exten, client, action_id)
        elif context == "cc-unroutable":
            # The shipped [cc-unroutable]: an announcement, then Asterisk hangs up.
            _cancel(call)
            self._respond(client, action_id, Message="Redirect successful")
            self._later(call, 0.01, lambda: self._caller_gone(call, soft=True))
        else:
            self._respond(
                client,
                action_id,
                "Error",
                Message=f"Context {context} is not part of the simulated dialplan",
            )

    def _offer(self, call: SimCall, extension: str, client: _Client | None, action_id: str) -> None:
        phone = self.phones.get(extension) or self.set_phone(extension, PhoneMode.UNREACHABLE)
        # [cc-agent] reads and clears CC_AUTO_ANSWER: the phone is dialled with
        # "Call-Info: answer-after=0" and answers by itself (unless it never answers).
        auto_answer = call.caller.variables.pop("CC_AUTO_ANSWER", "") == "1"
        call.auto_answer = auto_answer
        busy = phone.mode in (PhoneMode.BUSY, PhoneMode.UNREACHABLE) or self.phone_in_use(extension)
        if call.state == "ringing":
            _cancel(call)
            self._no_answer(call)
        if call.state in ("connected", "onhold") and call.agent is not None:
            _cancel(call)
            old_agent = call.agent
            call.target, call.target_ext = self._phone_channel(extension, call.call_id), extension
            call.caller.bridge = ""
            call.dials += 1
            self._emit(
                "transfer_redirect",
                call,
                client=client,
                action_id=action_id,
                delay=self.redirect_delay,
            )
            self._drop(old_agent)
            call.agent, call.agent_ext = call.target, extension
            call.target, call.target_ext = None, ""
            call.bridge, call.state = "", "ringing"
            self._ring(call, phone, busy)
            return
        call.caller.context, call.caller.exten = "cc-agent", extension
        call.caller.application, call.caller.app_data = "Dial", f"PJSIP/{extension},15,t"
        if phone.mode is PhoneMode.UNREACHABLE or self._media_full():
            self._dial_fails(call, extension, client, action_id)
            return
        call.agent, call.agent_ext = self._phone_channel(extension, call.call_id), extension
        call.agent.application, call.agent.app_data = "AppDial", "(Outgoing Line)"
        if busy:
            call.dials += 1
            self._emit(
                "offer_busy", call, client=client, action_id=action_id, delay=self.redirect_delay
            )
            self._back_to_hold(call)
            return
        call.dials += 1
        self._emit(
            "offer_ring", call, client=client, action_id=action_id, delay=self.redirect_delay
        )
        call.state = "ringing"
        self._ring(call, phone, False)

    def _dial_fails(
        self, call: SimCall, extension: str, client: _Client | None, action_id: str
    ) -> None:
        """Dial ends CHANUNAVAIL at once: a phone without a contact gets no channel at all
        (capture p3); without a free RTP port the agent's leg is made and hung up before
        it is dialled (p4). Either way no DialBegin, and the caller is back on hold."""
        no_media = not self._unreachable(extension)
        leg = self._phone_channel(extension, call.call_id) if no_media else None
        call.agent, call.agent_ext = leg, extension
        leg_name = leg.name if leg is not None else ""

        def keep(msg: list[tuple[str, str]]) -> bool:
            if msg[0][0] != "Event":
                return True  # the Redirect's reply
            event, channel = msg[0][1], dict(msg).get("Channel", "")
            if channel == call.caller.name:
                return event not in ("DialBegin", "DialEnd", "NewConnectedLine")
            return leg is not None and channel == leg.name and event in _FAILED_LEG_EVENTS

        def post(messages: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
            for msg in messages:
                if (
                    msg[0][1] in ("HangupRequest", "Hangup")
                    and dict(msg).get("Channel") == leg_name
                ):
                    msg[:] = [
                        {"Cause": ("Cause", "0"), "Cause-txt": ("Cause-txt", "Unknown")}.get(
                            k, (k, v)
                        )
                        for k, v in msg
                        if not (msg[0][1] == "HangupRequest" and k == "Cause")
                    ]
            return messages

        if leg is None:
            # chan_pjsip found no contact (404): the caller keeps that cause (p3).
            call.caller_cause = _NO_CONTACT_CAUSE
        call.dials += 1
        self._emit(
            "offer_busy",
            call,
            client=client,
            action_id=action_id,
            keep=keep,
            overrides={("DialStatus", "BUSY"): "CHANUNAVAIL", ("Value", "BUSY"): "CHANUNAVAIL"},
            post=post,
            delay=self.redirect_delay,
        )
        self._back_to_hold(call)

    def _ring(self, call: SimCall, phone: SimPhone, busy: bool) -> None:
        if busy:
            self._later(call, 0.0, lambda: self._no_answer(call, dial_status="BUSY"))
        elif phone.mode is PhoneMode.ANSWER or (
            call.auto_answer and phone.mode is PhoneMode.MANUAL
        ):
            delay = 0.0 if call.auto_answer else phone.ring_seconds
            self._later(call, delay, lambda: self._answered(call))
        else:  # NO_ANSWER, or MANUAL until answer() is called
            self._later(call, self.ring_timeout, lambda: self._no_answer(call))

    def _answered(self, call: SimCall) -> None:
        if call.agent is None:
            return
        call.bridge = str(uuid.uuid4())
        # After a BlindTransfer Asterisk sets one more bridge variable (recorded in f2).
        self._emit("blind_answer" if call.hangup_style == "blind" else "offer_answer", call)
        call.state = "connected"
        call.caller.bridge = call.bridge
        if call.agent is not None:
            call.agent.bridge = call.bridge

    def _no_answer(self, call: SimCall, *, dial_status: str = "NOANSWER") -> None:
        overrides = {}
        if dial_status != "NOANSWER":
            overrides = {
                ("DialStatus", "NOANSWER"): dial_status,
                ("Value", "NOANSWER"): dial_status,
            }
        self._emit("offer_noanswer", call, overrides=overrides)
        self._drop(call.agent)
        self._back_to_hold(call)

    def _back_to_hold(self, call: SimCall) -> None:
        self._drop(call.agent)
        call.agent, call.agent_ext = None, ""
        call.state = "holding"
        call.caller.context, call.caller.exten = "cc-hold", "s"
        call.caller.application, call.caller.app_data = "MusicOnHold", "default"
        call.caller.bridge = ""

    def _requeue(self, call: SimCall, queue: str, client: _Client, action_id: str) -> None:
        _cancel(call)
        call.queue = queue
        call.caller.variables["CC_QUEUE"] = queue
        if call.state in ("connected", "onhold", "ringing") and call.agent is not None:
            call.target, call.target_ext = None, ""
            names = (call.caller.name, call.agent.name)
            self._emit(
                "transfer_redirect",
                call,
                client=client,
                action_id=action_id,
                keep=lambda m: _names_channel(m, names) and not _is_dial(m),
            )
            self._drop(call.agent)
        else:
            self._respond(client, action_id, Message="Redirect successful")
        self._emit("inbound", call, keep=lambda m: _after_answer(m))
        self._back_to_hold(call)

    def _transfer_out(self, call: SimCall, number: str, client: _Client, action_id: str) -> None:
        if call.state not in ("connected", "onhold") or call.agent is None:
            self._respond(client, action_id, "Error", Message="Channel is not connected")
            return
        _cancel(call)
        agent = call.agent
        self._emit(
            "transfer_redirect",
            call,
            client=client,
            action_id=action_id,
            keep=lambda m: _names_channel(m, (call.caller.name, agent.name)) and not _is_dial(m),
        )
        self._drop(agent)
        # The caller now runs [cc-outbound]: replay click-to-dial from the Dial on.
        call.kind, call.agent, call.agent_ext = "transfer_out", call.caller, call.caller.number
        call.target = self._new_channel(
            "PJSIP/trunk", number, f"Customer {number}", "cc-inbound", "", linkedid=call.call_id
        )
        call.target_ext = number
        binding = self._binding(call)
        binding.update(
            {
                "customer.channel": call.target.name,
                "customer.uid": call.target.uid,
                "customer.number": number,
                "customer.name": f"Customer {number}",
                "agent.channel": call.caller.name,
                "agent.uid": call.caller.uid,
            }
        )
        started = False
        out = []
        for msg in self._render("c2d_answer", binding):
            started = started or dict(msg).get("Context") == "cc-outbound"
            if started:
                out.append(msg)
        self._send(out, None)
        call.state = "dialling_out"
        outside = self.numbers.get(number) or self.set_number(number)
        if outside.mode is PhoneMode.ANSWER:
            self._later(call, outside.ring_seconds, lambda: self._c2d_connected(call))

    # ------------------------------------------------------------------ hold

    def _hold(self, call: SimCall, client: _Client, action_id: str) -> None:
        assert call.agent is not None
        self._respond(client, action_id, Message="Dual Redirect successful")
        leave = [
            m
            for m in self._render("caller_hangup", self._binding(call))
            if dict(m).get("Event") in ("BridgeLeave", "BridgeDestroy")
        ]
        moh = [
            m
            for m in self._render("inbound", self._binding(call))
            if dict(m).get("Event") == "MusicOnHoldStart"
        ]
        for msg in moh:
            msg[:] = [(k, {"Context": "cc-onhold", "Exten": "s"}.get(k, v)) for k, v in msg]
        self._send([*leave, *moh], None)
        call.state = "onhold"
        call.caller.bridge = call.agent.bridge = ""
        call.caller.context, call.agent.context = "cc-onhold", "cc-agent-onhold"

    async def _act_bridge(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        names = {msg.get("Channel1"), msg.get("Channel2")}
        call = self._call_of_channel(msg.get("Channel1"))
        if call is None or any(n not in self.channels for n in names):
            missing = next((n for n in names if n not in self.channels), "")
            self._respond(client, action_id, "Error", Message=f"Channel does not exist: {missing}")
            return
        if call.state != "onhold" or call.agent is None:
            self._respond(client, action_id, "Error", Message="Unable to bridge channels")
            return
        self._respond(client, action_id, Message="Channels have been bridged")
        call.bridge = str(uuid.uuid4())
        stop = [
            m
            for m in self._render("offer_ring", self._binding(call))
            if dict(m).get("Event") == "MusicOnHoldStop"
        ]
        join = [
            m
            for m in self._render("offer_answer", self._binding(call))
            if dict(m).get("Event") in ("BridgeCreate", "BridgeEnter")
        ]
        self._send([*stop, *join], None)
        call.state = "connected"
        call.caller.bridge = call.agent.bridge = call.bridge
        call.caller.context, call.agent.context = "cc-agent", "cc-agents"

    # ------------------------------------------------------------------ hangup

    async def _act_hangup(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        name = msg.get("Channel")
        channel = self.channels.get(name)
        call = self._call_of_channel(name) if channel else None
        if channel is None or call is None:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        if name in call.spies:
            spy, _ = call.spies.pop(name)
            args = self._spy_args(spy)
            self._emit(
                "spy_hangup",
                call,
                client=client,
                action_id=action_id,
                overrides=args[0],
                extra_binding=args[1],
            )
            self._drop(spy)
            return
        if call.state == "consulting" and channel is call.agent:
            self._complete_atxfer(call, client, action_id)
            return
        if call.state == "consulting" and channel is call.target:
            self._cancel_atxfer(call, client, action_id)
            return
        self._respond(client, action_id, Message="Channel Hungup")
        if call.kind in ("click_to_dial", "transfer_out"):
            self._end_c2d(call, soft=True)
        elif channel is call.caller:
            self._caller_gone(call, soft=True)
        elif channel is call.agent and call.state == "connected":
            self._agent_gone(call, soft=True)
        elif channel is call.agent and call.state == "ringing":
            _cancel(call)
            self._no_answer(call)

    def _caller_gone(self, call: SimCall, *, soft: bool) -> None:
        _cancel(call)
        rename = {"HangupRequest": "SoftHangupRequest"} if soft else None
        if call.kind in ("click_to_dial", "transfer_out"):
            self._end_c2d(call, customer=True)
            return
        if call.state in ("connected", "onhold"):
            segment = "atxfer_target_hangup" if call.hangup_style == "atxfer" else "caller_hangup"
            if call.hangup_style == "atxfer":
                self._emit(
                    segment,
                    call,
                    rename={"HangupRequest": "SoftHangupRequest"},
                    extra_binding=self._as_target(call),
                )
            else:
                self._emit(segment, call, rename=rename, cdrs=call.dials)
        else:
            if call.state == "ringing" and call.agent is not None:
                self._emit(
                    "offer_noanswer",
                    call,
                    keep=lambda m: (
                        dict(m).get("Event") in ("Hangup",)
                        and _names_channel(m, (call.agent.name if call.agent else "",))
                    ),
                )
            self._emit("abandon", call, rename=rename, post=_with_cause(call.caller_cause))
        self._finish(call)

    def _agent_gone(self, call: SimCall, *, soft: bool) -> None:
        _cancel(call)
        rename = {"HangupRequest": "SoftHangupRequest"} if soft else None
        segment = {"atxfer": "atxfer_target_hangup", "blind": "blind_agent_hangup"}.get(
            call.hangup_style, "agent_hangup"
        )
        self._emit(
            segment, call, rename=rename, cdrs=call.dials, extra_binding=self._as_target(call)
        )
        self._finish(call)

    def _as_target(self, call: SimCall) -> dict[str, str]:
        """After an attended transfer the recorded templates call the new agent 'target'."""
        if call.hangup_style != "atxfer" or call.agent is None:
            return {}
        binding = self._binding(call)
        return {f"target.{k}": binding[f"agent.{k}"] for k in ("ext", "name", "channel", "uid")}

    def _finish(self, call: SimCall) -> None:
        _cancel(call)
        self._drop(call.caller, call.agent, call.target, *(spy for spy, _ in call.spies.values()))
        for name in [n for n, ch in self.channels.items() if ch.linkedid == call.call_id]:
            del self.channels[name]
        self.calls.pop(call.call_id, None)

    # ------------------------------------------------------------------ transfers

    async def _act_blindtransfer(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        name = msg.get("Channel")
        call = self._call_of_channel(name) if name in self.channels else None
        if call is None or call.agent is None or call.agent.name != name:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        if call.state != "connected":
            self._respond(client, action_id, "Error", Message="Transfer failed")
            return
        extension = msg.get("Exten")
        phone = self.phones.get(extension) or self.set_phone(extension, PhoneMode.UNREACHABLE)
        busy = phone.mode in (PhoneMode.BUSY, PhoneMode.UNREACHABLE) or self.phone_in_use(extension)
        old = call.agent
        call.target, call.target_ext = self._phone_channel(extension, call.call_id), extension
        call.dials += 1
        call.hangup_style = "blind"
        self._emit("blind_transfer", call, client=client, action_id=action_id)
        self._drop(old)
        call.agent, call.agent_ext, call.target, call.target_ext = call.target, extension, None, ""
        call.state, call.bridge = "ringing", ""
        self._ring(call, phone, busy)

    async def _act_atxfer(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        name = msg.get("Channel")
        call = self._call_of_channel(name) if name in self.channels else None
        if call is None or call.agent is None or call.agent.name != name:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        if call.state != "connected":
            self._respond(client, action_id, "Error", Message="Atxfer failed")
            return
        extension = msg.get("Exten")
        call.target_ext = extension
        call.state = "consulting"
        self._emit("atxfer_start", call, client=client, action_id=action_id)
        self._later(call, self.atxfer_digit_timeout, lambda: self._consult_ring(call))

    def _consult_ring(self, call: SimCall) -> None:
        phone = self.phones.get(call.target_ext) or self.set_phone(call.target_ext)
        call.local_base = f"Local/{call.target_ext}@cc-agents-{next(self._chan_seq):08x}"
        call.local1, call.local2 = self._new_uid(), self._new_uid()
        for half, uid in ((";1", call.local1), (";2", call.local2)):
            self.channels[call.local_base + half] = SimChannel(
                call.local_base + half,
                uid,
                call.call_id,
                call.target_ext,
                phone.name,
                "cc-agents",
                call.target_ext,
                created=self.clock(),
            )
        call.consult_bridge = str(uuid.uuid4())
        call.target_bridge = ""  # not answered yet (a consultation after a cancelled one)
        call.target = self._phone_channel(call.target_ext, call.call_id)
        self._emit("atxfer_consult_ring", call)
        if phone.mode is PhoneMode.ANSWER:
            self._later(call, phone.ring_seconds, lambda: self._consult_answer(call))

    def _consult_answer(self, call: SimCall) -> None:
        call.target_bridge = str(uuid.uuid4())
        self._emit("atxfer_consult_answer", call)

    def _complete_atxfer(self, call: SimCall, client: _Client, action_id: str) -> None:
        _cancel(call)
        self._emit("atxfer_complete", call, client=client, action_id=action_id)
        self._drop(call.agent)
        call.state = "completing"

        def optimize() -> None:
            self._emit("atxfer_optimize", call)
            for half in (";1", ";2"):
                self.channels.pop(call.local_base + half, None)
            call.agent, call.agent_ext = call.target, call.target_ext
            call.target, call.target_ext = None, ""
            call.bridge, call.state, call.hangup_style = call.target_bridge, "connected", "atxfer"
            call.caller.bridge = call.bridge
            if call.agent is not None:
                call.agent.bridge = call.bridge

        self._later(call, self.optimize_delay, optimize)

    def _cancel_atxfer(self, call: SimCall, client: _Client, action_id: str) -> None:
        _cancel(call)
        self._respond(client, action_id, Message="Channel Hungup")
        binding = self._binding(call)
        hangups = [
            m
            for m in self._render("atxfer_target_hangup", binding)
            if dict(m).get("Event") == "Hangup"
            and dict(m).get("Channel") == (call.target.name if call.target else "")
        ]
        locals_ = [
            m for m in self._render("atxfer_optimize", binding) if dict(m).get("Event") == "Hangup"
        ]
        back = [
            m
            for m in self._render("atxfer_complete", binding)
            if dict(m).get("Event") == "MusicOnHoldStop"
        ]
        self._send([*hangups, *locals_, *back], None)
        self._drop(call.target)
        for half in (";1", ";2"):
            self.channels.pop(call.local_base + half, None)
        call.target, call.target_ext, call.state = None, "", "connected"

    # ------------------------------------------------------------------ originate

    async def _act_originate(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        channel = msg.get("Channel")
        if not channel:
            self._respond(client, action_id, "Error", Message="Channel not specified")
            return
        tech, _, extension = channel.partition("/")
        context, exten = msg.get("Context"), msg.get("Exten")
        if tech != "PJSIP" or not extension:
            self._respond(client, action_id, "Error", Message="Originate failed")
            return
        if context.startswith("cc-supervisor"):
            await self._spy(client, extension, exten, context, action_id)
            return
        if context != "cc-outbound":
            self._respond(
                client,
                action_id,
                "Error",
                Message=f"Context {context} is not part of the simulated dialplan",
            )
            return
        uid = msg.get("ChannelId") or self._new_uid()
        agent = self._phone_channel(extension, uid, uid=uid)
        agent.number, agent.caller_name = exten, f"Customer {exten}"
        call = SimCall(
            uid,
            "click_to_dial",
            agent,
            state="agent_ringing",
            agent=agent,
            agent_ext=extension,
            target_ext=exten,
        )
        self.calls[uid] = call
        self._emit(
            "c2d_ring",
            call,
            client=client,
            action_id=action_id,
            post=_with_variables(msg.getall("Variable")),
        )
        phone = self.phones.get(extension) or self.set_phone(extension, PhoneMode.UNREACHABLE)
        timeout = int(msg.get("Timeout", "30000") or 30000) / 1000
        if phone.mode is PhoneMode.ANSWER and not self.phone_in_use_except(extension, agent):
            self._later(call, phone.ring_seconds, lambda: self._c2d_agent_answered(call, action_id))
        else:
            delay = timeout if phone.mode in (PhoneMode.NO_ANSWER, PhoneMode.MANUAL) else 0.0
            reason = _ORIGINATE_FAILED_REASON.get(phone.mode, "5")
            self._later(call, delay, lambda: self._c2d_failed(call, action_id, reason))

    def phone_in_use_except(self, extension: str, channel: SimChannel) -> bool:
        prefix = f"PJSIP/{extension}-"
        return any(n.startswith(prefix) and ch is not channel for n, ch in self.channels.items())

    def _c2d_agent_answered(self, call: SimCall, action_id: str) -> None:
        call.target = self._new_channel(
            "PJSIP/trunk",
            call.target_ext,
            f"Customer {call.target_ext}",
            "cc-inbound",
            "",
            linkedid=call.call_id,
        )
        self._emit("c2d_answer", call, action_id=action_id)
        call.state = "dialling"
        number = self.numbers.get(call.target_ext) or self.set_number(call.target_ext)
        if number.mode is PhoneMode.ANSWER:
            self._later(call, number.ring_seconds, lambda: self._c2d_connected(call))

    def _c2d_connected(self, call: SimCall) -> None:
        call.bridge = str(uuid.uuid4())
        self._emit("c2d_connected", call)
        call.state = "connected"
        call.caller.bridge = call.bridge
        if call.target is not None:
            call.target.bridge = call.bridge

    def _c2d_failed(self, call: SimCall, action_id: str, reason: str) -> None:
        self._emit("c2d_noanswer", call, action_id=action_id, overrides={("Reason", "3"): reason})
        self._finish(call)

    def _end_c2d(self, call: SimCall, *, soft: bool = False, customer: bool = False) -> None:
        _cancel(call)
        rename = {"HangupRequest": "SoftHangupRequest"} if soft else None
        self._emit("c2d_customer_hangup", call, rename=rename)
        self._finish(call)

    # ------------------------------------------------------------------ supervisor

    async def _spy(
        self, client: _Client, supervisor: str, agent_ext: str, context: str, action_id: str
    ) -> None:
        call = next(
            (c for c in self.calls.values() if c.agent_ext == agent_ext and c.state == "connected"),
            None,
        )
        if call is None:
            # Asterisk queues the Originate; ChanSpy then finds nothing and hangs up.
            self._respond(client, action_id, Message="Originate successfully queued")
            return
        spy = self._phone_channel(supervisor, "")
        spy.linkedid = spy.uid
        spy.context = context
        call.spies[spy.name] = (spy, context)
        args = self._spy_args(spy)
        self._emit(
            "spy_ring",
            call,
            client=client,
            action_id=action_id,
            overrides=args[0],
            extra_binding=args[1],
        )
        phone = self.phones.get(supervisor) or self.set_phone(supervisor)

        def answer() -> None:
            self._emit(
                "spy_answer",
                call,
                action_id=action_id,
                overrides=args[0],
                extra_binding=args[1],
            )

        self._later(call, phone.ring_seconds, answer)

    def _spy_args(self, spy: SimChannel) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        extension = endpoint(spy.name)
        phone = self.phones.get(extension)
        overrides = {
            ("Context", "cc-supervisor"): spy.context,
            ("SpyerContext", "cc-supervisor"): spy.context,
            ("DestinationContext", "cc-supervisor"): spy.context,
        }
        binding = {
            "supervisor.channel": spy.name,
            "supervisor.uid": spy.uid,
            "supervisor.ext": extension,
            "supervisor.name": phone.name if phone else "Supervisor",
        }
        return overrides, binding

    # ------------------------------------------------------------------ recording

    async def _act_mixmonitor(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        call.file = msg.get("File") or f"/var/spool/asterisk/monitor/{call.call_id}.wav"
        self._emit("mixmonitor_start", call, client=client, action_id=action_id)

    async def _act_stopmixmonitor(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        call = self._call_of_channel(msg.get("Channel"))
        if call is None or not call.file:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        self._emit("mixmonitor_stop", call, client=client, action_id=action_id)

    async def _act_mixmonitormute(self, client: _Client, msg: AmiMessage, action_id: str) -> None:
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            self._respond(client, action_id, "Error", Message="No such channel")
            return
        self._respond(client, action_id)


def _fill(match: re.Match[str], binding: dict[str, str], now: float) -> str:
    token, offset = match.group(1), match.group(2)
    if token == "ts":  # noqa: S105 - a template token, not a password
        return f"{now + float(offset or 0):.6f}"
    return binding.get(token, "")


def _cancel(call: SimCall) -> None:
    for timer in call.timers:
        timer.cancel()
    call.timers.clear()


def _hms(seconds: float) -> str:
    total = max(int(seconds), 0)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


# What a Dial to a phone without a contact leaves on the caller's channel (p3).
_NO_CONTACT_CAUSE = ("3", "No route to destination", "404")


def _with_cause(
    cause: tuple[str, str, str] | None,
) -> Callable[[list[list[tuple[str, str]]]], list[list[tuple[str, str]]]] | None:
    """The hang-up events of a caller whose channel carries ``cause`` from a failed Dial:
    HangupRequest and Hangup with that cause, each hang-up event with its TechCause."""
    if cause is None:
        return None
    code, text, tech = cause

    def apply(messages: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
        for msg in messages:
            event = msg[0][1]
            if event not in ("HangupRequest", "SoftHangupRequest", "Hangup"):
                continue
            fields = [(k, v) for k, v in msg if k not in ("Cause", "Cause-txt")]
            if event == "HangupRequest":
                fields.append(("Cause", code))
            elif event == "SoftHangupRequest":
                fields.append(("Cause", dict(msg).get("Cause", "16")))
            else:
                fields += [("Cause", code), ("Cause-txt", text)]
            msg[:] = [*fields, ("TechCause", tech)]
        return messages

    return apply


# The agent's leg that finds no RTP port: made, then hung up before it is dialled (p4).
_FAILED_LEG_EVENTS = ("Newchannel", "NewConnectedLine", "HangupRequest", "Hangup")


def _is_dial(msg: list[tuple[str, str]]) -> bool:
    return dict(msg).get("Event") in ("DialBegin", "DialState", "DialEnd")


def _names_channel(msg: list[tuple[str, str]], names: tuple[str, ...]) -> bool:
    """Keep messages about these channels (and bridge/CDR messages without a channel)."""
    channel = dict(msg).get("Channel")
    if channel is None:
        return dict(msg).get("Event") not in ("NewConnectedLine",)
    return channel in names


def _after_answer(msg: list[tuple[str, str]]) -> bool:
    """The part of the inbound template after Answer(): Set(CC_QUEUE) ... MusicOnHold."""
    h = dict(msg)
    if h.get("Context") == "cc-hold":
        return True
    # Priorities 1 and 2 of [cc-inbound] are NoOp and Answer: the call is up already.
    return h.get("Priority", "1") not in ("1", "2")


def _with_cdrs(messages: list[list[tuple[str, str]]], count: int) -> list[list[tuple[str, str]]]:
    """Asterisk writes one CDR per dialled leg when the call ends."""
    positions = [i for i, m in enumerate(messages) if dict(m).get("Event") == "Cdr"]
    if not positions or count <= len(positions):
        return messages
    last = positions[-1]
    extra = [list(messages[last]) for _ in range(count - len(positions))]
    return [*messages[: last + 1], *extra, *messages[last + 1 :]]


def _with_variables(
    variables: list[str],
) -> Callable[[list[list[tuple[str, str]]]], list[list[tuple[str, str]]]]:
    """Replace the recorded Originate variable's VarSet by one per variable sent."""

    def apply(messages: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
        out: list[list[tuple[str, str]]] = []
        for msg in messages:
            h = dict(msg)
            if h.get("Event") == "VarSet" and h.get("Variable") == "CC_CAMPAIGN":
                for item in variables:
                    name, _, value = item.partition("=")
                    out.append([(k, {"Variable": name, "Value": value}.get(k, v)) for k, v in msg])
                continue
            out.append(msg)
        return out

    return apply
