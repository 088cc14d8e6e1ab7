"""Chat errors, each with a stable id (docs/chat.md); the HTTP edge maps them to JSON,
the visitor's websocket sends them as ``error`` frames."""

from __future__ import annotations

from contact_center.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound


class ChatNotFound(NotFound):
    """No such conversation, or not yours: the same answer, so ids cannot be probed."""

    error_id = "chat-not-found"


class TokenInvalid(AppError):
    error_id = "chat-token-invalid"
    status = 401


class OriginRefused(Forbidden):
    error_id = "origin-refused"


class IdentityRefused(Forbidden):
    error_id = "identity-refused"


class UnknownSite(NotFound):
    error_id = "unknown-site"


class ChatOffline(Conflict):
    error_id = "chat-offline"


class ChatEnded(Conflict):
    error_id = "chat-ended"


class NotConnected(Conflict):
    """The agent cannot write yet (the chat is still offered) or any more."""

    error_id = "chat-not-connected"


class ConversationFull(Conflict):
    error_id = "conversation-full"


class MessageTooLong(InvalidInput):
    error_id = "message-too-long"


class ClientIdReused(Conflict):
    """A client id already used for a different message (text or attachment)."""

    error_id = "client-id-reused"


class AttachmentTooLarge(AppError):
    error_id = "attachment-too-large"
    status = 413


class AttachmentTypeRefused(AppError):
    error_id = "attachment-type-refused"
    status = 415


class AttachmentNotFound(NotFound):
    error_id = "attachment-not-found"


class NotRatable(Conflict):
    error_id = "chat-not-ended"
