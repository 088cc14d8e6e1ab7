"""The hub's errors: HTTP refusals before the upgrade, close codes after it, and the
stable ids of topic refusals. Clients branch on ids and codes, never on message text."""

from __future__ import annotations

import enum

from contact_center.errors import AppError


class OriginRefused(AppError):
    """A browser session from a page of another site (cross-site websocket hijacking)."""

    error_id = "origin-refused"
    status = 403


class UpgradeRequired(AppError):
    error_id = "websocket-required"
    status = 426


class CloseCode(enum.IntEnum):
    """Close codes the server uses (1xxx from RFC 6455, 4xxx the hub's own)."""

    GOING_AWAY = 1001  # the server is stopping: reconnect (to another node)
    UNSUPPORTED_DATA = 1003  # a binary frame
    INVALID_PAYLOAD = 1007  # not UTF-8, not JSON, or not a known message
    POLICY_VIOLATION = 1008  # out of order: no hello first, or hello twice
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    RESYNC = 1012  # the server lost track of events: reconnect, a snapshot follows
    TOO_SLOW = 1013  # this tab fell too far behind: reconnect and resume
    UNAUTHENTICATED = 4401  # the session or token ended: log in again
    ROLE_CHANGED = 4403  # the user's role changed: reconnect to be authorised again


class TopicRefused(Exception):
    """A subscription this user may not have; becomes a ``refused`` message."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


class ProtocolViolation(Exception):
    """A message the hub cannot accept: answered with ``error`` and a close."""

    def __init__(self, code: CloseCode, error: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error = error
        self.message = message
