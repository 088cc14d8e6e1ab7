"""User administration (admins only): list, create, change role/profile, disable, reset password.

Disabling a user or resetting their password ends their browser sessions at once.
The last enabled admin cannot be disabled or demoted: someone must be able to log in
and administer the system.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.app_keys import SESSIONS
from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, query_of, services_of
from agent_ui.schemas import PasswordReset, UserCreate, UserListQuery, UserUpdate
from contact_center.accounts import AccountStore, Role, User
from contact_center.errors import Conflict


class LastAdmin(Conflict):
    error_id = "last-admin"


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
    user = await accounts.get_user(path_id(request, "user_id"))
    demoted = body.role is not None and body.role != Role.ADMIN.value
    if user.role is Role.ADMIN and not user.disabled and (demoted or body.disabled is True):
        await _refuse_if_last_admin(accounts, user)
    user = await accounts.update_user(
        user.id,
        display_name=body.display_name,
        extension=body.extension,
        language=body.language,
        role=body.role,
        disabled=body.disabled,
    )
    if body.disabled is True:
        await request.app[SESSIONS].delete_user(user.id)
    return json_response(user.to_dict())


async def reset_password(request: web.Request) -> web.StreamResponse:
    accounts = services_of(request).accounts
    body = body_of(request, PasswordReset)
    user_id = path_id(request, "user_id")
    await accounts.set_password(user_id, body.password)
    ended = await request.app[SESSIONS].delete_user(user_id)
    return json_response({"user_id": user_id, "sessions_ended": ended})


async def _refuse_if_last_admin(accounts: AccountStore, user: User) -> None:
    admins = [u for u in await accounts.list_users(include_disabled=False) if u.role is Role.ADMIN]
    if [a.id for a in admins] == [user.id]:
        raise LastAdmin(
            f"{user.username!r} is the last enabled admin; make another admin first",
            details={"user_id": user.id},
        )
