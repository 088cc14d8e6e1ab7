"""The fast path: a caller dialled straight from the dialplan when an agent is free.

Two things happen at once when a caller enters: Asterisk raises ``CCEnqueue`` (AMI),
which the service routes as always, and the dialplan asks over FastAGI
(:mod:`cti.fastagi`) which phone to dial. :class:`FastPathSlots` is where the two
meet, whichever comes first: the router's decision, carried out by
``TelephonyService._ring``, is handed to the waiting FastAGI request instead of
being sent as an AMI Redirect; the request answers with the extension and the
dialplan dials it at once, skipping music on hold and the Redirect.

Every other case falls back to the Redirect path: no agent free at entry (the
request is answered "wait" as soon as the router has decided), the request not
coming (FastAGI off in the dialplan, a connection failure), the decision not
coming in time. Either way the caller ends on hold, routed as before.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable

from cti.fastagi import OFFER_VARIABLE, AgiRequest, AgiSession

log = logging.getLogger(__name__)

# Slots left behind (a request never made, a call never routed) are dropped beyond this.
MAX_SLOTS = 10_000


@dataclasses.dataclass(slots=True)
class _Slot:
    # The extension to dial, or "" for "wait on hold"; set once.
    answer: asyncio.Future[str]
    # Whether the dialplan got the extension (Asterisk confirmed SET VARIABLE).
    taken: asyncio.Future[bool]
    # A FastAGI request is waiting on this slot now.
    asked: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class FastPathSettings:
    # How long a FastAGI request waits for the router's decision before the caller is
    # sent to hold (then routed by Redirect). The decision normally takes milliseconds.
    decision_seconds: float = 0.5
    # How long a decision waits for the dialplan's request (which normally is there
    # already) before it is carried out by Redirect instead.
    handoff_seconds: float = 1.0


class FastPathSlots:
    """Meeting points of FastAGI requests and router decisions, one per call."""

    def __init__(self, settings: FastPathSettings | None = None) -> None:
        self.settings = settings or FastPathSettings()
        self._slots: collections.OrderedDict[str, _Slot] = collections.OrderedDict()
        self.dialled = 0
        self.sent_to_hold = 0
        self.handoffs_missed = 0

    def _slot(self, call_id: str) -> _Slot:
        slot = self._slots.get(call_id)
        if slot is None:
            loop = asyncio.get_running_loop()
            slot = _Slot(loop.create_future(), loop.create_future())
            self._slots[call_id] = slot
            while len(self._slots) > MAX_SLOTS:
                _, old = self._slots.popitem(last=False)
                _settle(old, "")
        return slot

    def expect(self, call_id: str) -> None:
        """The dialplan said (``CCEnqueue`` with ``FastPath: yes``) it will ask for this call."""
        self._slot(call_id)

    def no_agent(self, call_id: str) -> None:
        """The router has decided and nobody is offered this call now: it waits on hold."""
        slot = self._slots.get(call_id)
        if slot is not None and not slot.answer.done():
            slot.answer.set_result("")

    def forget(self, call_id: str) -> None:
        slot = self._slots.pop(call_id, None)
        if slot is not None:
            _settle(slot, "")

    def pending(self) -> int:
        return len(self._slots)

    async def hand_over(self, call_id: str, extension: str) -> bool:
        """Give the decision to the dialplan's request; true when the dialplan took it
        (it dials ``extension`` now), false when the caller must be Redirected."""
        slot = self._slots.get(call_id)
        if slot is None or slot.answer.done():
            return False
        slot.answer.set_result(extension)
        try:
            async with asyncio.timeout(self.settings.handoff_seconds):
                taken = await asyncio.shield(slot.taken)
        except TimeoutError:
            taken = False
            self.handoffs_missed += 1
            log.warning(
                "fast path: no FastAGI request for call %s within %.1f s; offered by Redirect "
                "(is CC_FASTAGI in the dialplan the product's fastagi_host:fastagi_port?)",
                call_id,
                self.settings.handoff_seconds,
            )
        if self._slots.get(call_id) is slot:
            del self._slots[call_id]
        if not slot.taken.done():
            slot.taken.set_result(False)  # a request arriving now finds no decision
        return taken

    async def ask(self, call_id: str) -> str:
        """From a FastAGI request: the extension to dial, or "" to wait on hold."""
        slot = self._slot(call_id)
        slot.asked = True
        try:
            async with asyncio.timeout(self.settings.decision_seconds):
                extension = await asyncio.shield(slot.answer)
        except TimeoutError:
            extension = ""
            log.warning(
                "fast path: no routing decision for call %s within %.1f s; it waits on hold",
                call_id,
                self.settings.decision_seconds,
            )
        if not extension or slot.taken.done():
            # Nobody to dial, or the decision gave up waiting and went by Redirect.
            if self._slots.get(call_id) is slot:
                del self._slots[call_id]
            _settle(slot, "")
            self.sent_to_hold += 1
            return ""
        return extension

    def delivered(self, call_id: str, ok: bool) -> None:
        """The request set the extension in the dialplan (``ok``) or failed to."""
        slot = self._slots.pop(call_id, None)
        if slot is not None and not slot.taken.done():
            slot.taken.set_result(ok)
        if ok:
            self.dialled += 1


def _settle(slot: _Slot, answer: str) -> None:
    if not slot.answer.done():
        slot.answer.set_result(answer)
    if not slot.taken.done():
        slot.taken.set_result(False)


class FastPathHandler:
    """The FastAGI handler of the ``route`` request: find the call, wait for the router's
    decision, set ``CC_OFFER_EXTEN``. ``locate`` maps a request to its call id ("" when
    the CTI does not know the call: it then waits on hold)."""

    def __init__(
        self,
        slots: FastPathSlots,
        locate: Callable[[AgiRequest], str],
        *,
        on_answer: Callable[[str, float], None] | None = None,
    ) -> None:
        self.slots = slots
        self.locate = locate
        self.on_answer = on_answer

    async def __call__(self, agi: AgiSession) -> None:
        started = time.perf_counter()
        if agi.request.script.split("?", 1)[0] not in ("route", ""):
            log.warning("FastAGI: unknown request %r", agi.request.script[:80])
            return
        call_id = self.locate(agi.request)
        if not call_id:
            log.info("FastAGI: no known call for channel %r: it waits on hold", agi.request.channel)
            return
        extension = await self.slots.ask(call_id)
        if not extension:
            return
        ok = False
        try:
            ok = await agi.set_variable(OFFER_VARIABLE, extension, last=True)
        finally:
            self.slots.delivered(call_id, ok)
            if self.on_answer is not None and ok:
                self.on_answer(call_id, time.perf_counter() - started)
        if not ok:
            log.warning("FastAGI: Asterisk did not take the extension for call %s", call_id)
