"""Customer endpoints: search, profile, screen-pop, changes, identities, history, notes,
merges, order import and privacy requests, over the profile store.

Every call passes the authenticated user as the store's ``actor``/``viewer``, so the
audit log records who read or changed what (and in which contact, when given).
Searches are rate-limited per user (``security.search_max_per_window``): a name
prefix search walks the customer base page by page, so an unlimited one lets any
agent copy every name, phone and email in seconds.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.app_keys import SEARCH_THROTTLE
from agent_ui.errors import SearchRateLimited
from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, principal_of, query_of, services_of
from agent_ui.schemas import (
    CustomerCreate,
    CustomerSearchQuery,
    CustomerUpdate,
    HistoryQuery,
    IdentityIn,
    IdentityRemoveQuery,
    MergeRequest,
    NoteCreate,
    OrderImport,
    ProfileQuery,
    ScreenPopQuery,
)
from contact_center.errors import AppError
from contact_center.settings import SecuritySettings


async def search_customers(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    profiles = services.profiles
    principal = principal_of(request)
    security = services.settings.security
    throttle = request.app[SEARCH_THROTTLE]
    window = float(security.search_window_seconds)
    now = services.clock()
    searches_key = f"search:{principal.user.id}"
    results_key = f"search-results:{principal.user.id}"
    # Counted before the search runs, atomically, so parallel requests cannot slip past:
    # the search itself, and its first result (an empty search costs one too).
    searches = await throttle.acquire(
        searches_key, limit=security.search_max_per_window, window=window, now=now
    )
    if not searches.allowed:
        raise _search_limited(security, "searches", searches.retry_after)
    results = await throttle.acquire(
        results_key, limit=security.search_max_results_per_window, window=window, now=now
    )
    if not results.allowed:
        # Refused searches do not count: only the results allowance blocks this one.
        await throttle.forgive(searches_key, searches.ticket)
        raise _search_limited(security, "results", results.retry_after)
    query = query_of(request, CustomerSearchQuery)
    page = await profiles.search(
        text=query.q,
        name=query.name,
        phone=query.phone,
        email=query.email,
        number=query.number,
        limit=query.limit,
        cursor=query.cursor,
    )
    # The profiles shown beyond the first, paid for above: a page of 100 uses up as
    # much of the allowance as 100 searches showing one each.
    await throttle.charge(results_key, len(page["items"]) - 1, window=window, now=now)
    # Every search is audited, empty ones too (probing whether a phone number is a
    # customer discloses something): which keys were searched and which customers were
    # shown, never the search text itself, which is a name, a number or an address.
    criteria = sorted(
        k for k in ("q", "name", "phone", "email", "number") if getattr(query, k) is not None
    )
    await profiles.record_audit(
        principal.actor,
        "customers.searched",
        details={
            "criteria": criteria,
            "customer_ids": [c["id"] for c in page["items"]],
            "next_page": query.cursor is not None,
        },
    )
    return json_response(page)


def _search_limited(security: SecuritySettings, scope: str, retry_after: float) -> AppError:
    limit = (
        security.search_max_per_window
        if scope == "searches"
        else security.search_max_results_per_window
    )
    return SearchRateLimited(
        f"more than {limit} customer {scope} in {security.search_window_seconds} s; "
        "try again later",
        details={
            "retry_after": round(retry_after, 1),
            "scope": scope,
            "limit": limit,
            "window_seconds": security.search_window_seconds,
        },
    )


async def create_customer(request: web.Request) -> web.StreamResponse:
    profiles = services_of(request).profiles
    body = body_of(request, CustomerCreate)
    # Parse every identity before writing anything: one bad phone number refuses all.
    identities = [profiles.identity(i.kind, i.value) for i in body.identities]
    fields = body.model_dump(exclude_unset=True, exclude={"identities"})
    profile = await profiles.create_customer(fields, identities, actor=principal_of(request).actor)
    return json_response(profile, status=201)


async def get_customer(request: web.Request) -> web.StreamResponse:
    query = query_of(request, ProfileQuery)
    profile = await services_of(request).profiles.get_profile(
        path_id(request, "customer_id"),
        viewer=principal_of(request).actor,
        contact_id=query.contact_id,
    )
    return json_response(profile)


async def update_customer(request: web.Request) -> web.StreamResponse:
    body = body_of(request, CustomerUpdate)
    profile = await services_of(request).profiles.update_customer(
        path_id(request, "customer_id"),
        body.model_dump(exclude_unset=True),
        actor=principal_of(request).actor,
    )
    return json_response(profile)


async def add_identity(request: web.Request) -> web.StreamResponse:
    profiles = services_of(request).profiles
    body = body_of(request, IdentityIn)
    identity = profiles.identity(body.kind, body.value)
    customer_id = path_id(request, "customer_id")
    await profiles.add_identity(customer_id, identity, actor=principal_of(request).actor)
    return json_response(
        {"customer_id": customer_id, "kind": identity.kind.value, "value": identity.value},
        status=201,
    )


async def remove_identity(request: web.Request) -> web.StreamResponse:
    profiles = services_of(request).profiles
    query = query_of(request, IdentityRemoveQuery)
    identity = profiles.identity(query.kind, query.value)
    await profiles.remove_identity(
        path_id(request, "customer_id"), identity, actor=principal_of(request).actor
    )
    return web.Response(status=204)


async def screen_pop(request: web.Request) -> web.StreamResponse:
    profiles = services_of(request).profiles
    query = query_of(request, ScreenPopQuery)
    identity = profiles.identity(query.kind, query.value)
    result = await profiles.screen_pop(
        identity,
        viewer=principal_of(request).actor,
        contact_id=query.contact_id,
        limit=query.limit,
    )
    return json_response(result)


async def customer_history(request: web.Request) -> web.StreamResponse:
    query = query_of(request, HistoryQuery)
    page = await services_of(request).profiles.history(
        path_id(request, "customer_id"),
        viewer=principal_of(request).actor,
        cursor=query.cursor,
        limit=query.limit,
        channel=query.channel,
    )
    return json_response(page)


async def add_note(request: web.Request) -> web.StreamResponse:
    body = body_of(request, NoteCreate)
    note = await services_of(request).profiles.add_note(
        path_id(request, "customer_id"),
        body.body,
        actor=principal_of(request).actor,
        interaction_id=body.interaction_id,
    )
    return json_response(note, status=201)


async def list_merges(request: web.Request) -> web.StreamResponse:
    found = await services_of(request).profiles.list_merges(path_id(request, "customer_id"))
    return json_response({"items": found})


async def merge_customers(request: web.Request) -> web.StreamResponse:
    body = body_of(request, MergeRequest)
    record = await services_of(request).profiles.merge(
        body.survivor_id, body.merged_id, actor=principal_of(request).actor, reason=body.reason
    )
    return json_response(record, status=201)


async def unmerge_customers(request: web.Request) -> web.StreamResponse:
    record = await services_of(request).profiles.unmerge(
        path_id(request, "merge_id"), actor=principal_of(request).actor
    )
    return json_response(record)


async def import_orders(request: web.Request) -> web.StreamResponse:
    body = body_of(request, OrderImport)
    rows = [row.model_dump(exclude_none=True) for row in body.orders]
    summary = await services_of(request).profiles.import_orders(
        rows, actor=principal_of(request).actor
    )
    return json_response(summary)


async def export_customer(request: web.Request) -> web.StreamResponse:
    data = await services_of(request).profiles.export_customer(
        path_id(request, "customer_id"), actor=principal_of(request).actor
    )
    return json_response(data)


async def erase_customer(request: web.Request) -> web.StreamResponse:
    result = await services_of(request).profiles.erase_customer(
        path_id(request, "customer_id"), actor=principal_of(request).actor
    )
    return json_response(result)
