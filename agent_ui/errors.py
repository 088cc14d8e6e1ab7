"""Errors raised at the HTTP edge, each with a stable id clients can branch on."""

from __future__ import annotations

from contact_center.errors import AppError, Forbidden, InvalidInput, NotFound, RateLimited
from contact_center.errors import Unauthenticated as Unauthenticated


class InvalidJson(AppError):
    error_id = "invalid-json"
    status = 400


class BodyTooLarge(AppError):
    error_id = "body-too-large"
    status = 413


class UnsupportedMediaType(AppError):
    error_id = "unsupported-media-type"
    status = 415


class InvalidRequest(InvalidInput):
    """A body or query string that does not match the endpoint's schema."""

    error_id = "invalid-input"


class SessionExpired(Unauthenticated):
    error_id = "session-expired"


class CsrfFailed(Forbidden):
    error_id = "csrf-failed"


class RoleRequired(Forbidden):
    error_id = "forbidden"


class WrongCurrentPassword(Forbidden):
    error_id = "wrong-current-password"


class LoginRateLimited(RateLimited):
    error_id = "login-rate-limited"


class RouteNotFound(NotFound):
    error_id = "route-not-found"


class MethodNotAllowed(AppError):
    error_id = "method-not-allowed"
    status = 405


class InternalError(AppError):
    error_id = "internal-error"
    status = 500
