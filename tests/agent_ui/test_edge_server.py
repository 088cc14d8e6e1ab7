"""The edge's own protocol handler and access log: requests aiohttp cannot parse get
the API's JSON error (nothing echoed, one WARNING), the access log carries no personal
values, path ids are ASCII digits, and JSON bodies are UTF-8."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from agent_ui.server import MAX_FIELD_SIZE, MAX_LINE_SIZE, EdgeAppRunner, redacted_target
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]


@pytest.fixture
async def address(app: web.Application) -> AsyncIterator[tuple[str, int]]:
    runner = EdgeAppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    host, port = server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    try:
        yield host, port
    finally:
        await runner.cleanup()


async def raw_exchange(
    address: tuple[str, int], request: bytes
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


UNREADABLE = [
    pytest.param(
        b"GET /api/v1/customers?q=" + b"A" * (MAX_LINE_SIZE + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414, "uri-too-long", b"AAAA", id="url-too-long",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"B" * (MAX_FIELD_SIZE + 10) + b"\r\n\r\n",
        431, "headers-too-large", b"BBBB", id="header-too-long",
    ),
    pytest.param(
        b"GET /x\x00<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n",
        400, "bad-request", b"<script>", id="control-character-in-url",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        + b"\r\n",
        400, "bad-request", b"X-199", id="too-many-headers",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("request_bytes", "status", "error", "echo"), UNREADABLE)
async def test_given_unreadable_request_then_json_error_without_echo_and_one_warning(
    address: tuple[str, int],
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
    status: int,
    error: str,
    echo: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    got_status, headers, body = await raw_exchange(address, request_bytes)
    assert got_status == status
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body)["error"] == error
    assert echo not in body
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].levelno == logging.WARNING
    assert problems[0].exc_info is None
    assert error in problems[0].getMessage()
    assert echo.decode() not in problems[0].getMessage()


async def test_given_tls_on_the_http_port_then_json_400_logged_at_debug_only(
    address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, _headers, body = await raw_exchange(address, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc")
    assert status == 400 and orjson.loads(body)["error"] == "bad-request"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_given_access_log_then_personal_query_values_replaced(
    address: tuple[str, int], agent: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = (
        "GET /api/v1/screen-pop?kind=phone&value=%2B12135550147&contact_id=call-7&limit=5 "
        f"HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent.token}\r\n"
        "Connection: close\r\n\r\n"
    )
    status, _headers, _body = await raw_exchange(address, request.encode())
    assert status == 404  # nobody has that number; the line is logged all the same
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1
    assert "kind=phone&value=***&contact_id=call-7&limit=5" in lines[0]
    assert "2135550147" not in lines[0] and agent.token not in lines[0]


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/api/v1/customers?q=Haley+Goodwin&limit=20", "/api/v1/customers?q=***&limit=20"),
        ("/api/v1/customers?email=a%40b.example", "/api/v1/customers?email=***"),
        ("/api/v1/audit?customer_id=7&action=profile.viewed",
         "/api/v1/audit?customer_id=7&action=profile.viewed"),
        ("/api/v1/customers?haley%40x.example=1", "/api/v1/customers?***=***"),
        ("/nowhere/haley@x.example/2135550147/ok", "/nowhere/***/***/ok"),
    ],
)  # fmt: skip
def test_redacted_target(target: str, logged: str) -> None:
    assert redacted_target(make_mocked_request("GET", target)) == logged


# Arabic-Indic one, full-width one, mathematical bold one, superscript one.
NOT_ASCII_ONES = ["%D9%A1", "%EF%BC%91", "%F0%9D%9F%8F", "%C2%B9"]


@pytest.mark.parametrize("one", NOT_ASCII_ONES)
async def test_given_non_ascii_digits_in_a_path_id_then_no_route(
    client: Client, agent: Caller, admin: Caller, one: str
) -> None:
    created = await client.post(
        "/api/v1/customers", json={"display_name": "Ada"}, headers=agent.bearer
    )
    assert (await created.json())["id"] == 1
    for path in (f"/api/v1/customers/{one}", f"/api/v1/users/{one}"):
        response = await client.get(path, headers=admin.bearer)
        assert response.status == 404
        assert (await response.json())["error"] == "route-not-found"
    assert (await client.get("/api/v1/customers/1", headers=agent.bearer)).status == 200


async def test_given_non_ascii_digits_in_a_cursor_then_refused_not_500(
    client: Client, agent: Caller
) -> None:
    for cursor in ("%C2%B2", "%D9%A1"):
        response = await client.get(
            f"/api/v1/customers?name=ada&cursor={cursor}", headers=agent.bearer
        )
        assert response.status == 422
        assert (await response.json())["error"] == "invalid-cursor"


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "iso-8859-1", "UTF-32"])
async def test_given_json_in_another_charset_then_415(
    client: Client, agent: Caller, charset: str
) -> None:
    response = await client.post(
        "/api/v1/customers",
        data='{"display_name": "Zoë"}'.encode(charset),
        headers={**agent.bearer, "Content-Type": f"application/json; charset={charset}"},
    )
    assert response.status == 415
    body = await response.json()
    assert body["error"] == "unsupported-media-type"
    assert body["details"]["charset"] == charset


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
async def test_given_json_declared_utf8_then_accepted(
    client: Client, agent: Caller, charset: str
) -> None:
    response = await client.post(
        "/api/v1/customers",
        data='{"display_name": "Zoë"}'.encode(),
        headers={**agent.bearer, "Content-Type": f"application/json; charset={charset}"},
    )
    assert response.status == 201
    assert (await response.json())["display_name"] == "Zoë"
