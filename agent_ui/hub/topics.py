"""Topics of the live hub and who may watch each one.

========================  =============================================  ==================
topic                     carries                                        who
========================  =============================================  ==================
``agent:<user id>``       that agent's offers (with the screen-pop), the  the agent alone
                          steps of their contacts, their state           (always watched)
``agents``                every agent's state changes                    supervisors, admins
``queue:<name>``          every step of the queue's contacts             supervisors, admins
``customer:<id>``         every step of that customer's contacts         supervisors, admins;
                                                                         an agent holding one
                                                                         of their contacts
``wallboard``             the live wallboard (``board`` messages)        supervisors, admins
========================  =============================================  ==================

An agent's own topic carries screen-pops, each audited as viewed by that agent, so
nobody else may watch it; supervisors follow agents through ``agents``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection

from agent_ui.hub.errors import TopicRefused
from contact_center.accounts import Role, User

AGENTS = "agents"
WALLBOARD = "wallboard"
_TOPIC = re.compile(r"^(agent|queue|customer):([A-Za-z0-9_.:@+-]{1,80})$")
_SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})


def agent_topic(agent_id: str | int) -> str:
    return f"agent:{agent_id}"


def queue_topic(queue: str) -> str:
    return f"queue:{queue}"


def customer_topic(customer_id: str | int) -> str:
    return f"customer:{customer_id}"


def personal_topics(user: User) -> frozenset[str]:
    """Topics a user always watches: an agent's own."""
    return frozenset({agent_topic(user.id)}) if user.role is Role.AGENT else frozenset()


def is_supervising(user: User) -> bool:
    return user.role in _SUPERVISING


async def authorise(
    user: User,
    topic: str,
    *,
    queues: Collection[str],
    holds_customer: Callable[[User, str], Awaitable[bool]],
) -> None:
    """Return if ``user`` may watch ``topic``, else raise :class:`TopicRefused`.

    ``queues``: the configured queues; ``holds_customer(user, customer_id)``: whether
    the agent holds a contact (offered, connected, wrap-up) of that customer now.
    """
    if topic == AGENTS:
        if not is_supervising(user):
            raise TopicRefused("topic-forbidden", "only supervisors may watch every agent's state")
        return
    if topic == WALLBOARD:
        if not is_supervising(user):
            raise TopicRefused("topic-forbidden", "only supervisors may watch the wallboard")
        return
    found = _TOPIC.match(topic)
    if found is None:
        raise TopicRefused(
            "invalid-topic",
            "topics are agents, wallboard, agent:<user id>, queue:<name> or customer:<id>",
        )
    kind, key = found.groups()
    if kind == "agent":
        if user.role is Role.AGENT and key == str(user.id):
            return
        raise TopicRefused("topic-forbidden", "an agent's topic is theirs alone")
    if kind == "queue":
        if not is_supervising(user):
            raise TopicRefused("topic-forbidden", "only supervisors may watch a queue")
        if key not in queues:
            raise TopicRefused("unknown-topic", f"there is no queue {key!r}")
        return
    # customer
    if is_supervising(user):
        return
    if user.role is Role.AGENT and await holds_customer(user, key):
        return
    raise TopicRefused(
        "topic-forbidden", "an agent may watch only the customers of their own contacts"
    )
