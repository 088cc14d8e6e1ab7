"""The contact life log: one INFO line per step, ids and durations only."""

from __future__ import annotations

import logging

import pytest

from contact_center.history import ContactLifeLog
from cti.events import CallDirection, CallHungUp, CallOutcome, HungUpBy
from routing.events import (
    ContactAbandoned,
    ContactClosed,
    ContactConnected,
    ContactOffered,
    ContactQueued,
    WrapUpStarted,
)
from routing.model import Channel

NUMBER = "+442079460018"
NAME = "Ann Lee"


def _hung_up(call_id: str, outcome: CallOutcome, by: HungUpBy) -> CallHungUp:
    return CallHungUp(
        at=160.0,
        server="pbx1",
        call_id=call_id,
        direction=CallDirection.INBOUND,
        hung_up_by=by,
        outcome=outcome,
        cause=16,
        cause_text="Normal Clearing",
        extension="1001",
        queue="support",
        caller_number=NUMBER,
        wait_seconds=12.0,
        talk_seconds=45.25,
    )


async def test_each_step_is_one_line_with_ids_and_durations_and_no_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cid, lost = "call-pbx1:1.1", "call-pbx1:1.2"
    common = {"channel": Channel.VOICE, "queue": "support", "customer_id": "42"}
    sink = ContactLifeLog(voice_prefix="call-")
    with caplog.at_level(logging.INFO, logger="contact_center.history.life"):
        await sink.publish(
            [
                ContactQueued(at=100.0, contact_id=cid, **common),
                ContactOffered(
                    at=110.0,
                    contact_id=cid,
                    agent_id="7",
                    waited_seconds=10.0,
                    offer_deadline=130.0,
                    decided_by="strategy",
                    strategy="longest-idle",
                    ring=0,
                    **common,
                ),
                ContactConnected(
                    at=112.0, contact_id=cid, agent_id="7", waited_seconds=12.0, **common
                ),
                _hung_up("pbx1:1.1", CallOutcome.COMPLETED, HungUpBy.CUSTOMER),
                # A call's end is told by telephony (with who hung up), a chat's by this.
                WrapUpStarted(
                    at=160.0,
                    contact_id=cid,
                    agent_id="7",
                    talk_seconds=45.25,
                    deadline=165.0,
                    **common,
                ),
                WrapUpStarted(
                    at=160.0,
                    contact_id="chat-9",
                    channel=Channel.CHAT,
                    queue="support",
                    agent_id="8",
                    talk_seconds=60.0,
                    deadline=None,
                ),
                ContactClosed(at=165.0, contact_id=cid, agent_id="7", reason="completed", **common),
                ContactAbandoned(
                    at=200.0,
                    contact_id=lost,
                    waited_seconds=30.0,
                    reason="lost-with-pbx",
                    **common,
                ),
                # Told by the abandon above, with its reason: no second line.
                _hung_up("pbx1:1.2", CallOutcome.ABANDONED, HungUpBy.UNKNOWN),
            ]
        )
    lines = [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.INFO for r in caplog.records)
    assert lines == [
        f"contact {cid} queued queue=support channel=voice reason=arrived priority=0",
        f"contact {cid} offered agent=7 queue=support waited=10.0s decided_by=strategy",
        f"contact {cid} connected agent=7 queue=support waited=12.0s",
        f"contact {cid} ended hung_up_by=customer outcome=completed queue=support "
        "waited=12.0s talked=45.2s",
        "contact chat-9 ended agent=8 queue=support talked=60.0s",
        f"contact {cid} closed agent=7 queue=support reason=completed",
        f"contact {lost} abandoned queue=support waited=30.0s reason=lost-with-pbx agent=-",
    ]
    text = "\n".join(lines)
    assert NUMBER not in text and NUMBER[1:] not in text and NAME not in text
    assert "42" not in text  # not even the customer id: the contact id leads to it
