"""Errors of the CTI adapter, each with a stable id the HTTP edge maps to a status."""

from __future__ import annotations

from contact_center.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable


class InvalidActionHeader(InvalidInput):
    """A value that would break AMI framing (CR/LF) or is not a valid header name."""

    error_id = "invalid-ami-header"


class NoSuchCall(NotFound):
    error_id = "no-such-call"


class NoSuchServer(NotFound):
    error_id = "no-such-asterisk-server"


class UnknownExtension(NotFound):
    """The agent has no phone extension configured."""

    error_id = "no-extension"


class IllegalCallState(Conflict):
    """The call is not in a state that allows the action (hold a queued call...)."""

    error_id = "illegal-call-state"


class AsteriskUnavailable(ServiceUnavailable):
    """No logged-in AMI link to the server right now."""

    error_id = "asterisk-unavailable"


class AsteriskRejected(AppError):
    """Asterisk answered ``Response: Error``; the message is Asterisk's own."""

    error_id = "asterisk-rejected"
    status = 502


class AsteriskTimeout(AppError):
    error_id = "asterisk-timeout"
    status = 504


class LoginFailed(AppError):
    """Asterisk refused the credentials (wrong user or secret, or not permitted)."""

    error_id = "ami-login-failed"
    status = 502


class CallNotRoutable(AppError):
    """The router cannot take a caller where the dialplan put it (no such queue, a queue
    without voice): nobody would ever be offered the call."""

    error_id = "call-not-routable"
    status = 409
