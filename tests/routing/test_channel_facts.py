"""What a channel tells the router as facts, on both state backends: an offer the
channel could not carry out (ReturnOffer), and a contact that is with an agent whatever
the router decided (AttachToAgent: the agent's phone rings for it, or they talk)."""

from __future__ import annotations

import orjson
import pytest

from routing import commands as cmd
from routing import errors
from routing.engine import RoutingEngine
from routing.events import ContactAttached, ContactQueued
from routing.model import PHONE_UNREACHABLE_REASON, CustomerContext
from tests.routing.conftest import T0, Router, make_config
from tests.routing.test_backend_contract import add_agent, names, offers

# -- ReturnOffer ------------------------------------------------------------------------


async def test_given_a_returned_offer_then_the_contact_keeps_its_place_and_the_agent_its_state(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    router.clock.now += 5
    await router.service.enqueue("c2", "voice", "support")
    returned = await router.service.return_offer("c1", "a1", "phone-busy", retry_seconds=10)
    # a1 is free and ready: it takes the other caller, not the one it could not ring.
    assert names(returned)[:1] == ["contact.queued"]
    queued = returned.events[0]
    assert isinstance(queued, ContactQueued) and queued.reason == "phone-busy"
    assert offers(returned) == [("c2", "a1")]
    agent = await router.service.describe_agent("a1")
    assert (agent["state"], agent["reason"]) == ("ready", None)
    assert (await router.service.describe_contact("c1"))["position"] == 1


async def test_given_a_returned_offer_then_the_pair_is_kept_apart_until_the_retry_time(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    returned = await router.service.return_offer("c1", "a1", "phone-busy", retry_seconds=10)
    assert offers(returned) == []
    assert offers(await router.advance(9)) == []
    assert (await router.service.describe_contact("c1"))["state"] == "queued"
    assert offers(await router.advance(1)) == [("c1", "a1")]


async def test_given_a_returned_offer_then_another_agent_gets_it_at_once(router: Router) -> None:
    await add_agent(router, "a1")
    await add_agent(router, "a2")
    await router.service.enqueue("c1", "voice", "support")
    returned = await router.service.return_offer("c1", "a1", "not-in-sync", retry_seconds=10)
    assert offers(returned) == [("c1", "a2")]
    assert (await router.service.describe_agent("a1"))["state"] == "ready"


async def test_given_no_retry_time_then_a_returned_offer_may_go_straight_back(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    returned = await router.service.return_offer("c1", "a1", "redirect-failed")
    assert offers(returned) == [("c1", "a1")]


async def test_given_an_offer_of_someone_else_then_returning_it_is_refused(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await add_agent(router, "a2", ready=False)
    await router.service.enqueue("c1", "voice", "support")
    with pytest.raises(errors.NotOfferedToAgent):
        await router.service.return_offer("c1", "a2", "phone-busy", retry_seconds=10)
    with pytest.raises(errors.InvalidCommand):
        await router.service.return_offer("c1", "a1", "phone-busy", retry_seconds=-1)
    assert (await router.service.describe_contact("c1"))["agent_id"] == "a1"


def test_given_a_contact_answered_after_a_return_then_the_agent_is_no_longer_kept_out() -> None:
    engine = RoutingEngine(make_config())
    for agent in ("a1", "a2"):
        engine.execute(cmd.UpsertAgent(agent_id=agent, queues=("support",)), T0)
        engine.execute(cmd.SetAgentState(agent_id=agent, state="ready"), T0)
    engine.execute(cmd.EnqueueContact(contact_id="c1", channel="voice", queue="support"), T0)
    engine.execute(
        cmd.ReturnOffer(contact_id="c1", agent_id="a1", reason="phone-busy", retry_seconds=60),
        T0,
    )
    contact = engine.contact("c1")
    assert contact is not None and contact.agent_id == "a2"
    assert (contact.declined_by, contact.returned_until) == (frozenset({"a1"}), {"a1": T0 + 60})
    engine.execute(cmd.AcceptOffer(contact_id="c1", agent_id="a2"), T0 + 1)
    assert (contact.declined_by, contact.returned_until) == (frozenset(), None)
    engine.check_invariants()


def test_given_a_reloaded_engine_then_a_returned_pair_is_still_kept_apart_until_its_time() -> None:
    engine = RoutingEngine(make_config())
    engine.execute(cmd.UpsertAgent(agent_id="a1", queues=("support",)), T0)
    engine.execute(cmd.SetAgentState(agent_id="a1", state="ready"), T0)
    engine.execute(cmd.EnqueueContact(contact_id="c1", channel="voice", queue="support"), T0)
    engine.execute(
        cmd.ReturnOffer(contact_id="c1", agent_id="a1", reason="phone-busy", retry_seconds=10),
        T0 + 1,
    )
    records = engine.snapshot()
    # As a backend stores them: JSON.
    contacts, agents = orjson.loads(orjson.dumps([records.contacts, records.agents]))
    loaded = RoutingEngine(make_config())
    loaded.load(contacts.values(), agents.values(), records.stats, records.meta)
    loaded.check_invariants()
    assert loaded.execute(cmd.FireTimers(), T0 + 10.5).events == []
    later = loaded.execute(cmd.FireTimers(), T0 + 11).events
    assert [(e.name, getattr(e, "agent_id", None)) for e in later] == [("contact.offered", "a1")]
    loaded.check_invariants()


# -- AttachToAgent --------------------------------------------------------------------


async def test_given_a_waiting_contact_when_an_agents_phone_rings_for_it_then_it_is_offered(
    router: Router,
) -> None:
    await add_agent(router, "a1", ready=False)
    await router.service.enqueue("c1", "voice", "support")
    result = await router.service.attach("c1", "a1", "offered")
    assert names(result) == ["contact.attached", "contact.offered"]
    contact = await router.service.describe_contact("c1")
    assert (contact["state"], contact["agent_id"]) == ("offered", "a1")
    answered = await router.service.attach("c1", "a1", "connected")
    assert names(answered) == ["contact.connected"]
    assert (await router.service.describe_contact("c1"))["state"] == "connected"


async def test_given_an_offer_to_someone_else_when_the_channel_rings_another_then_it_moves(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.not_ready("a1", "break")  # the router takes the offer back...
    await add_agent(router, "a2")  # ...and offers it to a2 while a1's phone still rings
    assert (await router.service.describe_contact("c1"))["agent_id"] == "a2"
    await router.service.enqueue("c2", "voice", "support")
    result = await router.service.attach("c1", "a1", "offered")
    attached = result.events[0]
    assert isinstance(attached, ContactAttached)
    assert (attached.agent_id, attached.previous_agent_id, attached.restored) == ("a1", "a2", False)
    # a2 is let go without a penalty and takes the next caller.
    assert offers(result) == [("c1", "a1"), ("c2", "a2")]
    agent = await router.service.describe_agent("a2")
    assert (agent["state"], agent["active"]) == ("ready", {"c2": "voice"})
    a1 = await router.service.describe_agent("a1")
    assert (a1["state"], a1["reason"], a1["active"]) == ("not_ready", "break", {"c1": "voice"})


async def test_given_an_unknown_contact_when_attached_connected_then_it_is_restored_quietly(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    customer = CustomerContext(customer_id="42", tier="gold")
    result = await router.service.attach(
        "c1",
        "a1",
        "connected",
        queue="support",
        customer=customer,
        waiting_since=router.clock.now - 30,
    )
    assert names(result) == ["contact.attached"]
    attached = result.events[0]
    assert isinstance(attached, ContactAttached) and attached.restored
    contact = await router.service.describe_contact("c1")
    assert (contact["state"], contact["agent_id"]) == ("connected", "a1")
    assert contact["customer_id"] == "42"
    # The agent is busy with it: a new caller waits instead of ringing a talking agent.
    await router.service.enqueue("c2", "voice", "support")
    assert (await router.service.describe_contact("c2"))["state"] == "queued"
    ended = await router.service.hang_up("c1")
    assert "contact.wrap_up_started" in names(ended)


async def test_given_the_same_fact_twice_then_nothing_changes_the_second_time(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    assert names(await router.service.attach("c1", "a1", "offered")) == []
    await router.service.attach("c1", "a1", "connected")
    assert names(await router.service.attach("c1", "a1", "connected")) == []
    assert names(await router.service.attach("c1", "a1", "offered")) == []


async def test_given_a_full_agent_then_an_attach_is_refused(router: Router) -> None:
    await add_agent(router, "a1")
    await router.service.enqueue("c1", "voice", "support")
    await router.service.accept("c1", "a1")
    await router.service.enqueue("c2", "voice", "support")
    with pytest.raises(errors.AgentUnavailable):
        await router.service.attach("c2", "a1", "offered")
    with pytest.raises(errors.InvalidCommand):
        await router.service.attach("c2", "a1", "queued")
    with pytest.raises(errors.NoSuchQueue):
        await router.service.attach("c9", "a1", "connected", queue="nowhere")
    assert (await router.service.describe_contact("c2"))["state"] == "queued"


async def test_given_phone_unreachable_then_it_is_a_reason_without_configuration(
    router: Router,
) -> None:
    await add_agent(router, "a1")
    await router.service.not_ready("a1", PHONE_UNREACHABLE_REASON)
    agent = await router.service.describe_agent("a1")
    assert (agent["state"], agent["reason"]) == ("not_ready", "phone-unreachable")
