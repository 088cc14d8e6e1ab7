"""Commands travel between nodes as JSON: round trips and malformed input."""

from __future__ import annotations

import pytest

from routing import commands as cmd
from routing.errors import InvalidCommand


@pytest.mark.parametrize(
    "command",
    [
        cmd.EnqueueContact(
            contact_id="c1",
            channel="chat",
            queue="q",
            customer_id="x",
            last_served_at=12.5,
            attributes=(("topic", "refund"),),
        ),
        cmd.UpsertAgent(agent_id="a", skills=(("en", 3), ("fr", 2)), queues=("q", "r")),
        cmd.SetAgentState(agent_id="a", state="not_ready", reason="lunch", forced=True),
        cmd.FireTimers(),
        cmd.QueueStatistics(),
    ],
)
def test_given_a_command_when_encoded_then_it_decodes_to_the_same(command: cmd.Command) -> None:
    assert cmd.command_from_json(cmd.command_to_json(command)) == command


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"kind": "teleport"}', "unknown command kind"),
        (b'{"kind": "accept", "contact_id": "c"}', "bad accept command"),
        (b'{"kind": "accept", "contact_id": "c", "agent_id": "a", "x": 1}', "unknown fields"),
    ],
)
def test_given_malformed_json_then_a_clear_error(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        cmd.command_from_json(raw)
