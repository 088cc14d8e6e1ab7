"""The shipped Asterisk configuration matches what the CTI code expects."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cti.tracker import DialplanContexts

CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "asterisk"


def contexts(text: str) -> set[str]:
    return set(re.findall(r"^\[([^\]]+)\]", text, re.MULTILINE))


def test_every_context_the_cti_uses_is_in_the_shipped_dialplan() -> None:
    shipped = contexts((CONFIG / "extensions_cc.conf").read_text())
    used = {getattr(DialplanContexts(), f.name) for f in dataclasses.fields(DialplanContexts)}
    assert used <= shipped


def test_dialplan_raises_the_user_events_the_tracker_follows() -> None:
    text = (CONFIG / "extensions_cc.conf").read_text()
    assert "UserEvent(CCEnqueue,Queue: ${CC_QUEUE})" in text
    assert "UserEvent(CCAgentNoAnswer,Agent: ${EXTEN},DialStatus: ${DIALSTATUS})" in text
    # Dial option t lets the AMI Atxfer action work on the agent leg.
    assert "Dial(PJSIP/${EXTEN},${CC_AGENT_RING_TIMEOUT},t)" in text


def test_manager_user_reads_the_event_classes_the_tracker_needs() -> None:
    text = (CONFIG / "manager_cc.conf").read_text()
    read = re.search(r"^read = (.+)$", text, re.MULTILINE)
    write = re.search(r"^write = (.+)$", text, re.MULTILINE)
    assert read is not None and write is not None
    assert {"system", "call", "user"} <= set(read.group(1).split(","))
    assert {"call", "originate", "reporting"} <= set(write.group(1).split(","))


def test_agent_phones_land_in_the_agents_context() -> None:
    text = (CONFIG / "pjsip_cc.conf").read_text()
    assert "context = cc-agents" in text
    assert "context = cc-inbound" in text


def test_the_default_fallback_for_unroutable_callers_is_in_the_shipped_dialplan() -> None:
    from contact_center.settings import AsteriskSettings

    shipped = contexts((CONFIG / "extensions_cc.conf").read_text())
    assert AsteriskSettings().unroutable_context in shipped
