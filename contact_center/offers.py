"""Offers: an agent accepts or declines a contact the router offered them.

The same for every channel in the router; the edge differs for voice: a call is
accepted by answering the phone (the telephony adapter reports the answer), so the
console cannot accept it (``answer-on-phone``). It is declined on the phone, by letting
it ring out, or from the console: the telephony adapter hangs up the ringing leg and the
no-answer that follows is the agent's missed offer. An agent who auto-accepts voice has their phone
told to answer by itself (docs/routing.md, "Auto-accept"). A declined or unanswered
offer goes back to its place in the queue and the agent goes NOT_READY("missed-offer").
"""

from __future__ import annotations

from typing import Any

from contact_center.accounts import User
from contact_center.agent_state import RoutingNotRunning, agent_id_of, agent_state
from contact_center.errors import Conflict
from contact_center.services import Services
from cti.errors import IllegalCallState, NoSuchCall
from cti.routing_adapter import call_id_of
from routing.errors import IllegalTransition, NotOfferedToAgent
from routing.model import Channel, ContactState
from routing.service import RoutingService


class OfferGone(Conflict):
    """The contact is not (or no longer) offered to this agent: taken back, answered,
    timed out, offered to someone else, or ended."""

    error_id = "offer-gone"


class AnswerOnPhone(Conflict):
    error_id = "answer-on-phone"


async def accept_offer(services: Services, user: User, contact_id: str) -> dict[str, Any]:
    routing = await _offered_to(services, user, contact_id)
    try:
        await routing.accept(contact_id, agent_id_of(user))
    except (IllegalTransition, NotOfferedToAgent):
        raise _gone(contact_id) from None
    return await _outcome(services, user, routing, contact_id)


async def decline_offer(services: Services, user: User, contact_id: str) -> dict[str, Any]:
    call_id = call_id_of(contact_id)
    if call_id is not None:
        return await _decline_call(services, user, contact_id, call_id)
    routing = await _offered_to(services, user, contact_id)
    try:
        await routing.decline(contact_id, agent_id_of(user))
    except (IllegalTransition, NotOfferedToAgent):
        raise _gone(contact_id) from None
    return await _outcome(services, user, routing, contact_id)


async def _decline_call(
    services: Services, user: User, contact_id: str, call_id: str
) -> dict[str, Any]:
    routing = await _offered_to(services, user, contact_id, voice=True)
    if services.telephony is None:
        raise _gone(contact_id)
    try:
        await services.telephony.decline_offer(call_id, agent_id_of(user))
    except (IllegalCallState, NoSuchCall):
        raise _gone(contact_id) from None
    return await _outcome(services, user, routing, contact_id)


async def _offered_to(
    services: Services, user: User, contact_id: str, *, voice: bool = False
) -> RoutingService:
    """The router, once it says ``contact_id`` rings for ``user`` (no-such-contact if it
    never heard of it)."""
    routing = services.routing
    if routing is None:
        raise RoutingNotRunning("this server runs no router")
    contact = await routing.describe_contact(contact_id)
    if contact["state"] != ContactState.OFFERED or contact["agent_id"] != agent_id_of(user):
        raise _gone(contact_id)
    if contact["channel"] == Channel.VOICE and not voice:
        raise AnswerOnPhone(
            "a call is accepted by answering the phone",
            details={"contact_id": contact_id},
        )
    return routing


def _gone(contact_id: str) -> OfferGone:
    return OfferGone(
        f"contact {contact_id} is not offered to you (any more)", details={"contact_id": contact_id}
    )


async def _outcome(
    services: Services, user: User, routing: RoutingService, contact_id: str
) -> dict[str, Any]:
    contact = await routing.describe_contact(contact_id)
    return {
        "contact": {k: contact[k] for k in ("contact_id", "channel", "queue", "state", "agent_id")},
        "agent": await agent_state(services, user),
    }
