"""Who hears what: an agent only their own offers and the customers of their own
contacts; supervisors the queues and every agent's state; refusals say why and keep
the connection open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_ui.hub.messages import (
    AgentStateUpdate,
    ContactUpdate,
    Offer,
    Refused,
    Snapshot,
    Subscribed,
    Unsubscribed,
)
from contact_center.services import Services
from tests.agent_ui.conftest import Caller
from tests.agent_ui.hub.conftest import Connect, enqueue, ready


async def test_given_an_agent_when_asking_for_what_is_not_theirs_then_each_is_refused(
    connect: Connect,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    customer: dict[str, Any],
) -> None:
    other = await make_user("agent2", "agent")
    console = await connect(agent)
    await console.hello()
    refusals = {
        f"agent:{other.user_id}": "topic-forbidden",
        "queue:support": "topic-forbidden",
        "agents": "topic-forbidden",
        f"customer:{customer['id']}": "topic-forbidden",
        "queue:": "invalid-topic",
        "everything": "invalid-topic",
    }
    for topic, error in refusals.items():
        await console.send({"type": "subscribe", "topic": topic})
        refused = await console.next(Refused)
        assert (refused.topic, refused.error) == (topic, error)
    # The refusals closed nothing: the agent's own topic still works.
    await console.send({"type": "subscribe", "topic": f"agent:{agent.user_id}"})
    assert (await console.next(Subscribed)).topic == f"agent:{agent.user_id}"


async def test_given_two_agents_when_one_is_offered_a_contact_then_the_other_hears_nothing(
    connect: Connect,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed: Services,
    customer: dict[str, Any],
) -> None:
    assert routed.routing is not None
    other = await make_user("agent2", "agent")
    await ready(routed, agent)
    first, second = await connect(agent), await connect(other)
    await first.hello()
    await second.hello()

    await enqueue(routed, "call-1", customer_id=customer["id"])
    offer = await first.next(Offer)
    assert offer.offer.contact_id == "call-1"
    # The second agent's next message is their own state change, not the offer.
    await routed.routing.ready(str(other.user_id))
    mine = await second.next(AgentStateUpdate)
    assert mine.agent_id == str(other.user_id)
    assert [type(m).__name__ for m in second.received] == [
        "Welcome", "Snapshot", "AgentStateUpdate"
    ]  # fmt: skip


async def test_given_an_agent_holding_a_customers_contact_then_they_may_watch_that_customer(
    connect: Connect, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    assert routed.routing is not None
    topic = f"customer:{customer['id']}"
    await ready(routed, agent)
    console = await connect(agent)
    _, after = await console.hello(topics=[topic])
    assert [(m.topic, m.error) for m in after if isinstance(m, Refused)] == [
        (topic, "topic-forbidden")
    ]

    await enqueue(routed, "call-1", customer_id=customer["id"])
    await console.next(Offer)
    await console.send({"type": "subscribe", "topic": topic})
    subscribed = await console.next(Subscribed)
    assert subscribed.topic == topic
    await routed.routing.accept("call-1", str(agent.user_id))
    steps = [await console.next(ContactUpdate), await console.next(ContactUpdate)]
    assert {(s.topic, s.event) for s in steps} == {
        (topic, "contact.connected"),
        (f"agent:{agent.user_id}", "contact.connected"),
    }
    assert all(s.seq > subscribed.seq for s in steps)


async def test_given_a_supervisor_then_queues_and_agent_states_but_not_an_agents_own_topic(
    connect: Connect,
    agent: Caller,
    supervisor: Caller,
    routed: Services,
    customer: dict[str, Any],
) -> None:
    console = await connect(supervisor)
    welcome, after = await console.hello(
        topics=["queue:support", "agents", f"agent:{agent.user_id}", "queue:nowhere"]
    )
    assert welcome.topics == ["agents", "queue:support"]
    refused = {m.topic: m.error for m in after if isinstance(m, Refused)}
    assert refused == {
        f"agent:{agent.user_id}": "topic-forbidden",
        "queue:nowhere": "unknown-topic",
    }
    snapshot = after[-1]
    assert isinstance(snapshot, Snapshot) and snapshot.agent is None
    assert snapshot.statistics is not None and set(snapshot.statistics["queues"]) == {
        "support",
        "sales",
    }

    await ready(routed, agent)
    state = await console.next(AgentStateUpdate)
    assert (state.topic, state.agent_id, state.state) == ("agents", str(agent.user_id), "ready")
    await enqueue(routed, "call-1", customer_id=customer["id"])
    queued = await console.next(ContactUpdate)
    offered = await console.next(ContactUpdate)
    assert (queued.topic, queued.event, queued.details["reason"]) == (
        "queue:support",
        "contact.queued",
        "arrived",
    )
    # Supervisors see that it was offered, never the agent's screen-pop.
    assert (offered.event, offered.agent_id) == ("contact.offered", str(agent.user_id))
    assert "screen_pop" not in offered.details

    await console.send({"type": "unsubscribe", "topic": "queue:support"})
    assert (await console.next(Unsubscribed)).topic == "queue:support"
    await enqueue(routed, "call-2", customer_id=customer["id"])
    await routed.routing.not_ready(str(agent.user_id), "lunch")
    # Nothing from the queue any more: the next message is the agent's state.
    assert (await console.next(AgentStateUpdate)).state == "not_ready"


async def test_given_an_agent_then_their_own_topic_cannot_be_dropped(
    connect: Connect, agent: Caller
) -> None:
    console = await connect(agent)
    await console.hello()
    await console.send({"type": "unsubscribe", "topic": f"agent:{agent.user_id}"})
    assert (await console.next(Refused)).error == "personal-topic"


async def test_given_too_many_topics_then_the_extra_ones_are_refused(
    connect: Connect, supervisor: Caller
) -> None:
    console = await connect(supervisor)
    await console.hello(topics=[f"customer:{n}" for n in range(1, 33)])
    await console.send({"type": "subscribe", "topic": "agents"})
    assert (await console.next(Refused)).error == "too-many-topics"
