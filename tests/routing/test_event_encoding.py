"""The Redis backend's batch encoding of events (replies) round-trips every kind of
routing event, and an earlier version's outbox entries still decode."""

from __future__ import annotations

import pytest

from contact_center.domain.events import DomainEvent, decode_event, encode_event
from routing import commands as cmd
from routing.backends.redis import decode_event_batch, encode_event_batch
from routing.engine import RoutingEngine
from routing.model import Channel
from routing.settings import build_config, parse_routing_settings
from tests.routing.conftest import T0, TEST_ROUTING


def _events_of_many_kinds() -> list[DomainEvent]:
    engine = RoutingEngine(build_config(parse_routing_settings(TEST_ROUTING)))
    script: list[cmd.Command] = [
        cmd.UpsertAgent(agent_id="ann", skills=(("sales", 4),), queues=("sales", "support")),
        cmd.UpsertAgent(agent_id="bob", skills=(("sales", 3),), queues=("sales", "support")),
        cmd.SetAgentState(agent_id="ann", state="ready"),
        cmd.EnqueueContact(contact_id="c1", channel="voice", queue="sales", tier="gold"),
        cmd.DeclineOffer(contact_id="c1", agent_id="ann"),
        cmd.SetAgentState(agent_id="bob", state="ready"),
        cmd.AcceptOffer(contact_id="c1", agent_id="bob"),
        cmd.EnqueueContact(contact_id="c2", channel="chat", queue="support", customer_id="x"),
        cmd.ChangePriority(contact_id="c2", priority=7),
        cmd.TransferToQueue(contact_id="c1", queue="support"),
        cmd.HangUp(contact_id="c2"),
        cmd.SetAgentState(agent_id="ann", state="not_ready", reason="break"),
        cmd.WithdrawContact(contact_id="c1"),
    ]
    events: list[DomainEvent] = []
    for step, command in enumerate(script):
        events.extend(engine.execute(command, T0 + step).events)
    return events


def test_given_routing_events_when_encoded_as_a_batch_then_they_decode_equal() -> None:
    events = _events_of_many_kinds()
    assert len({e.name for e in events}) >= 6
    assert decode_event_batch(encode_event_batch(events)) == events


def test_given_an_outbox_entry_of_the_earlier_format_then_it_still_decodes() -> None:
    events = _events_of_many_kinds()
    earlier = b"[" + b",".join(encode_event(e) for e in events) + b"]"
    assert decode_event_batch(earlier) == events
    assert [decode_event(encode_event(e)) for e in events] == events


def test_given_no_events_then_a_batch_encodes_as_an_empty_list() -> None:
    assert decode_event_batch(encode_event_batch([])) == []


def test_given_decoded_events_then_fields_have_their_declared_types() -> None:
    # Channels come back as Channel, arrays as tuples: equal to what the engine built.
    for event in decode_event_batch(encode_event_batch(_events_of_many_kinds())):
        channel = getattr(event, "channel", None)
        assert channel is None or isinstance(channel, Channel)
        assert not any(isinstance(getattr(event, f), list) for f in event.__struct_fields__)


def test_given_an_event_with_a_field_of_the_wrong_type_then_decoding_refuses_it() -> None:
    good = encode_event(_events_of_many_kinds()[0])
    bad = good.replace(b'"at":', b'"at":"yesterday","was":', 1)
    with pytest.raises(ValueError, match=r"\$\.at"):
        decode_event(bad)
    with pytest.raises(KeyError):
        decode_event(b'{"event": "no.such.event", "at": 1.0}')
