"""Contact and agent state machines, records and the pure matching helpers."""

from __future__ import annotations

import orjson
import pytest

from routing.errors import IllegalTransition
from routing.matching import ChannelRules, exclusion
from routing.model import (
    CONTACT_TRANSITIONS,
    DEFAULT_PROFILE,
    MISSED_OFFER_REASON,
    Agent,
    AgentState,
    Channel,
    Contact,
    ContactState,
    CustomerContext,
    Decision,
    OverflowStep,
    QueueConfig,
    SkillRequirement,
)


def contact() -> Contact:
    return Contact(
        contact_id="c1",
        channel=Channel.CHAT,
        queue="support",
        customer=CustomerContext(customer_id="cust", tier="gold", owner_agent_id="a1"),
        priority=3,
        created_at=100.0,
        seq=7,
        attributes={"topic": "refund"},
    )


def agent() -> Agent:
    return Agent(
        agent_id="a1",
        name="Ann",
        skills={"sales": 3},
        queues=frozenset({"support"}),
        profile="default",
        since=0.0,
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in ContactState for t in ContactState if t not in CONTACT_TRANSITIONS[s]],
)
def test_given_a_forbidden_contact_transition_then_it_raises_and_keeps_the_state(
    source: ContactState, target: ContactState
) -> None:
    c = contact()
    c.state = source
    with pytest.raises(IllegalTransition) as raised:
        c.transition(target)
    assert raised.value.error_id == "illegal-transition"
    assert c.state == source


def test_given_the_happy_path_then_every_contact_transition_is_allowed() -> None:
    c = contact()
    for target in (
        ContactState.QUEUED,
        ContactState.OFFERED,
        ContactState.CONNECTED,
        ContactState.WRAP_UP,
        ContactState.CLOSED,
    ):
        c.transition(target)
    assert c.state == ContactState.CLOSED


@pytest.mark.parametrize(
    ("source", "reason", "target", "new_reason"),
    [
        (AgentState.READY, None, AgentState.READY, None),
        (AgentState.OFFLINE, None, AgentState.OFFLINE, None),
        (AgentState.NOT_READY, "break", AgentState.NOT_READY, "break"),
    ],
)
def test_given_the_same_agent_state_then_it_is_an_illegal_transition(
    source: AgentState, reason: str | None, target: AgentState, new_reason: str | None
) -> None:
    a = agent()
    a.state, a.reason = source, reason
    with pytest.raises(IllegalTransition):
        a.transition(target, new_reason)


def test_given_not_ready_when_the_reason_changes_then_it_is_a_transition() -> None:
    a = agent()
    a.transition(AgentState.NOT_READY, "break")
    assert a.transition(AgentState.NOT_READY, "lunch") == AgentState.NOT_READY
    assert a.reason == "lunch"
    a.transition(AgentState.READY, None)
    assert a.reason is None


def test_given_records_when_serialised_then_they_round_trip() -> None:
    c = contact()
    c.transition(ContactState.QUEUED)
    c.declined_by = frozenset({"a9"})
    c.explanations.append({"agent_id": "a1"})
    again = Contact.from_dict(c.to_dict())
    assert again.to_dict() == c.to_dict()
    a = agent()
    a.active["c1"] = Channel.CHAT
    a.load[Channel.CHAT] = 1
    a.last_offer["support"] = 4
    assert Agent.from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_given_persisted_records_when_read_back_then_they_hold_what_describe_shows() -> None:
    # Records share unchanging parts and cache each decision's JSON: the bytes must still
    # say what to_dict says, and rebuild the same contact and agent.
    c = contact()
    c.transition(ContactState.QUEUED)
    c.explanations.append(
        Decision(
            contact_id="c1",
            agent_id="a1",
            at=5.0,
            decided_by="strategy",
            strategy="longest-idle",
            ring=0,
            ranked=["a1", "a2"],
            scores=[1.0, 2.0],
            counts={"eligible": 2},
        )
    )
    for _ in range(2):  # the second time from the cached JSON
        record = orjson.loads(orjson.dumps(c.to_record()))
        assert record == orjson.loads(orjson.dumps(c.to_dict()))
    assert Contact.from_dict(record).to_dict() == c.to_dict()
    a = agent()
    a.serve(frozenset({"sales", "support"}))
    record = orjson.loads(orjson.dumps(a.to_record()))
    assert record["queues"] == ["sales", "support"]
    assert Agent.from_dict(record).to_record() == a.to_record()
    # What describe_agent hands out is the caller's own.
    shown = a.to_dict()
    shown["skills"]["sales"] = 5
    assert a.skills == {"sales": 3}


def test_given_overflow_steps_then_rings_accumulate_in_time_order() -> None:
    queue = QueueConfig(
        name="sales",
        channels=frozenset({Channel.VOICE}),
        skills=(SkillRequirement("sales", 4), SkillRequirement("english", 3)),
        overflow=(
            OverflowStep(60, drop_skills=("english",), add_queues=("support",)),
            OverflowStep(30, lower_skills=(SkillRequirement("sales", 2),)),
        ),
    )
    rings = queue.rings()
    assert [r.starts_after for r in rings] == [0.0, 30, 60]
    assert rings[1].skills == (SkillRequirement("english", 3), SkillRequirement("sales", 2))
    assert rings[2].skills == (SkillRequirement("sales", 2),)
    assert rings[2].extra_queues == ("support",)


def test_given_profile_rules_then_exclusion_names_the_reason() -> None:
    a = agent()
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.VOICE) == "offline"
    a.state = AgentState.READY
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.VOICE) is None
    a.active["v"] = Channel.VOICE
    a.load[Channel.VOICE] = 1
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.VOICE) == "over-capacity"
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.CHAT) == "busy"
    a.active, a.load[Channel.VOICE] = {"c": Channel.CHAT}, 0
    a.load[Channel.CHAT] = 1
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.VOICE) == "busy"
    a.awaiting[Channel.CHAT] = 1
    assert exclusion(a, ChannelRules(DEFAULT_PROFILE), Channel.VOICE) is None


def test_given_auto_accept_channels_when_serialised_then_they_round_trip() -> None:
    a = agent()
    a.auto_accept = (Channel.CHAT, Channel.EMAIL)
    record = orjson.loads(orjson.dumps(a.to_record()))
    assert record["auto_accept"] == ["chat", "email"]
    assert Agent.from_dict(record).auto_accept == (Channel.CHAT, Channel.EMAIL)
    # None (the configured default) stays None; records from before the field too.
    b = agent()
    assert Agent.from_dict(orjson.loads(orjson.dumps(b.to_record()))).auto_accept is None
    older = b.to_dict()
    del older["auto_accept"]
    assert Agent.from_dict(older).auto_accept is None


def test_given_a_record_paused_for_no_answer_by_an_earlier_version_then_it_reads_as_missed() -> (
    None
):
    a = agent()
    a.transition(AgentState.NOT_READY, "no-answer")
    again = Agent.from_dict(a.to_dict())
    assert (again.state, again.reason) == (AgentState.NOT_READY, MISSED_OFFER_REASON)
