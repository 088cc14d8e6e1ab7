"""``/customers`` (search) and ``/customers/{id}`` (profile): the customer pages.

The profile page is rendered with the customer's screen-pop (the same JSON as
``GET /api/v1/screen-pop``, audit-logged as a profile view) in its page data, so the
card and timeline modules the agent console uses draw it with no extra request;
later pages of the timeline, edits, notes and identities go through the REST API.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import path_id, principal_of, services_of
from contact_center.accounts import Role
from contact_center.errors import NotFound

SEARCH_FIELDS = ("q", "name", "phone", "email", "number")
MAX_QUERY_LENGTH = 200


async def people(request: web.Request) -> dict[str, str]:
    """user id -> display name, for owners and agents named on a page."""
    users = await services_of(request).accounts.list_users(include_disabled=True)
    return {str(u.id): u.display_name or u.username for u in users}


async def customer_search(request: web.Request) -> web.StreamResponse:
    field = request.query.get("field", "q")
    if field not in SEARCH_FIELDS:
        field = "q"
    text = request.query.get("q", "")[:MAX_QUERY_LENGTH]
    _ = gettext_for(request)
    return render_page(
        request,
        "customers.html",
        page_data={"search": {"field": field, "q": text}},
        field=field,
        q=text,
        title=_("Customers"),
    )


async def customer_profile(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    principal = principal_of(request)
    customer_id = path_id(request, "customer_id")
    _ = gettext_for(request)
    try:
        screen_pop = await services.profiles.screen_pop(
            customer_id=customer_id, viewer=principal.actor
        )
    except NotFound:
        return render_page(
            request,
            "not_found.html",
            status=404,
            message=_("There is no customer %(id)d.") % {"id": customer_id},
        )
    can_merge = principal.user.role in (Role.SUPERVISOR, Role.ADMIN)
    return render_page(
        request,
        "customer.html",
        page_data={
            "customer_id": customer_id,
            "screen_pop": screen_pop,
            "people": await people(request),
            "can_merge": can_merge,
            "can_audit": can_merge,
            "page_size": services.settings.value.screen_pop_interactions,
        },
        customer=screen_pop["customer"],
        can_merge=can_merge,
    )
