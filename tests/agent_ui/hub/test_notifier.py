"""The notifier's decisions, event by event: which topics hear of it, in which message."""

from __future__ import annotations

from typing import Any

from agent_ui.hub.messages import AgentStateUpdate, ContactUpdate, StreamMessage
from agent_ui.hub.notifier import Notifier
from contact_center.wrap_up import ContactWrappedUp
from routing.events import (
    AgentStateChanged,
    ContactAbandoned,
    ContactConnected,
    ContactCustomerIdentified,
    ContactOffered,
    ContactQueued,
    ContactStickyWidened,
    ContactTransferred,
)
from routing.model import AgentState, Channel


class RecordingHub:
    def __init__(self) -> None:
        self.published: list[tuple[str, StreamMessage]] = []
        self.built: list[str] = []

    def publish(self, topic: str, message: StreamMessage) -> None:
        self.published.append((topic, message))

    def publish_built(self, topic: str, _at: float, _build: Any) -> None:
        self.built.append(topic)

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.published]


def notifier() -> tuple[Notifier, RecordingHub]:
    hub = RecordingHub()
    return Notifier(hub, services=None), hub  # type: ignore[arg-type]


COMMON: dict[str, Any] = {"at": 1.0, "channel": Channel.VOICE, "queue": "support"}


def test_given_an_offer_then_the_agent_gets_it_built_with_a_pop_and_the_queue_a_step() -> None:
    notify, hub = notifier()
    notify.handle(
        ContactOffered(contact_id="c1", customer_id="7", agent_id="3", waited_seconds=2.0,
                       offer_deadline=31.0, decided_by="strategy", strategy="longest-idle",
                       ring=0, **COMMON)
    )  # fmt: skip
    assert hub.built == ["agent:3"]
    assert hub.topics() == ["queue:support", "customer:7"]
    step = hub.published[0][1]
    assert isinstance(step, ContactUpdate) and step.agent_id == "3"
    assert step.details == {
        "waited_seconds": 2.0, "offer_deadline": 31.0, "decided_by": "strategy",
        "strategy": "longest-idle", "ring": 0, "auto_accept": False, "preferred": "",
        "candidates": 0, "priority": 0, "tier": None,
    }  # fmt: skip
    assert notify.ringing["c1"].offer_deadline == 31.0


def test_given_steps_of_a_contact_then_its_queue_customer_and_holder_hear_them() -> None:
    notify, hub = notifier()
    notify.handle(ContactQueued(contact_id="c1", **COMMON))
    assert hub.topics() == ["queue:support"]  # no customer, nobody holds it
    hub.published.clear()
    notify.handle(ContactConnected(contact_id="c1", customer_id="7", agent_id="3",
                                   waited_seconds=1.0, **COMMON))  # fmt: skip
    assert hub.topics() == ["queue:support", "customer:7", "agent:3"]
    hub.published.clear()
    notify.handle(ContactAbandoned(contact_id="c2", waited_seconds=9.0, **COMMON))
    assert hub.topics() == ["queue:support"]


def test_given_a_transfer_then_both_queues_and_both_agents_hear_it() -> None:
    notify, hub = notifier()
    notify.handle(
        ContactTransferred(contact_id="c1", from_queue="sales", from_agent_id="3",
                           to_agent_id="4", **COMMON)
    )  # fmt: skip
    assert hub.topics() == ["queue:support", "queue:sales", "agent:3", "agent:4"]


def test_given_a_sticky_contact_widened_then_the_preferred_agent_is_not_told() -> None:
    notify, hub = notifier()
    notify.handle(ContactStickyWidened(contact_id="c1", agent_id="3", reason="timeout", **COMMON))
    assert hub.topics() == ["queue:support"]


def test_given_an_agents_state_change_then_that_agent_and_the_supervisors_hear_it() -> None:
    notify, hub = notifier()
    notify.handle(
        AgentStateChanged(at=1.0, agent_id="3", previous=AgentState.READY,
                          state=AgentState.NOT_READY, reason="disconnected", by="system")
    )  # fmt: skip
    assert hub.topics() == ["agent:3", "agents"]
    message = hub.published[0][1]
    assert isinstance(message, AgentStateUpdate)
    assert (message.state, message.previous, message.reason) == (
        "not_ready",
        "ready",
        "disconnected",
    )


def test_given_an_offer_ended_then_the_node_forgets_it_rang() -> None:
    notify, _ = notifier()
    notify.handle(
        ContactOffered(contact_id="c1", agent_id="3", waited_seconds=0.0, offer_deadline=31.0,
                       decided_by="strategy", strategy="longest-idle", ring=0, **COMMON)
    )  # fmt: skip
    notify.handle(ContactQueued(contact_id="c1", reason="agent-not-ready", **COMMON))
    assert notify.ringing == {}


def test_given_a_saved_wrap_up_then_the_customer_queue_and_agent_hear_it() -> None:
    notify, hub = notifier()
    notify.handle(
        ContactWrappedUp(
            contact_id="c1", **{**COMMON, "customer_id": "7"}, agent_id="3", interaction_id=11,
            disposition="resolved", disposition_label="Resolved", resolved=True,
            notes="Refund sent", finished=True,
        )
    )  # fmt: skip
    assert hub.topics() == ["queue:support", "customer:7", "agent:3"]
    update = hub.published[1][1]
    assert isinstance(update, ContactUpdate) and update.event == "contact.wrapped_up"
    assert update.details == {
        "interaction_id": 11, "disposition": "resolved", "disposition_label": "Resolved",
        "resolved": True, "notes": "Refund sent", "finished": True,
    }  # fmt: skip


def test_given_a_ringing_offer_when_its_customer_is_identified_then_the_offer_goes_again() -> None:
    """A caller never seen before rings before its provisional customer exists: once it
    does, the agent gets the offer again, built with the screen-pop of that customer."""
    notify, hub = notifier()
    notify.handle(
        ContactOffered(contact_id="c1", agent_id="3", waited_seconds=0.0, offer_deadline=31.0,
                       decided_by="strategy", strategy="longest-idle", ring=0, **COMMON)
    )  # fmt: skip
    hub.published.clear()
    notify.handle(
        ContactCustomerIdentified(contact_id="c1", customer_id="7", agent_id="3",
                                  state="offered", **COMMON)
    )  # fmt: skip
    assert hub.built == ["agent:3", "agent:3"]
    assert notify.ringing["c1"].customer_id == "7"
    assert notify.ringing["c1"].offer_deadline == 31.0  # the same offer
    assert hub.topics() == ["queue:support", "customer:7"]


def test_given_a_waiting_contact_when_its_customer_is_identified_then_only_a_step() -> None:
    notify, hub = notifier()
    notify.handle(ContactCustomerIdentified(contact_id="c1", customer_id="7", **COMMON))
    assert hub.built == []
    assert hub.topics() == ["queue:support", "customer:7"]
