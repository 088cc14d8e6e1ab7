"""Router behaviour, one suite for both state backends (in-memory and Redis).

Each scenario drives the public service with a manual clock and checks the events
and queries a console or wallboard would see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from routing import errors
from routing.backends.base import CommandResult
from routing.backends.memory import MemoryRouterBackend
from routing.events import ContactOffered
from routing.model import CustomerContext
from routing.ports import InMemoryWaitingContactStore, ListEventSink
from routing.service import RoutingService
from tests.routing.conftest import Router, make_config


def names(events: Iterable[DomainEvent] | CommandResult) -> list[str]:
    items = events.events if isinstance(events, CommandResult) else events
    return [e.name for e in items]


def offers(events: Iterable[DomainEvent] | CommandResult) -> list[tuple[str, str]]:
    items = events.events if isinstance(events, CommandResult) else events
    return [(e.contact_id, e.agent_id) for e in items if isinstance(e, ContactOffered)]


async def add_agent(
    router: Router,
    agent_id: str,
    *,
    queues: tuple[str, ...] = ("support",),
    skills: dict[str, int] | None = None,
    profile: str | None = None,
    ready: bool = True,
) -> None:
    await router.service.upsert_agent(agent_id, skills=skills, queues=queues, profile=profile)
    if ready:
        await router.service.ready(agent_id)


async def serve(router: Router, contact_id: str, agent_id: str) -> None:
    """Accept, hang up and end wrap-up: the agent is free again."""
    await router.service.accept(contact_id, agent_id)
    await router.service.hang_up(contact_id)
    state = (await router.service.describe_contact(contact_id))["state"]
    if state == "wrap_up":
        await router.service.end_wrap_up(contact_id, agent_id)


# -- basic flow ----------------------------------------------------------------------


async def test_given_a_ready_agent_when_a_contact_arrives_then_it_is_offered_at_once(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    result = await router.service.enqueue(
        "c1", "voice", "support", CustomerContext(customer_id="cust-1")
    )
    assert names(result) == ["contact.queued", "contact.offered"]
    offered = result.events[-1]
    assert isinstance(offered, ContactOffered)
    assert (offered.agent_id, offered.customer_id, offered.queue) == ("a1", "cust-1", "support")
    assert offered.offer_deadline == router.clock.now + 20.0


async def test_given_a_full_life_when_served_then_every_transition_is_an_event(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("sales",), skills={"sales": 3})
    await router.service.enqueue("c1", "voice", "sales")
    router.clock.now += 4
    connected = await router.service.accept("c1", "a1")
    assert names(connected) == ["contact.connected"]
    assert connected.events[0].waited_seconds == 4.0  # type: ignore[attr-defined]
    router.clock.now += 60
    hung_up = await router.service.hang_up("c1", "agent-hung-up")
    assert names(hung_up) == ["contact.wrap_up_started"]
    closing = await router.advance(10)
    assert names(closing) == ["contact.wrap_up_ended", "contact.closed"]
    assert closing[-1].reason == "completed"


async def test_given_no_agent_when_contacts_wait_then_position_and_estimate_are_known(
    router: Router,
) -> None:
    for n in range(3):
        await router.service.enqueue(f"c{n}", "chat", "support")
    described = await router.service.describe_contact("c2")
    assert described["state"] == "queued"
    assert described["position"] == 3
    assert described["estimated_wait_seconds"] > 0
    assert (await router.service.describe_contact("c0"))["position"] == 1


# -- priority and order ----------------------------------------------------------------


async def test_given_equal_priority_when_an_agent_frees_then_first_in_is_first_out(
    router: Router,
) -> None:
    for n in range(4):
        await router.service.enqueue(f"c{n}", "voice", "support")
        router.clock.now += 1
    await add_agent(router, "a1")
    served = []
    for _ in range(4):
        contact = (await router.service.describe_agent("a1"))["active"]
        (cid,) = contact
        served.append(cid)
        await serve(router, cid, "a1")
    assert served == ["c0", "c1", "c2", "c3"]


async def test_given_due_times_when_an_agent_frees_then_the_earliest_due_goes_first(
    router: Router,
) -> None:
    # Arrival order c0, c1, c2; due order c2, c0, then c1 (a contact with no due time
    # sorts by its arrival, which is earlier than every due time here).
    base = router.clock.now
    for cid, due in (("c0", base + 7200), ("c1", base + 14_400), ("c2", base + 3600)):
        await router.service.enqueue(cid, "email", "support", due_at=due)
        router.clock.now += 1
    positions = {
        c: (await router.service.describe_contact(c))["position"] for c in ("c0", "c1", "c2")
    }
    assert positions == {"c2": 1, "c0": 2, "c1": 3}
    await add_agent(router, "a1", ready=False)
    offered = await router.service.ready("a1")
    assert [cid for cid, _ in offers(offered)] == ["c2", "c0", "c1"]
    assert (await router.service.describe_contact("c0"))["due_at"] == base + 7200


async def test_given_a_gold_customer_when_waiting_then_tier_boost_puts_them_first(
    router: Router,
) -> None:
    await router.service.enqueue("plain", "voice", "sales")
    router.clock.now += 5
    await router.service.enqueue(
        "gold", "voice", "sales", CustomerContext(customer_id="g", tier="gold")
    )
    assert (await router.service.describe_contact("gold"))["position"] == 1
    await add_agent(router, "a1", queues=("sales",), skills={"sales": 5})
    assert (await router.service.describe_agent("a1"))["active"] == {"gold": "voice"}


async def test_given_a_long_wait_when_ageing_then_low_priority_overtakes_new_high_priority(
    router: Router,
) -> None:
    # sales ages 6 points a minute: after 10 minutes a priority-0 contact beats a
    # fresh priority-50 one.
    await router.service.enqueue("old", "voice", "support", priority=0)
    router.clock.now += 601
    await router.service.enqueue("new", "voice", "support", priority=5)
    # support ages 1 point a minute: 10 minutes = 10 points > 5.
    await add_agent(router, "a1")
    assert (await router.service.describe_agent("a1"))["active"] == {"old": "voice"}


async def test_given_a_supervisor_when_priority_changes_then_the_order_changes(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "support")
    await router.service.enqueue("c2", "voice", "support")
    changed = await router.service.change_priority("c2", 100)
    assert names(changed) == ["contact.priority_changed"]
    assert (await router.service.describe_contact("c2"))["position"] == 1
    await add_agent(router, "a1")
    assert (await router.service.describe_agent("a1"))["active"] == {"c2": "voice"}


# -- offers: timeout, decline, no answer -------------------------------------------------


async def test_given_an_offer_when_it_times_out_then_agent_pauses_and_contact_returns_to_head(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.enqueue("c2", "voice", "support")
    fired = await router.advance(20)
    assert names(fired)[:3] == [
        "contact.offer_timed_out",
        "agent.state_changed",
        "contact.queued",
    ]
    agent = await router.service.describe_agent("a1")
    assert (agent["state"], agent["reason"]) == ("not_ready", "missed-offer")
    assert (await router.service.describe_contact("c1"))["position"] == 1
    await add_agent(router, "a2")
    assert (await router.service.describe_agent("a2"))["active"] == {"c1": "voice"}


async def test_given_an_offer_when_the_channel_reports_no_answer_then_agent_pauses(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await add_agent(router, "a2", ready=False)
    await router.service.enqueue("c1", "voice", "support")
    result = await router.service.not_answered("c1", "a1")
    assert "contact.offer_timed_out" in names(result)
    assert (await router.service.describe_agent("a1"))["reason"] == "missed-offer"
    after = await router.service.ready("a2")
    assert offers(after) == [("c1", "a2")]


async def test_given_an_offer_when_declined_then_the_decliner_misses_it_and_someone_else_gets_it(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "chat", "support")
    declined = await router.service.decline("c1", "a1")
    # The one missed-offer rule: the same as an offer that timed out.
    assert names(declined) == ["contact.offer_declined", "agent.state_changed", "contact.queued"]
    agent = await router.service.describe_agent("a1")
    assert (agent["state"], agent["reason"]) == ("not_ready", "missed-offer")
    assert (await router.service.describe_contact("c1"))["position"] == 1
    joined = await add_and_collect(router, "a2")
    assert offers(joined) == [("c1", "a2")]
    explanation = await router.service.explain("c1")
    assert [d["agent_id"] for d in explanation["decisions"]] == ["a1", "a2"]


async def test_given_a_decliner_back_ready_then_the_declined_contact_is_not_offered_again(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "email", "support")
    await router.service.decline("c1", "a1")
    back = await router.service.ready("a1")
    assert offers(back) == []
    await router.service.enqueue("c2", "email", "support")
    assert (await router.service.describe_agent("a1"))["active"] == {"c2": "email"}


# -- auto-accept -----------------------------------------------------------------------


async def test_given_an_agent_auto_accepting_chat_then_a_chat_is_connected_without_a_click(
    router: Router,
) -> None:
    await router.service.upsert_agent("a1", queues=("support",), auto_accept=("chat",))
    await router.service.ready("a1")
    result = await router.service.enqueue("c1", "chat", "support")
    assert names(result) == ["contact.queued", "contact.offered", "contact.connected"]
    offered = result.events[1]
    assert isinstance(offered, ContactOffered) and offered.auto_accept is True
    assert (await router.service.describe_contact("c1"))["state"] == "connected"
    # Nothing left to time out.
    assert names(await router.advance(60)) == []
    assert (await router.service.describe_agent("a1"))["state"] == "ready"


async def test_given_auto_accept_for_chat_only_then_an_email_still_waits_for_a_click(
    router: Router,
) -> None:
    await router.service.upsert_agent("a1", queues=("support",), auto_accept=("chat",))
    await router.service.ready("a1")
    result = await router.service.enqueue("c1", "email", "support")
    assert names(result) == ["contact.queued", "contact.offered"]
    offered = result.events[1]
    assert isinstance(offered, ContactOffered) and offered.auto_accept is False


async def test_given_auto_accept_for_voice_then_the_call_is_flagged_and_waits_for_the_phone(
    router: Router,
) -> None:
    await router.service.upsert_agent("a1", queues=("support",), auto_accept=("voice",))
    await router.service.ready("a1")
    result = await router.service.enqueue("c1", "voice", "support")
    # A call is connected when the phone answers (the channel reports it), not before.
    assert names(result) == ["contact.queued", "contact.offered"]
    offered = result.events[1]
    assert isinstance(offered, ContactOffered) and offered.auto_accept is True
    assert (await router.service.describe_agent("a1"))["auto_accept"] == ["voice"]


async def test_given_auto_accept_changed_by_an_upsert_then_the_next_offer_follows_it(
    router: Router,
) -> None:
    await router.service.upsert_agent("a1", queues=("support",), auto_accept=("chat",))
    await router.service.ready("a1")
    await router.service.upsert_agent("a1", queues=("support",), auto_accept=())
    result = await router.service.enqueue("c1", "chat", "support")
    assert names(result) == ["contact.queued", "contact.offered"]
    assert (await router.service.describe_agent("a1"))["auto_accept"] == []


async def test_given_an_unknown_auto_accept_channel_then_the_upsert_is_refused(
    router: Router,
) -> None:
    with pytest.raises(errors.InvalidCommand):
        await router.service.upsert_agent("a1", queues=("support",), auto_accept=("fax",))


async def add_and_collect(router: Router, agent_id: str) -> CommandResult:
    await router.service.upsert_agent(agent_id, queues=("support",))
    return await router.service.ready(agent_id)


async def test_given_someone_else_when_accepting_then_refused_and_nothing_changes(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await add_agent(router, "a2", ready=False)
    await router.service.enqueue("c1", "voice", "support")
    with pytest.raises(errors.NotOfferedToAgent):
        await router.service.accept("c1", "a2")
    assert (await router.service.describe_contact("c1"))["state"] == "offered"
    await router.service.accept("c1", "a1")
    with pytest.raises(errors.IllegalTransition):
        await router.service.accept("c1", "a1")


# -- wrap-up ---------------------------------------------------------------------------


async def test_given_wrap_up_when_contacts_wait_then_no_offer_until_it_ends(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("sales",), skills={"sales": 3})
    await router.service.enqueue("c1", "voice", "sales")
    await router.service.accept("c1", "a1")
    await router.service.hang_up("c1")
    queued = await router.service.enqueue("c2", "voice", "sales")
    assert offers(queued) == []
    assert offers(await router.advance(9)) == []
    assert offers(await router.advance(1)) == [("c2", "a1")]


async def test_given_manual_wrap_up_when_agent_ends_it_then_agent_is_free(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.accept("c1", "a1")
    started = await router.service.hang_up("c1")
    assert started.events[0].deadline is None  # type: ignore[attr-defined]
    await router.service.enqueue("c2", "voice", "support")
    assert offers(await router.advance(60)) == []
    ended = await router.service.end_wrap_up("c1", "a1")
    assert names(ended) == ["contact.wrap_up_ended", "contact.closed", "contact.offered"]


async def test_given_manual_wrap_up_when_forgotten_then_the_maximum_ends_it(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.accept("c1", "a1")
    await router.service.hang_up("c1")
    ended = await router.advance(120)
    assert names(ended) == ["contact.wrap_up_ended", "contact.closed"]
    assert ended[0].ended_by == "timer"


# -- overflow rings ----------------------------------------------------------------------


async def test_given_overflow_rings_when_time_passes_then_each_fires_at_its_time(
    router: Router,
) -> None:
    await add_agent(router, "junior", queues=("sales",), skills={"sales": 1})
    await add_agent(router, "helper", queues=("support",))
    await router.service.enqueue("c1", "voice", "sales")
    await router.service.enqueue("c2", "voice", "sales")
    assert offers(await router.advance(29.9)) == []
    ring1 = await router.advance(0.1)
    assert names(ring1)[:2] == ["contact.overflowed", "contact.offered"]
    assert ring1[0].ring == 1 and ring1[0].skills == (("sales", 1),)
    assert offers(ring1) == [("c1", "junior")]
    await router.service.accept("c1", "junior")
    assert offers(await router.advance(29.9)) == []
    ring2 = await router.advance(0.1)
    assert ring2[0].extra_queues == ("support",)
    assert offers(ring2) == [("c2", "helper")]


# -- sticky routing ----------------------------------------------------------------------


async def test_given_an_owner_when_the_customer_calls_then_the_owner_is_preferred(
    router: Router,
) -> None:
    await add_agent(router, "owner", queues=("sales",), skills={"sales": 3})
    await add_agent(router, "other", queues=("sales",), skills={"sales": 3})
    await router.service.enqueue("first", "voice", "sales")  # keeps the owner busy
    first_agent = (await router.service.describe_contact("first"))["agent_id"]
    assert first_agent in ("owner", "other")
    if first_agent == "other":
        await router.service.accept("first", "other")
        await router.service.enqueue("busy", "voice", "sales")
        await router.service.accept("busy", "owner")
        await router.service.hang_up("first")
        await router.service.end_wrap_up("first", "other")
    else:
        await router.service.accept("first", "owner")
    customer = CustomerContext(customer_id="vip-1", owner_agent_id="owner")
    queued = await router.service.enqueue("c1", "voice", "sales", customer)
    assert queued.events[0].sticky_agent_id == "owner"  # type: ignore[attr-defined]
    free_other = (await router.service.describe_agent("other"))["available"]
    assert free_other is True
    assert offers(queued) == []
    assert offers(await router.advance(19)) == []
    widened = await router.advance(1)
    assert names(widened)[0] == "contact.sticky_widened"
    assert offers(widened) == [("c1", "other")]


async def test_given_an_owner_when_they_are_free_then_they_get_the_contact_directly(
    router: Router,
) -> None:
    await add_agent(router, "other", queues=("sales",), skills={"sales": 3})
    await add_agent(router, "owner", queues=("sales",), skills={"sales": 3})
    customer = CustomerContext(customer_id="vip-1", owner_agent_id="owner")
    result = await router.service.enqueue("c1", "voice", "sales", customer)
    assert offers(result) == [("c1", "owner")]
    assert result.events[-1].decided_by == "sticky"  # type: ignore[attr-defined]


async def test_given_offers_then_each_says_in_brief_why_that_agent(router: Router) -> None:
    await add_agent(router, "other", queues=("sales", "support"), skills={"sales": 3})
    await add_agent(router, "owner", queues=("sales",), skills={"sales": 3})
    # The owner, kept for them; a gold customer's priority is the tier's boost.
    vip = CustomerContext(customer_id="vip-1", tier="gold", owner_agent_id="owner")
    result = await router.service.enqueue("c1", "voice", "sales", vip)
    offered = result.events[-1]
    assert isinstance(offered, ContactOffered) and offered.agent_id == "owner"
    assert (offered.decided_by, offered.preferred) == ("sticky", "owner")
    assert (offered.tier, offered.priority) == ("gold", 50)
    # The last agent, kept for them.
    recent = CustomerContext(
        customer_id="c", last_agent_id="other", last_served_at=router.clock.now - 60
    )
    offered = (await router.service.enqueue("c2", "chat", "sales", recent)).events[-1]
    assert isinstance(offered, ContactOffered) and offered.agent_id == "other"
    assert (offered.decided_by, offered.preferred) == ("sticky", "last-agent")
    # The queue's strategy among the free agents: how many were compared.
    await add_agent(router, "a3", queues=("support",))
    await add_agent(router, "a4", queues=("support",))
    offered = (await router.service.enqueue("c3", "email", "support")).events[-1]
    assert isinstance(offered, ContactOffered)
    assert (offered.decided_by, offered.strategy, offered.preferred) == (
        "strategy",
        "longest-idle",
        "",
    )
    assert offered.candidates == 3  # other, a3, a4 (the owner serves only sales)
    assert (offered.tier, offered.priority) == (None, 0)
    # An agent coming free takes the most urgent contact waiting for it.
    await router.service.enqueue("c4", "voice", "fewest")
    await router.service.enqueue("c5", "voice", "fewest")
    await add_agent(router, "a5", queues=("fewest",))
    (offered,) = [e for e in router.sink.events if isinstance(e, ContactOffered)][-1:]
    assert (offered.contact_id, offered.agent_id) == ("c4", "a5")
    assert (offered.decided_by, offered.candidates) == ("agent-available", 1)


async def test_given_a_last_agent_when_no_owner_then_the_last_agent_is_preferred(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("sales",), skills={"sales": 3})
    await add_agent(router, "last", queues=("sales",), skills={"sales": 3})
    recent = CustomerContext(
        customer_id="c", last_agent_id="last", last_served_at=router.clock.now - 3600
    )
    result = await router.service.enqueue("c1", "voice", "sales", recent)
    assert offers(result) == [("c1", "last")]
    stale = CustomerContext(
        customer_id="d", last_agent_id="last", last_served_at=router.clock.now - 30 * 86_400
    )
    result = await router.service.enqueue("c2", "voice", "sales", stale)
    assert offers(result) == [("c2", "a1")]


async def test_given_a_sticky_wait_when_the_owner_logs_out_then_it_widens_at_once(
    router: Router,
) -> None:
    await add_agent(router, "owner", queues=("sales",), skills={"sales": 3}, ready=False)
    await router.service.not_ready("owner", "lunch")
    await add_agent(router, "other", queues=("sales",), skills={"sales": 3}, ready=False)
    queued = await router.service.enqueue(
        "c1", "voice", "sales", CustomerContext(customer_id="x", owner_agent_id="owner")
    )
    assert queued.events[0].sticky_agent_id == "owner"  # type: ignore[attr-defined]
    await router.service.ready("other")
    assert (await router.service.describe_contact("c1"))["state"] == "queued"
    result = await router.service.log_out("owner")
    assert "contact.sticky_widened" in names(result)
    assert offers(result) == [("c1", "other")]


# -- capacity and cross-channel rules ----------------------------------------------------


async def test_given_chat_capacity_two_when_three_chats_arrive_then_the_third_waits(
    router: Router,
) -> None:
    await add_agent(router, "a1", profile="chat_only")
    got = [offers(await router.service.enqueue(f"c{n}", "chat", "support")) for n in range(3)]
    assert got == [[("c0", "a1")], [("c1", "a1")], []]
    with pytest.raises(errors.AgentUnavailable):
        await router.service.offer_to_agent("c2", "a1")
    await router.service.enqueue("v1", "voice", "support")
    assert (await router.service.describe_contact("v1"))["state"] == "queued"


async def test_given_a_call_when_chats_and_emails_wait_then_voice_blocks_them(
    router: Router,
) -> None:
    await add_agent(router, "a1", profile="blended")
    await router.service.enqueue("v1", "voice", "support")
    await router.service.accept("v1", "a1")
    await router.service.enqueue("chat1", "chat", "support")
    await router.service.enqueue("mail1", "email", "support")
    assert (await router.service.describe_contact("chat1"))["state"] == "queued"
    await router.service.hang_up("v1")
    freed = await router.service.end_wrap_up("v1", "a1")
    assert sorted(offers(freed)) == [("chat1", "a1"), ("mail1", "a1")]


async def test_given_chats_waiting_on_the_customer_when_a_call_waits_then_it_may_be_taken(
    router: Router,
) -> None:
    await add_agent(router, "a1", profile="blended")
    await router.service.enqueue("chat1", "chat", "support")
    await router.service.accept("chat1", "a1")
    await router.service.enqueue("v1", "voice", "support")
    assert (await router.service.describe_contact("v1"))["state"] == "queued"
    result = await router.service.set_awaiting_customer("chat1", True)
    assert offers(result) == [("v1", "a1")]


async def test_given_max_total_when_channels_have_room_then_the_total_still_caps(
    router: Router,
) -> None:
    await add_agent(router, "a1", profile="blended")
    for n in range(2):
        await router.service.enqueue(f"chat{n}", "chat", "support")
    await router.service.enqueue("mail0", "email", "support")
    await router.service.enqueue("mail1", "email", "support")
    agent = await router.service.describe_agent("a1")
    assert len(agent["active"]) == 3
    assert (await router.service.describe_contact("mail1"))["state"] == "queued"


# -- strategies --------------------------------------------------------------------------


async def test_given_longest_idle_when_two_are_free_then_the_longer_idle_wins(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    router.clock.now += 5
    await add_agent(router, "a2")
    result = await router.service.enqueue("c1", "voice", "support")
    assert offers(result) == [("c1", "a1")]


async def test_given_highest_proficiency_when_two_are_free_then_the_best_skilled_wins(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("vip",), skills={"vip": 2})
    await add_agent(router, "a2", queues=("vip",), skills={"vip": 5})
    result = await router.service.enqueue("c1", "voice", "vip")
    assert offers(result) == [("c1", "a2")]


async def test_given_round_robin_when_contacts_arrive_then_agents_take_turns(
    router: Router,
) -> None:
    for agent_id in ("a1", "a2", "a3"):
        await add_agent(router, agent_id, queues=("rr",))
    got: list[str] = []
    for n in range(6):
        got.extend(a for _, a in offers(await router.service.enqueue(f"c{n}", "chat", "rr")))
    assert got[:3] == ["a1", "a2", "a3"] and got[3:] == got[:3]


async def test_given_least_occupied_when_one_has_a_chat_then_the_other_is_chosen(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("least",))
    await router.service.enqueue("c0", "chat", "least")
    router.clock.now += 10
    await add_agent(router, "a2", queues=("least",))
    result = await router.service.enqueue("c1", "chat", "least")
    assert offers(result) == [("c1", "a2")]


async def test_given_fewest_today_when_one_handled_more_then_the_other_is_chosen(
    router: Router,
) -> None:
    await add_agent(router, "busy", queues=("fewest",))
    await router.service.enqueue("c0", "voice", "fewest")
    await serve(router, "c0", "busy")
    await add_agent(router, "fresh", queues=("fewest",), ready=False)
    router.clock.now += 1
    await router.service.ready("fresh")
    # "busy" has been idle longer but handled one contact today.
    router.clock.now += 1
    await router.service.not_ready("busy", "break")
    await router.service.ready("busy")
    result = await router.service.enqueue("c1", "voice", "fewest")
    assert offers(result) == [("c1", "fresh")]


# -- supervisor operations ---------------------------------------------------------------


async def test_given_a_supervisor_when_moving_and_withdrawing_then_contacts_follow(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "vip")
    await router.service.enqueue("c2", "voice", "vip")
    moved = await router.service.move("c1", "support")
    assert names(moved)[:2] == ["contact.transferred", "contact.queued"]
    assert (await router.service.describe_contact("c1"))["queue"] == "support"
    withdrawn = await router.service.withdraw("c2", "duplicate")
    assert names(withdrawn) == ["contact.closed"]
    assert withdrawn.events[0].reason == "duplicate"  # type: ignore[attr-defined]
    with pytest.raises(errors.ChannelNotServed):
        await router.service.move("c1", "rr")


async def test_given_a_supervisor_when_sending_a_contact_to_an_agent_then_it_is_offered(
    router: Router,
) -> None:
    await add_agent(router, "a1", queues=("support",), ready=False)
    await router.service.enqueue("c1", "voice", "vip")
    with pytest.raises(errors.AgentUnavailable):
        await router.service.offer_to_agent("c1", "a1")
    await router.service.ready("a1")
    result = await router.service.offer_to_agent("c1", "a1")
    assert offers(result) == [("c1", "a1")]
    assert result.events[0].decided_by == "direct"  # type: ignore[attr-defined]


async def test_given_a_supervisor_when_forcing_logout_then_offers_return_to_queue(
    router: Router,
) -> None:
    await add_agent(router, "a1", profile="chat_only")
    await router.service.enqueue("c1", "chat", "support")
    await router.service.enqueue("c2", "chat", "support")
    await router.service.accept("c1", "a1")
    with pytest.raises(errors.AgentHasContacts):
        await router.service.log_out("a1")
    forced = await router.service.force_agent_state("a1", "offline")
    assert forced.events[0].by == "supervisor"  # type: ignore[attr-defined]
    assert (await router.service.describe_contact("c2"))["state"] == "queued"
    assert (await router.service.describe_contact("c1"))["state"] == "connected"


async def test_given_a_call_when_transferred_to_a_queue_or_agent_then_it_moves(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.accept("c1", "a1")
    await add_agent(router, "v1", queues=("vip",), skills={"vip": 1})
    moved = await router.service.transfer_to_queue("c1", "vip")
    assert names(moved)[:3] == ["contact.transferred", "contact.queued", "contact.offered"]
    assert offers(moved) == [("c1", "v1")]
    await router.service.accept("c1", "v1")
    direct = await router.service.transfer_to_agent("c1", "a1")
    assert offers(direct) == [("c1", "a1")]
    await router.service.accept("c1", "a1")
    assert (await router.service.describe_agent("v1"))["active"] == {}


# -- max wait ------------------------------------------------------------------------------


async def test_given_max_wait_callback_when_reached_then_a_callback_is_offered(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "callback")
    fired = await router.advance(60)
    assert names(fired) == ["contact.callback_offered"]
    assert (await router.service.describe_contact("c1"))["callback_offered"] is True


async def test_given_max_wait_move_when_reached_then_the_contact_changes_queue(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "spill")
    fired = await router.advance(60)
    assert fired[0].name == "contact.transferred" and fired[0].by == "max-wait"
    assert (await router.service.describe_contact("c1"))["queue"] == "support"


async def test_given_max_wait_voicemail_when_reached_then_it_closes_with_the_reason(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "voicemail")
    fired = await router.advance(60)
    assert names(fired) == ["contact.closed"]
    assert fired[0].reason == "max-wait-voicemail"


# -- abandon, explanation, statistics ------------------------------------------------------


async def test_given_a_waiting_caller_when_they_hang_up_then_the_contact_is_abandoned(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "support")
    router.clock.now += 12
    result = await router.service.hang_up("c1")
    assert names(result) == ["contact.abandoned"]
    assert result.events[0].waited_seconds == 12.0  # type: ignore[attr-defined]
    with pytest.raises(errors.IllegalTransition):
        await router.service.hang_up("c1")


async def test_given_a_decision_when_explained_then_candidates_exclusions_and_winner_show(
    router: Router,
) -> None:
    await add_agent(router, "best", queues=("vip",), skills={"vip": 5})
    await add_agent(router, "good", queues=("vip",), skills={"vip": 3})
    await add_agent(router, "paused", queues=("vip",), skills={"vip": 5}, ready=False)
    await router.service.upsert_agent("unskilled", queues=("vip",))
    await router.service.ready("unskilled")
    await router.service.upsert_agent("full", queues=("vip",), skills={"vip": 4})
    await router.service.ready("full")
    await router.service.enqueue("blocker", "voice", "vip")
    await router.service.accept("blocker", "best")
    await router.service.enqueue("c1", "voice", "vip")
    explanation = await router.service.explain("c1")
    (decision,) = explanation["decisions"]
    assert decision["agent_id"] == "full"
    verdicts = {c[0]: c[1] for c in decision["candidates"]}
    assert verdicts == {"full": "winner", "good": "eligible"}
    assert decision["counts"] == {"unavailable": 2, "no-skill": 1, "eligible": 2}
    scores = {c[0]: c[2] for c in decision["candidates"]}
    assert scores["full"] < scores["good"]


async def test_given_traffic_when_statistics_are_read_then_they_add_up(router: Router) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    router.clock.now += 5
    await router.service.accept("c1", "a1")
    await router.service.enqueue("c2", "voice", "support")
    await router.service.enqueue("c3", "voice", "support")
    router.clock.now += 30
    await router.service.hang_up("c3")
    stats = await router.service.statistics()
    voice = stats["queues"]["support"]["channels"]["voice"]
    assert voice["waiting"] == 1
    assert voice["longest_wait_seconds"] == 30.0
    assert (voice["offered_today"], voice["answered_today"], voice["abandoned_today"]) == (1, 1, 1)
    assert voice["average_speed_of_answer_seconds"] == 5.0
    assert voice["service_level_percent"] == 50.0
    assert stats["queues"]["support"]["agents"]["busy"] == 1


async def test_given_agents_at_work_when_the_floor_is_described_then_each_shows_its_contacts(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await add_agent(router, "a2")
    await router.service.not_ready("a2", "lunch")
    await router.service.enqueue("c1", "voice", "support")
    router.clock.now += 4
    await router.service.accept("c1", "a1")
    router.clock.now += 6
    floor = await router.service.describe_floor()
    agents = {a["agent_id"]: a for a in floor["agents"]}
    assert floor["at"] == router.clock.now
    (held,) = agents["a1"]["contacts"]
    assert (held["contact_id"], held["state"], held["queue"]) == ("c1", "connected", "support")
    assert held["since"] == router.clock.now - 6
    assert (agents["a2"]["state"], agents["a2"]["reason"], agents["a2"]["contacts"]) == (
        "not_ready",
        "lunch",
        [],
    )
    assert agents["a2"]["state_seconds"] == 10.0


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.enqueue("x", "voice", "nowhere"), errors.NoSuchQueue),
        (lambda s: s.enqueue("x", "fax", "support"), errors.InvalidCommand),
        (lambda s: s.enqueue("x", "email", "vip"), errors.ChannelNotServed),
        (lambda s: s.enqueue("", "voice", "support"), errors.InvalidCommand),
        (lambda s: s.accept("ghost", "a1"), errors.NoSuchContact),
        (lambda s: s.ready("ghost"), errors.NoSuchAgent),
        (lambda s: s.not_ready("a1", "napping"), errors.UnknownNotReadyReason),
        (lambda s: s.ready("a1"), errors.IllegalTransition),
        (lambda s: s.set_agent_state("a1", "dancing"), errors.InvalidCommand),
        (lambda s: s.upsert_agent("a2", queues=("nowhere",)), errors.NoSuchQueue),
        (lambda s: s.upsert_agent("a2", skills={"x": 9}), errors.InvalidCommand),
        (lambda s: s.upsert_agent("a2", profile="nope"), errors.NoSuchProfile),
        (lambda s: s.enqueue("dup", "voice", "support"), errors.DuplicateContact),
    ],
)
async def test_given_bad_input_when_submitted_then_a_clear_error_and_nothing_lost(
    router: Router, call: Any, error: type[AppError]
) -> None:
    await add_agent(router, "a1", queues=("vip",), skills={"vip": 1})
    await router.service.enqueue("dup", "voice", "support")
    before = await router.service.statistics()
    with pytest.raises(error) as raised:
        await call(router.service)
    assert raised.value.error_id == error.error_id
    assert await router.service.statistics() == before
    assert (await router.service.describe_contact("dup"))["state"] == "queued"
    assert (await router.service.describe_agent("a1"))["state"] == "ready"


async def test_given_a_default_auto_accept_then_agents_without_their_own_follow_it(
    clock: Any,
) -> None:
    # Configuration, not state: shown on the memory backend only.
    backend = MemoryRouterBackend(
        make_config({"auto_accept": ["email"]}),
        sink=ListEventSink(),
        store=InMemoryWaitingContactStore(),
        clock=clock,
        run_timers=False,
    )
    service = RoutingService(backend)
    await service.start()
    await service.upsert_agent("a1", queues=("support",))
    await service.upsert_agent("a2", queues=("support",), auto_accept=())
    await service.ready("a1")
    first = await service.enqueue("c1", "email", "support")
    assert names(first)[-1] == "contact.connected"
    await service.not_ready("a1", "break")
    await service.ready("a2")
    second = await service.enqueue("c2", "email", "support")
    assert offers(second) and names(second)[-1] == "contact.offered"
    await service.close()


# -- a customer identified after the decision -------------------------------------------


async def test_given_a_contact_routed_without_customer_when_identified_then_it_carries_it(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    first = await router.service.enqueue("c1", "voice", "support", CustomerContext(tier="bronze"))
    assert offers(first) == [("c1", "a1")]
    assert first.events[-1].customer_id is None

    identified = await router.service.identify_customer("c1", "cust-9")

    assert names(identified) == ["contact.customer_identified"]
    event = identified.events[0]
    assert (event.contact_id, event.customer_id, event.queue) == ("c1", "cust-9", "support")
    assert (event.agent_id, event.state) == ("a1", "offered")  # type: ignore[attr-defined]
    described = await router.service.describe_contact("c1")
    assert (described["customer_id"], described["state"]) == ("cust-9", "offered")
    assert names(await router.service.identify_customer("c1", "cust-9")) == []  # told twice
    with pytest.raises(errors.IllegalTransition):
        await router.service.identify_customer("c1", "cust-10")
    # The next steps carry it: declined, then offered to the next agent.
    await router.service.decline("c1", "a1")
    again = await add_and_collect(router, "a2")
    assert [(e.name, e.customer_id) for e in again.events if e.name == "contact.offered"] == [
        ("contact.offered", "cust-9")
    ]


async def test_given_a_waiting_contact_when_identified_then_it_keeps_its_place_and_tier(
    router: Router,
) -> None:
    await router.service.enqueue("c1", "voice", "support", CustomerContext(tier="bronze"))
    await router.service.enqueue("c2", "voice", "support")
    identified = await router.service.identify_customer("c1", "cust-1")
    assert [(e.agent_id, e.state) for e in identified.events] == [(None, "queued")]  # type: ignore[attr-defined]
    joined = await add_and_collect(router, "a1")
    assert [
        (e.contact_id, e.customer_id) for e in joined.events if e.name == "contact.offered"
    ] == [("c1", "cust-1")]
    assert (await router.service.describe_contact("c2"))["customer_id"] is None
    await router.service.hang_up("c2")
    with pytest.raises(errors.IllegalTransition):
        await router.service.identify_customer("c2", "cust-2")  # ended
    with pytest.raises(errors.NoSuchContact):
        await router.service.identify_customer("c-unknown", "cust-3")
