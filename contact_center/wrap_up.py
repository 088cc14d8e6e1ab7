"""Wrap-up: the agent records the outcome of a contact (disposition and notes) and ends
wrap-up.

Dispositions are configured per queue (``[routing.queues.<name>] dispositions``, some
marking the issue resolved), required where ``disposition_required`` is set. Saving
writes the disposition and notes onto the customer's interaction at once, then
publishes ``contact.wrapped_up`` so every console showing that customer (and the
queue's supervisors) has it without asking; finishing ends wrap-up in the router, which
makes the agent available again. A wrap-up the queue's timer ends keeps whatever was
saved before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from contact_center.accounts import User
from contact_center.agent_state import RoutingNotRunning, agent_id_of
from contact_center.errors import Conflict, InvalidInput
from contact_center.services import Actor, Services
from routing.errors import IllegalTransition, NotOfferedToAgent
from routing.events import ContactEvent
from routing.model import ContactState
from routing.settings import DispositionSettings, RoutingSettings, parse_routing_settings

# How long a save waits for the history recorder to write the contact's interaction
# (it is written from the router's events, a few milliseconds behind them).
RECORDER_WAIT_SECONDS = 5.0


class ContactWrappedUp(ContactEvent, frozen=True, kw_only=True):
    """The agent saved the wrap-up of a contact (published by the wrap-up use case, not
    by the router): what every console showing the customer puts on the timeline."""

    name: ClassVar[str] = "contact.wrapped_up"
    agent_id: str
    interaction_id: int | None
    disposition: str | None
    disposition_label: str | None
    resolved: bool
    notes: str | None
    # Whether this save also ended wrap-up.
    finished: bool


class NotYourContact(Conflict):
    error_id = "not-your-contact"


class NotInWrapUp(Conflict):
    error_id = "not-in-wrap-up"


class WrapUpOver(Conflict):
    error_id = "wrap-up-over"


class UnknownDisposition(InvalidInput):
    error_id = "unknown-disposition"


class DispositionRequired(InvalidInput):
    error_id = "disposition-required"


@dataclasses.dataclass(frozen=True, slots=True)
class QueueWrapUp:
    dispositions: tuple[DispositionSettings, ...]
    required: bool

    def find(self, disposition: str) -> DispositionSettings | None:
        return next((d for d in self.dispositions if d.id == disposition), None)


def routing_settings(services: Services) -> RoutingSettings:
    """The validated ``[routing]`` section (the router validated it at start-up; a
    wrap-up is rare enough to validate it again rather than keep a copy)."""
    return parse_routing_settings(services.settings.routing)


def queue_views(services: Services) -> list[dict[str, Any]]:
    """Every configured queue with what the console's wrap-up form needs."""
    views = []
    for name, queue in routing_settings(services).queues.items():
        wrap_up = queue.wrap_up_seconds
        views.append(
            {
                "name": name,
                "channels": [str(c) for c in queue.channels],
                "dispositions": [
                    {"id": d.id, "label": d.label or d.id, "resolved": d.resolved}
                    for d in queue.dispositions
                ],
                "disposition_required": queue.disposition_required,
                # Seconds, or "manual" (until the agent ends it).
                "wrap_up_seconds": wrap_up,
                "wrap_up_max_seconds": queue.wrap_up_max_seconds,
            }
        )
    return views


def queue_wrap_up(services: Services, queue: str) -> QueueWrapUp:
    found = routing_settings(services).queues.get(queue)
    if found is None:
        return QueueWrapUp((), False)
    return QueueWrapUp(found.dispositions, found.disposition_required)


async def save_wrap_up(
    services: Services,
    user: User,
    contact_id: str,
    *,
    disposition: str | None,
    notes: str | None,
    finish: bool,
) -> dict[str, Any]:
    routing = services.routing
    if routing is None:
        raise RoutingNotRunning("this server runs no router")
    agent_id = agent_id_of(user)
    contact = await routing.describe_contact(contact_id)
    if contact["agent_id"] != agent_id:
        raise NotYourContact(
            f"contact {contact_id} is not yours", details={"contact_id": contact_id}
        )
    state = contact["state"]
    if state in (ContactState.CLOSED, ContactState.ABANDONED):
        raise WrapUpOver(
            f"contact {contact_id} has ended: its wrap-up is over",
            details={"contact_id": contact_id, "state": str(state)},
        )
    if state not in (ContactState.CONNECTED, ContactState.WRAP_UP):
        raise NotInWrapUp(
            f"contact {contact_id} is {state}, not connected or in wrap-up",
            details={"contact_id": contact_id, "state": str(state)},
        )
    if finish and state != ContactState.WRAP_UP:
        raise NotInWrapUp(
            f"contact {contact_id} is still connected: save with finish=false, or end it first",
            details={"contact_id": contact_id, "state": str(state)},
        )
    rules = queue_wrap_up(services, contact["queue"])
    chosen = None
    if disposition is not None:
        chosen = rules.find(disposition)
        if chosen is None:
            raise UnknownDisposition(
                f"{disposition!r} is not a disposition of queue {contact['queue']!r}",
                details={"disposition": disposition, "known": [d.id for d in rules.dispositions]},
            )

    interaction = await _interaction(services, contact_id)
    saved_disposition = interaction["disposition"] if interaction is not None else None
    if finish and rules.required and chosen is None and not saved_disposition:
        raise DispositionRequired(
            f"queue {contact['queue']!r} needs a disposition to end wrap-up",
            details={"known": [d.id for d in rules.dispositions]},
        )
    interaction_id: int | None = None
    if interaction is not None:
        interaction_id = int(interaction["id"])
        changes: dict[str, Any] = {}
        if chosen is not None:
            changes["disposition"] = chosen.id
            changes["resolved"] = chosen.resolved
        if notes is not None:
            changes["notes"] = notes
        if changes:
            actor = Actor(user.id, user.username, str(user.role))
            await services.profiles.update_interaction(interaction_id, changes, actor=actor)
            interaction = {**interaction, **changes}
    finished = False
    if finish:
        try:
            await routing.end_wrap_up(contact_id, agent_id)
            finished = True
        except (IllegalTransition, NotOfferedToAgent):
            # The queue's timer ended it meanwhile: what was saved stays saved.
            finished = False
    final_disposition = interaction["disposition"] if interaction is not None else None
    final = rules.find(final_disposition) if final_disposition else None
    event = ContactWrappedUp(
        at=services.clock(),
        contact_id=contact_id,
        channel=contact["channel"],
        queue=contact["queue"],
        # The interaction's customer: the caller may have been linked to an existing
        # customer since the router took the contact (the merge moved the interaction).
        customer_id=str(interaction["customer_id"])
        if interaction is not None and interaction.get("customer_id") is not None
        else contact["customer_id"],
        agent_id=agent_id,
        interaction_id=interaction_id,
        disposition=final_disposition,
        disposition_label=(final.label or final.id) if final is not None else None,
        resolved=bool(interaction["resolved"]) if interaction is not None else False,
        notes=interaction["notes"] if interaction is not None else None,
        finished=finished,
    )
    if services.bus is not None:
        await services.bus.publish([event])
    after = await routing.describe_contact(contact_id)
    return {
        "contact_id": contact_id,
        "state": str(after["state"]),
        "interaction_id": interaction_id,
        "disposition": event.disposition,
        "disposition_label": event.disposition_label,
        "resolved": event.resolved,
        "notes": event.notes,
        "finished": finished,
    }


async def _interaction(services: Services, contact_id: str) -> dict[str, Any] | None:
    """The contact's interaction once the history recorder has written what it has."""
    if services.recorder is not None:
        await services.recorder.wait_idle(timeout=RECORDER_WAIT_SECONDS)
    return await services.profiles.interaction_for_contact(contact_id)
