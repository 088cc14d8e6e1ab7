"""Typed access to what the middlewares attached to a request (caller, body, query)."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from agent_ui.app_keys import BODY, PRINCIPAL, QUERY, SERVICES, Principal
from contact_center.services import Services

ModelT = TypeVar("ModelT", bound=BaseModel)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def body_of(request: web.Request, model: type[ModelT]) -> ModelT:
    body = request[BODY]
    if not isinstance(body, model):
        raise TypeError(f"route declares {type(body).__name__}, handler expects {model.__name__}")
    return body


def query_of(request: web.Request, model: type[ModelT]) -> ModelT:
    query = request[QUERY]
    if not isinstance(query, model):
        raise TypeError(f"route declares {type(query).__name__}, handler expects {model.__name__}")
    return query


def path_id(request: web.Request, name: str) -> int:
    # Route patterns only match 1-18 digits, so this cannot fail for a matched route.
    return int(request.match_info[name])
