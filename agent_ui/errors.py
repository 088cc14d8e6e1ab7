"""Errors raised at the HTTP edge, each with a stable id clients can branch on."""

from __future__ import annotations

from contact_center.errors import (
    AppError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
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


class SearchRateLimited(RateLimited):
    error_id = "search-rate-limited"


class RouteNotFound(NotFound):
    error_id = "route-not-found"


class MethodNotAllowed(AppError):
    error_id = "method-not-allowed"
    status = 405


class InternalError(AppError):
    error_id = "internal-error"
    status = 500


class BadRequest(AppError):
    """A request the HTTP parser could not read (malformed request line or headers)."""

    error_id = "bad-request"
    status = 400


class UriTooLong(AppError):
    error_id = "uri-too-long"
    status = 414


class HeadersTooLarge(AppError):
    error_id = "headers-too-large"
    status = 431


class ServerBusy(ServiceUnavailable):
    """Every connection of a pool (Redis, database) stayed busy for the whole wait."""

    error_id = "server-busy"


class RedisUnavailable(ServiceUnavailable):
    error_id = "redis-unavailable"
