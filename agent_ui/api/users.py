"""User administration (admins only): list, create, change role/profile, disable, reset
password; and every user's own preferences (``PATCH /api/v1/users/me``).

Disabling a user or resetting their password ends their browser sessions at once and
revokes their API tokens (the account store does both, for the CLI too; enabling the
user again revives no token). The last enabled admin cannot be disabled or demoted
(the account store refuses it, for the CLI too): someone must be able to log in and
administer the system.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, principal_of, query_of, services_of
from agent_ui.schemas import MyPreferences, PasswordReset, UserCreate, UserListQuery, UserUpdate


async def list_users(request: web.Request) -> web.StreamResponse:
    query = query_of(request, UserListQuery)
    found = await services_of(request).accounts.list_users(include_disabled=query.include_disabled)
    return json_response({"items": [u.to_dict() for u in found]})


async def create_user(request: web.Request) -> web.StreamResponse:
    body = body_of(request, UserCreate)
    user = await services_of(request).accounts.add_user(
        body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        extension=body.extension,
        language=body.language,
    )
    return json_response(user.to_dict(), status=201)


async def get_user(request: web.Request) -> web.StreamResponse:
    user = await services_of(request).accounts.get_user(path_id(request, "user_id"))
    return json_response(user.to_dict())


async def update_user(request: web.Request) -> web.StreamResponse:
    accounts = services_of(request).accounts
    body = body_of(request, UserUpdate)
    user = await accounts.update_user(
        path_id(request, "user_id"),
        display_name=body.display_name,
        extension=body.extension,
        language=body.language,
        role=body.role,
        disabled=body.disabled,
    )
    return json_response(user.to_dict())


async def reset_password(request: web.Request) -> web.StreamResponse:
    accounts = services_of(request).accounts
    body = body_of(request, PasswordReset)
    user_id = path_id(request, "user_id")
    revoked = await accounts.set_password(user_id, body.password)
    return json_response(
        {
            "user_id": user_id,
            "sessions_ended": revoked.sessions_ended,
            "tokens_revoked": revoked.tokens_revoked,
        }
    )


async def update_me(request: web.Request) -> web.StreamResponse:
    """Any user changes their own preferences (today: the UI language)."""
    body = body_of(request, MyPreferences)
    user = await services_of(request).accounts.update_user(
        principal_of(request).user.id, language=body.language
    )
    return json_response(user.to_dict())
