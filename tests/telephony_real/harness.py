"""One real-Asterisk flow: phones, callers, the product, and the checks at the end.

A ``Flow`` is made per test by the ``flow`` fixture. The test starts phones and the
product, makes agents ready or not ready through the API (``flow.ready``,
``flow.not_ready``: these also record when each agent was eligible, for the idle-agent
rule), places callers, waits on AMI events, and ends with ``flow.finish(...)``, which
waits for every call to end and asserts the rules of ``CallLedger`` plus sipp's own
verdict and an empty Asterisk (``core show channels count`` 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.telephony_real.ami import AmiEvent, AmiMonitor
from tests.telephony_real.kit import AsteriskKit, Callers, Phones
from tests.telephony_real.ledger import CallLedger, Interval
from tests.telephony_real.product import (
    PHONE_DOWN_REASON,
    ContactCenter,
    add_not_ready_reason,
)

# Seconds an agent's phone rings before Asterisk gives up (the tests shorten the
# dialplan's CC_AGENT_RING_TIMEOUT, 15 s, with "dialplan set global").
RING_TIMEOUT = 5
# The longest a caller may wait on hold while an eligible agent is idle.
IDLE_TOLERANCE = 1.0


class Flow:
    def __init__(
        self,
        kit: AsteriskKit,
        ami: AmiMonitor,
        home: Path,
        tokens: Mapping[str, str],
        sipp_dir: Path,
    ) -> None:
        self.kit = kit
        self.ami = ami
        self.home = home
        self.tokens = dict(tokens)
        self.mark = ami.mark()
        self.phones = Phones(kit, sipp_dir)
        self.callers = Callers(kit, sipp_dir)
        self._product: ContactCenter | None = None
        self.eligible: dict[str, list[list[float]]] = {}
        self.blackouts: list[Interval] = []

    # ------------------------------------------------------------------ product

    @property
    def product(self) -> ContactCenter:
        assert self._product is not None, "start_product() first"
        return self._product

    def start_product(
        self,
        *,
        ami_port: int | None = None,
        phone_down_reason: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> ContactCenter:
        """``contact-center serve`` on this test's home, AMI through ``ami_port``
        (default: Asterisk's own); ``phone_down_reason``: add ``phone-unreachable`` to
        ``not_ready_reasons`` as docs/cti.md recommends; ``settings``: more ``CC_*``
        variables."""
        if phone_down_reason:
            add_not_ready_reason(self.home, PHONE_DOWN_REASON)
        self._product = ContactCenter(
            self.home,
            self.tokens,
            ami_port=ami_port or self.kit.ami_port,
            fastagi_port=self.kit.fastagi_port,
            settings=settings,
        )
        self._product.start()
        return self._product

    def ready(self, extension: str) -> dict[str, Any]:
        state = self.product.set_state(extension, "ready")
        assert state["state"] == "ready", state
        if self.phones.answers(extension):
            self.eligible.setdefault(extension, []).append([time.time(), math.inf])
        return state

    def not_ready(self, extension: str, reason: str = "break") -> dict[str, Any]:
        self.end_eligibility(extension)
        state = self.product.set_state(extension, "not_ready", reason)
        assert (state["state"], state["reason"]) == ("not_ready", reason), state
        return state

    def end_eligibility(self, extension: str, at: float | None = None) -> None:
        for window in self.eligible.get(extension, []):
            if window[1] == math.inf:
                window[1] = at if at is not None else time.time()

    def blackout(self, start: float, end: float) -> None:
        """The product could not act between ``start`` and ``end`` (link cut, restart)."""
        self.blackouts.append((start, end))

    # ------------------------------------------------------------------ waiting

    def wait_event(
        self,
        predicate: Callable[[AmiEvent], bool],
        *,
        timeout: float,
        what: str,
        count: int = 1,
    ) -> list[AmiEvent]:
        return self.ami.wait_for(
            predicate, timeout=timeout, since=self.mark, count=count, what=what
        )

    def trunk_uniqueid(self, number: str, timeout: float = 15) -> str:
        (event,) = self.wait_event(
            lambda e: (
                e.name == "Newchannel"
                and e.get("Channel").startswith("PJSIP/trunk-")
                and e.get("CallerIDNum") == number
            ),
            timeout=timeout,
            what=f"the trunk channel of caller {number}",
        )
        return event.get("Uniqueid")

    def wait_enqueued(self, number: str, timeout: float = 15) -> AmiEvent:
        uid = self.trunk_uniqueid(number, timeout)
        (event,) = self.wait_event(
            lambda e: e.is_user_event("CCEnqueue") and e.get("Uniqueid") == uid,
            timeout=timeout,
            what=f"CCEnqueue of caller {number}",
        )
        return event

    def wait_dial(self, number: str, timeout: float = 15) -> AmiEvent:
        """The first DialBegin of caller ``number`` (towards whichever agent)."""
        uid = self.trunk_uniqueid(number, timeout)
        (event,) = self.wait_event(
            lambda e: e.name == "DialBegin" and e.get("Uniqueid") == uid,
            timeout=timeout,
            what=f"a DialBegin for caller {number}",
        )
        return event

    def wait_bridged(self, number: str, timeout: float = 15) -> AmiEvent:
        uid = self.trunk_uniqueid(number, timeout)
        (event,) = self.wait_event(
            lambda e: e.name == "BridgeEnter" and e.get("Uniqueid") == uid,
            timeout=timeout,
            what=f"caller {number} entering a bridge with an agent",
        )
        return event

    def wait_hung_up(self, number: str, timeout: float = 15) -> AmiEvent:
        uid = self.trunk_uniqueid(number, timeout)
        (event,) = self.wait_event(
            lambda e: e.name == "Hangup" and e.get("Uniqueid") == uid,
            timeout=timeout,
            what=f"the Hangup of caller {number}",
        )
        return event

    def ledger(self) -> CallLedger:
        return CallLedger(self.ami.events(self.mark))

    # ------------------------------------------------------------------ the end

    def finish(
        self,
        *,
        served: Sequence[str] = (),
        abandoned: Iterable[str] = (),
        in_order: bool = False,
        callers_timeout: float = 30,
        served_in_turn: Mapping[str, Sequence[str]] | None = None,
        hung_up_from_console: Iterable[str] = (),
    ) -> CallLedger:
        """Wait for the callers' sipp to end, then assert every rule of the flow.

        ``served_in_turn``: callers transferred (or held and resumed), with the agents
        they were bridged with in order, instead of ``served``; ``hung_up_from_console``:
        callers an agent hung up through the API (the product's Hangup, no party's BYE).
        """
        abandoned = list(abandoned)
        in_turn = dict(served_in_turn or {})
        try:
            result = self.callers.wait(callers_timeout) if self.callers.placed else None
        except AssertionError as exc:
            led = self.ledger()
            raise AssertionError(f"{exc}\n{self._report(led)}") from None
        left = self.kit.wait_no_channels(10)
        until = time.time()
        led = self.ledger()
        problems: list[str] = []
        if result is not None and (result.returncode != 0 or result.failed):
            problems.append(result.summary())
        if left:
            problems.append(f"{left} channel(s) left on Asterisk:\n{self.kit.channel_list()}")
        expected = set(served) | set(abandoned) | set(in_turn)
        seen = {c.number for c in led.callers.values()}
        if seen != expected:
            problems.append(f"callers on Asterisk {sorted(seen)}, expected {sorted(expected)}")
        problems += led.served_exactly_once(served)
        problems += led.served_in_turn(in_turn)
        problems += led.never_offered(abandoned)
        problems += led.no_agent_with_two_calls()
        problems += led.ended_by_parties(exempt=hung_up_from_console)
        problems += led.never_taken_from_a_ringing_phone()
        problems += led.all_hung_up()
        if in_order:
            problems += led.offered_in_arrival_order()
        eligible = {ext: [(s, e) for s, e in windows] for ext, windows in self.eligible.items()}
        problems += led.no_idle_agent_while_waiting(
            eligible, blackouts=self.blackouts, until=until, tolerance=IDLE_TOLERANCE
        )
        assert not problems, "\n".join(["problems on Asterisk's side:", *problems]) + (
            "\n" + self._report(led)
        )
        return led

    def _report(self, led: CallLedger) -> str:
        calls = "\n  ".join(led.describe(c) for c in led.callers_by_arrival()) or "(none)"
        log = self._product.log_tail(30) if self._product is not None else ""
        return f"calls:\n  {calls}\nproduct log (last lines):\n{log}"

    def close(self) -> None:
        """Stop everything this flow started and leave Asterisk empty for the next one."""
        try:
            self.callers.stop()
            self.phones.stop_all()
        finally:
            if self._product is not None:
                self._product.stop()
            self.kit.hang_up_everything()
