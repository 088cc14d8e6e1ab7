"""Errors of the email channel, each with a stable id (mapped to HTTP in one place)."""

from __future__ import annotations

from contact_center.errors import Conflict, Forbidden, NotFound, ServiceUnavailable


class EmailNotRunning(ServiceUnavailable):
    error_id = "email-not-running"


class NoSuchThread(NotFound):
    error_id = "no-such-thread"


class NoSuchAttachment(NotFound):
    error_id = "no-such-attachment"


class NoSuchQuarantined(NotFound):
    error_id = "no-such-quarantined-message"


class NotYourThread(Forbidden):
    error_id = "not-your-thread"


class NotHoldingThread(Conflict):
    """Replying or setting pending needs the thread's contact connected to the caller."""

    error_id = "not-holding-thread"


class NothingToReplyTo(Conflict):
    error_id = "nothing-to-reply-to"
