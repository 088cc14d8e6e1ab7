"""Errors with a stable machine id.

Clients branch on ``error_id`` (``customer-not-found``), never on the message text.
One middleware in the HTTP edge maps :class:`AppError` to a JSON response with
``status``; the CLI prints ``error_id: message``.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every expected, user-facing error."""

    error_id: str = "error"
    status: int = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, "details": self.details}


class InvalidInput(AppError):
    error_id = "invalid-input"
    status = 422


class NotFound(AppError):
    error_id = "not-found"
    status = 404


class Conflict(AppError):
    error_id = "conflict"
    status = 409


class Unauthenticated(AppError):
    error_id = "unauthenticated"
    status = 401


class Forbidden(AppError):
    error_id = "forbidden"
    status = 403


class RateLimited(AppError):
    error_id = "rate-limited"
    status = 429


class ServiceUnavailable(AppError):
    error_id = "service-unavailable"
    status = 503
