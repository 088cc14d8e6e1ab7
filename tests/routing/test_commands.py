"""Commands travel between nodes as JSON: round trips and malformed input."""

from __future__ import annotations

import typing

import msgspec
import orjson
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


ENQUEUE = {"kind": "enqueue", "contact_id": "c1", "channel": "voice", "queue": "q"}


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({**ENQUEUE, "contact_id": 5}, "contact_id", "str"),
        ({**ENQUEUE, "priority": "high"}, "priority", "int | None"),
        # JSON true is not a priority, although Python's bool is an int.
        ({**ENQUEUE, "priority": True}, "priority", "int | None"),
        ({**ENQUEUE, "waiting_since": "yesterday"}, "waiting_since", "float | None"),
        ({**ENQUEUE, "attributes": [["topic", 1]]}, "attributes", "tuple[tuple[str, str], ...]"),
        ({**ENQUEUE, "attributes": "topic=refund"}, "attributes", "tuple[tuple[str, str], ...]"),
        (
            {"kind": "upsert_agent", "agent_id": "a", "skills": [["en", 3, 4]]},
            "skills",
            "tuple[tuple[str, int], ...]",
        ),
        (
            {"kind": "set_agent_state", "agent_id": "a", "state": "ready", "forced": "yes"},
            "forced",
            "bool",
        ),
    ],
)
def test_given_a_field_of_the_wrong_type_then_the_command_is_refused_naming_it(
    data: dict[str, object], field: str, expected: str
) -> None:
    # A wrong type must stop at the wire: the compiled engine would fail on it.
    with pytest.raises(InvalidCommand) as raised:
        cmd.command_from_dict(data)
    assert raised.value.details == {"field": field}
    assert raised.value.message.endswith(f"{field} must be {expected}")


def test_given_json_numbers_then_whole_ones_are_accepted_as_times_and_non_finite_ones_not() -> None:
    command = cmd.command_from_dict({**ENQUEUE, "waiting_since": 5})
    assert isinstance(command, cmd.EnqueueContact)
    assert command.waiting_since == 5.0 and isinstance(command.waiting_since, float)
    with pytest.raises(InvalidCommand, match="waiting_since"):
        cmd.command_from_dict({**ENQUEUE, "waiting_since": float("inf")})


def test_given_every_command_kind_then_its_fields_have_a_wire_check() -> None:
    # A new field type without a check would fail here, not on the first remote command.
    for cls in cmd.COMMAND_TYPES.values():
        cmd.command_from_dict({"kind": cls.kind, **_sample_fields(cls)})


def _sample_fields(cls: type[cmd.Command]) -> dict[str, object]:
    """A value of the declared type for every required field."""
    hints = typing.get_type_hints(cls)
    by_type: dict[object, object] = {str: "x", int: 1, float: 1.0, bool: True}
    return {
        field.name: by_type[hints[field.name]]
        for field in msgspec.structs.fields(cls)
        if field.required
    }


SUBMITTED = [
    ("n1-1", cmd.HangUp(contact_id="c1", reason="done")),
    ("n1-2", cmd.EnqueueContact(contact_id="c2", channel="chat", queue="q", waiting_since=5.0)),
    ("n1-3", cmd.QueueStatistics()),
]


def test_given_submitted_commands_then_they_decode_in_one_call_with_their_kinds() -> None:
    raw = (
        b"["
        + b",".join(
            b'["' + r.encode() + b'",' + cmd.command_to_json(c) + b"]" for r, c in SUBMITTED
        )
        + b"]"
    )
    assert cmd.command_to_json(SUBMITTED[0][1]).startswith(b'{"kind":"hang_up",')
    assert cmd.decode_submitted(raw) == SUBMITTED


@pytest.mark.parametrize(
    "bad",
    [
        b'{"kind": "teleport", "contact_id": "c"}',
        b'{"kind": "hang_up", "contact_id": 7}',
        b'{"kind": "hang_up", "contact_id": "c", "extra": 1}',
        b'{"kind": "enqueue", "contact_id": "c", "channel": "chat", "queue": "q", '
        b'"waiting_since": 1e999}',
    ],
)
def test_given_one_malformed_submitted_command_then_the_entry_is_left_to_item_checks(
    bad: bytes,
) -> None:
    # None: the backend then decodes command by command, so each bad one gets its error.
    good = b'["r1", {"kind": "hang_up", "contact_id": "c1"}]'
    assert cmd.decode_submitted(b"[" + good + b', ["r2", ' + bad + b"]]") is None
    assert cmd.decode_submitted(b"not json") is None
    assert cmd.decode_submitted(b"[" + good + b"]") == [("r1", cmd.HangUp(contact_id="c1"))]


def test_given_log_entries_old_and_new_then_both_replay() -> None:
    from routing.backends.redis import decode_log_entry

    new = orjson.dumps([[12.5, {"kind": "hang_up", "contact_id": "c1"}]])
    old = orjson.dumps([[12.5, "hang_up", {"contact_id": "c1"}]])
    expected = [(12.5, cmd.HangUp(contact_id="c1"))]
    assert cmd.decode_logged(new) == expected
    assert cmd.decode_logged(old) is None
    assert decode_log_entry(new) == decode_log_entry(old) == expected
