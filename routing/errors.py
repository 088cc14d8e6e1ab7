"""Routing errors, each with a stable machine id clients can branch on."""

from __future__ import annotations

from contact_center.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable


class IllegalTransition(Conflict):
    """A contact or agent was asked to move to a state its state machine forbids."""

    error_id = "illegal-transition"


class NoSuchContact(NotFound):
    error_id = "no-such-contact"


class NoSuchAgent(NotFound):
    error_id = "no-such-agent"


class NoSuchQueue(NotFound):
    error_id = "no-such-queue"


class NoSuchProfile(NotFound):
    error_id = "no-such-routing-profile"


class DuplicateContact(Conflict):
    error_id = "duplicate-contact"


class UnknownNotReadyReason(InvalidInput):
    error_id = "unknown-not-ready-reason"


class ChannelNotServed(InvalidInput):
    error_id = "channel-not-served"


class AgentUnavailable(Conflict):
    """A contact was sent straight to an agent who cannot take it now."""

    error_id = "agent-unavailable"


class NotOfferedToAgent(Conflict):
    """An agent tried to accept, decline or wrap up a contact that is not theirs."""

    error_id = "not-offered-to-agent"


class AgentHasContacts(Conflict):
    error_id = "agent-has-contacts"


class InvalidRoutingConfig(InvalidInput):
    error_id = "invalid-routing-config"


class InvalidCommand(InvalidInput):
    error_id = "invalid-routing-command"


class RouterUnavailable(ServiceUnavailable):
    """No router node answered in time (Redis down, or no node holds the lease)."""

    error_id = "router-unavailable"


ERROR_TYPES: dict[str, type[AppError]] = {
    cls.error_id: cls
    for cls in (
        IllegalTransition,
        NoSuchContact,
        NoSuchAgent,
        NoSuchQueue,
        NoSuchProfile,
        DuplicateContact,
        UnknownNotReadyReason,
        ChannelNotServed,
        AgentUnavailable,
        NotOfferedToAgent,
        AgentHasContacts,
        InvalidRoutingConfig,
        InvalidCommand,
        RouterUnavailable,
    )
}


def rebuild_error(error_id: str, message: str, details: dict[str, object]) -> AppError:
    """Turn an error sent by another node back into its class (unknown ids stay generic)."""
    cls = ERROR_TYPES.get(error_id, AppError)
    error = cls(message, details=dict(details))
    if cls is AppError:
        error.error_id = error_id
    return error
