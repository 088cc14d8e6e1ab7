"""The OpenAPI 3.1 description, generated from the endpoint table and its pydantic models.

Generated rather than hand-written so it cannot disagree with what the server accepts:
request bodies and query parameters come from the same models that validate them,
and the roles from the same table the auth middleware enforces.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agent_ui.app_keys import OPENAPI_DOCUMENT
from agent_ui.endpoint import Endpoint
from agent_ui.middlewares import CSRF_HEADER, SESSION_COOKIE, json_response

_REF_TEMPLATE = "#/components/schemas/{model}"

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "details"],
    "properties": {
        "error": {"type": "string", "description": "stable machine id, e.g. customer-not-found"},
        "message": {"type": "string", "description": "human-readable explanation"},
        "details": {"type": "object"},
    },
}
_USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"enum": ["agent", "supervisor", "admin"]},
        "extension": {"type": ["string", "null"]},
        "language": {"enum": ["en", "zh-CN"]},
        "disabled": {"type": "boolean"},
        "created_at": {"type": "number"},
        "password_changed_at": {"type": "number"},
    },
}
_TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "name": {"type": "string"},
        "created_at": {"type": "number"},
        "last_used_at": {"type": ["number", "null"]},
        "revoked_at": {"type": ["number", "null"]},
        "expires_at": {"type": "number"},
    },
}
_PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "display_name": {"type": "string"},
        "tier": {"type": "string"},
        "lifecycle_stage": {"type": "string"},
        "identities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "value": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object"},
        "consent": {"type": "object"},
        "provisional": {"type": "boolean"},
        "merged_into_id": {"type": ["integer", "null"]},
    },
}


def build_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    endpoints = list(endpoints)
    models: list[type[BaseModel]] = sorted(
        {m for e in endpoints for m in (e.body,) if m is not None}, key=lambda m: m.__name__
    )
    _, definitions = models_json_schema(
        [(m, "validation") for m in models], ref_template=_REF_TEMPLATE
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas.update(
        Error=_ERROR_SCHEMA, User=_USER_SCHEMA, ApiToken=_TOKEN_SCHEMA,
        CustomerProfile=_PROFILE_SCHEMA,
    )  # fmt: skip
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.canonical, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Contact center API",
            "version": "1",
            "description": (
                "REST API of the unified contact center. Errors are JSON "
                '{"error": id, "message": text, "details": {...}}; clients branch on the id.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "An error with a stable id",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API token from POST /api/v1/auth/tokens",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": (
                        f"Browser session from POST /api/v1/auth/login; unsafe methods also "
                        f"need the {CSRF_HEADER} header"
                    ),
                },
            },
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "x-roles": sorted(r.value for r in endpoint.roles) or ["public"],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    parameters: list[dict[str, Any]] = [
        {"name": var, "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1}}
        for var in endpoint.path_variables
    ]  # fmt: skip
    if endpoint.query is not None:
        parameters.extend(_query_parameters(endpoint.query))
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": _REF_TEMPLATE.format(model=endpoint.body.__name__)}
                }
            },
        }
    success: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.response is not None:
        success["content"] = {endpoint.media_type: {"schema": endpoint.response}}
    error = {"$ref": "#/components/responses/Error"}
    responses: dict[str, Any] = {str(endpoint.status): success, "default": error}
    if endpoint.public:
        operation["security"] = []
    else:
        operation["security"] = [{"bearerToken": []}, {"sessionCookie": []}]
        responses["401"] = error
        responses["403"] = error
    if endpoint.body is not None or endpoint.query is not None:
        responses["422"] = error
    operation["responses"] = responses
    return operation


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        # In a query string "null" is simply "absent": describe the value's own type.
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        if prop.get("default", 0) is None:
            del prop["default"]
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        parameters.append(parameter)
    return parameters


async def serve(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[OPENAPI_DOCUMENT])
