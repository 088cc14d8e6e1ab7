"""Linking a caller nobody knew to an existing customer, by the agent who holds the contact.

An unknown caller gets a provisional profile. Merging customers is a supervisor's
right (``POST /api/v1/merges``), but the agent talking to the caller is the one who
learns who they are, so an agent has one narrow right: merge the provisional profile
*of a contact they hold* (offered to them, connected, or in wrap-up) into an existing
customer, and undo that merge while they still hold the contact. Any other profile is
refused. The merge is the profile store's (every row moves, undoable, audit-logged as
``customer.merged``); the link itself is audit-logged too (``contact.customer_linked``
and ``contact.customer_unlinked``, with the contact).
"""

from __future__ import annotations

from typing import Any

from contact_center.accounts import User
from contact_center.agent_state import RoutingNotRunning, agent_id_of
from contact_center.errors import Conflict
from contact_center.services import Services
from contact_center.wrap_up import NotYourContact
from routing.model import ContactState

# The contact states in which an agent holds a contact.
HELD_STATES = (ContactState.OFFERED, ContactState.CONNECTED, ContactState.WRAP_UP)


class NotProvisional(Conflict):
    """The contact's customer is a confirmed customer (or none): nothing to link."""

    error_id = "not-provisional"


class NoLink(Conflict):
    """There is no link of this contact's caller to undo."""

    error_id = "no-link"


async def _held_contact(services: Services, user: User, contact_id: str) -> dict[str, Any]:
    routing = services.routing
    if routing is None:
        raise RoutingNotRunning("this server runs no router")
    contact = await routing.describe_contact(contact_id)
    if contact["agent_id"] != agent_id_of(user) or contact["state"] not in HELD_STATES:
        raise NotYourContact(
            f"contact {contact_id} is not yours", details={"contact_id": contact_id}
        )
    return contact


def _contact_customer(contact: dict[str, Any]) -> int | None:
    customer = contact.get("customer_id")
    return int(customer) if isinstance(customer, str) and customer.isdigit() else None


async def link_caller(
    services: Services, user: User, contact_id: str, customer_id: int
) -> dict[str, Any]:
    """Merge the provisional profile of ``contact_id`` (held by ``user``) into
    ``customer_id``; answers the merge record."""
    contact = await _held_contact(services, user, contact_id)
    provisional_id = _contact_customer(contact)
    if provisional_id is None:
        raise NotProvisional(
            f"contact {contact_id} has no customer profile to link",
            details={"contact_id": contact_id},
        )
    profiles = services.profiles
    provisional = await profiles.get_profile(
        provisional_id, viewer=user.actor, contact_id=contact_id
    )
    if not provisional["provisional"] or provisional.get("merged_into_id") is not None:
        # Only the caller's own unconfirmed profile: an agent never merges customers.
        raise NotProvisional(
            f"customer {provisional_id} of contact {contact_id} is not a provisional profile",
            details={"contact_id": contact_id, "customer_id": provisional_id},
        )
    merge = await profiles.merge(
        customer_id,
        provisional_id,
        actor=user.actor,
        reason=f"caller of contact {contact_id} linked by agent {user.username}",
    )
    await profiles.record_audit(
        user.actor,
        "contact.customer_linked",
        customer_id=customer_id,
        contact_id=contact_id,
        details={"merge_id": merge["id"], "provisional_id": provisional_id},
    )
    return {**merge, "contact_id": contact_id, "customer_id": customer_id}


async def unlink_caller(services: Services, user: User, contact_id: str) -> dict[str, Any]:
    """Undo the link of ``contact_id``'s caller (the merge of its provisional profile),
    while ``user`` still holds the contact."""
    contact = await _held_contact(services, user, contact_id)
    provisional_id = _contact_customer(contact)
    profiles = services.profiles
    live = []
    if provisional_id is not None:
        live = [
            m
            for m in await profiles.list_merges(provisional_id)
            if m["merged_id"] == provisional_id and m["undone_at"] is None
        ]
    if not live:
        raise NoLink(
            f"the caller of contact {contact_id} is not linked to a customer",
            details={"contact_id": contact_id},
        )
    merge = live[0]
    undone = await profiles.unmerge(int(merge["id"]), actor=user.actor)
    await profiles.record_audit(
        user.actor,
        "contact.customer_unlinked",
        customer_id=provisional_id,
        contact_id=contact_id,
        details={"merge_id": merge["id"], "survivor_id": merge["survivor_id"]},
    )
    return {**undone, "contact_id": contact_id, "customer_id": provisional_id}
