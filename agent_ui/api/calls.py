"""Call control from the consoles: view a call, hold, resume, hang up, record, transfer
(blind or attended), click-to-dial, and supervisors' listen / whisper / barge.

Calls are addressed by the voice contact id of the offers (``call-<server>:<linkedid>``).
An agent acts only on their own calls (the call is with their phone); supervisors and
admins on any call (supervisors have no queue list yet). Every action, done, refused or
failed, is written to the audit log (``call.<action>``, with the outcome). Answers are
the call as Asterisk shows it after the action: 200 when Asterisk's events already show
the result, 202 when Asterisk accepted the action and the hub's ``call`` message will
tell the rest. A refused action changes nothing and answers with Asterisk's reason
(``asterisk-rejected`` 502, ``illegal-call-state`` 409, ``asterisk-unavailable`` 503...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, principal_of, services_of
from agent_ui.schemas import CallDial, CallMonitor, CallTransfer, ToAgent, ToQueue
from contact_center.accounts import Role, User
from contact_center.errors import AppError, Forbidden, InvalidInput
from contact_center.outside_text import one_line
from contact_center.services import Services
from cti.console_calls import ActionOutcome, CallView, ConsoleCalls, NoTelephony
from cti.errors import NoSuchCall, UnknownExtension
from cti.events import MonitorMode
from cti.routing_adapter import call_id_of, contact_id

log = logging.getLogger(__name__)

_SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})


class NotYourCall(Forbidden):
    """An agent asked about or acted on a call that is not with their phone."""

    error_id = "not-your-call"


class UnknownQueue(InvalidInput):
    error_id = "unknown-queue"


Action = Callable[[ConsoleCalls, str], Awaitable[ActionOutcome]]


def _calls(services: Services) -> ConsoleCalls:
    if services.calls is None:
        raise NoTelephony("this server runs no telephony")
    return services.calls


def _call_id(request: web.Request) -> str:
    # The route's pattern only matches "call-...".
    found = call_id_of(request.match_info["contact_id"])
    assert found is not None
    return found


def _authorise(user: User, view: CallView) -> None:
    if user.role in _SUPERVISING:
        return
    if view.agent_id is not None and view.agent_id == str(user.id):
        return
    raise NotYourCall("this call is not with your phone", details={"contact_id": view.contact_id})


async def _customer_of(services: Services, contact: str) -> int | None:
    """The customer of the voice contact, if the router knows one (for the audit row)."""
    if services.routing is None:
        return None
    with contextlib.suppress(AppError):
        found = await services.routing.describe_contact(contact)
        customer = found.get("customer_id")
        if isinstance(customer, str) and customer.isdigit():
            return int(customer)
    return None


async def _audit(
    services: Services,
    user: User,
    action: str,
    call_id: str,
    *,
    outcome: str,
    details: dict[str, Any],
    error: AppError | None = None,
    customer_id: int | None = None,
) -> None:
    # No call id: a click-to-dial Asterisk refused before any call existed.
    contact = contact_id(call_id)[:64] if call_id else None
    row: dict[str, Any] = {"call_id": call_id or None, "outcome": outcome, **details}
    if error is not None:
        row["error"] = error.error_id
        row["message"] = one_line(error.message)
    if customer_id is None and contact is not None:
        customer_id = await _customer_of(services, contact)
    await services.profiles.record_audit(
        user.actor, action, customer_id=customer_id, contact_id=contact, details=row
    )
    log.info(
        "call action %s on %s by user %s: %s%s",
        action,
        call_id,
        user.id,
        outcome,
        f" ({error.error_id})" if error is not None else "",
    )


def _ended(view: CallView) -> CallView:
    return dataclasses.replace(
        view, state="ended", held=False, recording=False, transfer=None, monitors=()
    )


async def _act(
    request: web.Request,
    action: str,
    run: Action,
    details: dict[str, Any] | None = None,
) -> web.StreamResponse:
    """Look the call up, check it is the caller's, carry the action out, audit it."""
    services = services_of(request)
    user = principal_of(request).user
    call_id = _call_id(request)
    audit = dict(details or {})
    try:
        calls = _calls(services)
        before = calls.require(call_id)
        _authorise(user, before)
        outcome = await run(calls, call_id)
    except AppError as exc:
        refused = isinstance(exc, Forbidden | NoSuchCall)
        await _audit(
            services,
            user,
            action,
            call_id,
            outcome="refused" if refused else "failed",
            details=audit,
            error=exc,
        )
        raise
    if outcome.file:
        audit["file"] = outcome.file
    await _audit(
        services,
        user,
        action,
        call_id,
        outcome="done" if outcome.confirmed else "accepted",
        details=audit,
    )
    view = outcome.view if outcome.view is not None else _ended(before)
    return json_response(view.to_dict(), status=200 if outcome.confirmed else 202)


# -- handlers ---------------------------------------------------------------------------


async def get_call(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    view = _calls(services).require(_call_id(request))
    _authorise(principal_of(request).user, view)
    return json_response(view.to_dict())


async def hold(request: web.Request) -> web.StreamResponse:
    return await _act(request, "call.hold", lambda calls, cid: calls.hold(cid))


async def resume(request: web.Request) -> web.StreamResponse:
    return await _act(request, "call.resume", lambda calls, cid: calls.resume(cid))


async def hangup(request: web.Request) -> web.StreamResponse:
    return await _act(request, "call.hangup", lambda calls, cid: calls.hangup(cid))


async def start_recording(request: web.Request) -> web.StreamResponse:
    return await _act(
        request, "call.recording_start", lambda calls, cid: calls.start_recording(cid)
    )


async def stop_recording(request: web.Request) -> web.StreamResponse:
    return await _act(request, "call.recording_stop", lambda calls, cid: calls.stop_recording(cid))


async def transfer(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, CallTransfer)
    target = body.to.model_dump()
    if isinstance(body.to, ToQueue):
        queues = services.settings.routing.get("queues", {})
        if body.to.queue not in queues:
            raise UnknownQueue(
                f"there is no queue {body.to.queue!r}", details={"queues": sorted(queues)}
            )
    details: dict[str, Any] = {"mode": body.mode, "to": target}
    if isinstance(body.to, ToAgent):
        details["to_agent_id"] = body.to.agent_id
    return await _act(
        request,
        "call.transfer",
        lambda calls, cid: calls.transfer(cid, body.mode, target),
        details,
    )


async def complete_transfer(request: web.Request) -> web.StreamResponse:
    return await _act(
        request, "call.transfer_complete", lambda calls, cid: calls.complete_transfer(cid)
    )


async def cancel_transfer(request: web.Request) -> web.StreamResponse:
    return await _act(
        request, "call.transfer_cancel", lambda calls, cid: calls.cancel_transfer(cid)
    )


async def monitor(request: web.Request) -> web.StreamResponse:
    body = body_of(request, CallMonitor)
    user = principal_of(request).user
    extension = _own_extension(user)
    mode = MonitorMode(body.mode)
    return await _act(
        request,
        "call.monitor",
        lambda calls, cid: calls.monitor(cid, str(user.id), extension, mode),
        {"mode": body.mode, "extension": extension},
    )


async def stop_monitor(request: web.Request) -> web.StreamResponse:
    user = principal_of(request).user
    extension = _own_extension(user)
    return await _act(
        request,
        "call.monitor_stop",
        lambda calls, cid: calls.stop_monitor(cid, str(user.id), extension),
        {"extension": extension},
    )


def _own_extension(user: User) -> str:
    if not user.extension:
        raise UnknownExtension(
            "your account has no phone extension (users update --extension)",
            details={"user_id": user.id},
        )
    return user.extension


async def dial(request: web.Request) -> web.StreamResponse:
    """Click-to-dial: ring the agent's own phone, then the number."""
    services = services_of(request)
    body = body_of(request, CallDial)
    user = principal_of(request).user
    agent_id = str(user.id)
    details: dict[str, Any] = {"number": body.number}
    try:
        calls = _calls(services)
        outcome = await calls.click_to_dial(agent_id, body.number)
    except AppError as exc:
        await _audit(
            services,
            user,
            "call.dial",
            str(exc.details.get("call_id", "")),
            outcome="failed",
            details=details,
            error=exc,
            customer_id=body.customer_id,
        )
        raise
    view = outcome.view
    if view is None:
        # Asterisk took the Originate; its first event has not come yet.
        server, _, _ = outcome.call_id.rpartition(":")
        view = CallView(
            contact_id=contact_id(outcome.call_id),
            call_id=outcome.call_id,
            server=server,
            state="ringing",
            direction="outbound",
            caller_number=body.number,
            queue="",
            agent_id=agent_id,
            extension=user.extension or "",
            held=False,
            recording=False,
            recording_file="",
            transfer=None,
            monitors=(),
        )
    await _audit(
        services,
        user,
        "call.dial",
        view.call_id,
        outcome="done" if outcome.confirmed else "accepted",
        details=details,
        customer_id=body.customer_id,
    )
    return json_response(view.to_dict(), status=202 if view.state == "ringing" else 201)
