"""Every request example in docs/api.md runs as written against the assembled app.

The examples are ```` ```http ```` blocks: a request (method and path, headers, a blank
line, the body) followed by the expected response (status line, headers, a blank line,
the body). They run in document order against one fresh app built with the default
settings (so the phone region is the default, ``US``) and one queue (``DOCS_ROUTING``)
on an empty SQLite database,
with the users and tokens the document names. Each response must have the documented
status, the documented headers and every documented body field with its value: ``…``
inside a string stands for any text, and a list ending in ``"…"`` may hold more items.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from agent_ui.routes import ENDPOINTS
from contact_center.accounts import AccountStore
from contact_center.app import build_app, build_services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
NOW = 1_750_000_000.0
PASSWORD = "correct horse battery"
# The users the document's examples assume, in the order they are created (ids 1-3),
# each with one API token named "docs" (token ids 1-3).
USERS = (
    ("alice", "agent", "1001", "AGENT_TOKEN"),
    ("sam", "supervisor", None, "SUPERVISOR_TOKEN"),
    ("root", "admin", None, "ADMIN_TOKEN"),
)
# The queue the document's wrap-up and queue examples show.
DOCS_ROUTING: dict[str, Any] = {
    "queues": {
        "support": {
            "channels": ["voice", "chat", "email"],
            "wrap_up_seconds": "manual",
            "dispositions": [
                {"id": "resolved", "label": "Resolved", "resolved": True},
                {"id": "follow-up", "label": "Follow-up needed"},
            ],
            "disposition_required": True,
        }
    }
}
ELLIPSIS = "…"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3})(?: .*)?$")
REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)$")
VARIABLE = re.compile(r"\$([A-Z][A-Z0-9_]*)")


@dataclasses.dataclass(frozen=True)
class Example:
    line: int
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: str
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: Any  # parsed JSON, or None when the document shows no body

    def __str__(self) -> str:
        return f"docs/api.md:{self.line} {self.method} {self.path}"


def _headers_and_body(lines: list[str], where: str) -> tuple[tuple[tuple[str, str], ...], str]:
    headers = []
    index = 0
    while index < len(lines) and lines[index].strip():
        name, sep, value = lines[index].partition(":")
        assert sep and name.strip() and " " not in name.strip(), f"{where}: bad header line"
        headers.append((name.strip(), value.strip()))
        index += 1
    return tuple(headers), "\n".join(lines[index:]).strip()


def parse_example(block: str, line: int) -> Example:
    lines = block.rstrip("\n").split("\n")
    request_line = REQUEST_LINE.match(lines[0])
    assert request_line, f"docs/api.md:{line}: an http block starts with 'METHOD /path'"
    status_at = next((i for i, text in enumerate(lines) if STATUS_LINE.match(text)), None)
    assert status_at is not None, f"docs/api.md:{line}: no 'HTTP/1.1 <status>' line"
    status = STATUS_LINE.match(lines[status_at])
    assert status
    headers, body = _headers_and_body(lines[1:status_at], f"docs/api.md:{line}")
    response_headers, response_text = _headers_and_body(
        lines[status_at + 1 :], f"docs/api.md:{line + status_at}"
    )
    try:
        response_body = json.loads(response_text) if response_text else None
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"docs/api.md:{line}: documented response is not JSON: {exc}"
        ) from None
    return Example(
        line=line,
        method=request_line.group(1),
        path=request_line.group(2),
        headers=headers,
        body=body,
        status=int(status.group(1)),
        response_headers=response_headers,
        response_body=response_body,
    )


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, content, line of the first content line) of every fenced block."""
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start(2)) + 1)
        for m in FENCE.finditer(text)
    ]


def examples(text: str) -> list[Example]:
    return [parse_example(body, line) for lang, body, line in fenced_blocks(text) if lang == "http"]


def elided_match(documented: str, actual: str) -> bool:
    """``documented`` with each ``…`` standing for any text (possibly none)."""
    pattern = ".*".join(re.escape(part) for part in documented.split(ELLIPSIS))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def mismatches(documented: Any, actual: Any, where: str = "body") -> list[str]:
    """Where ``actual`` lacks a documented field or differs from a documented value."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        found = []
        for key, value in documented.items():
            if key not in actual:
                found.append(f"{where}.{key}: missing")
            else:
                found.extend(mismatches(value, actual[key], f"{where}.{key}"))
        return found
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        open_ended = bool(documented) and documented[-1] == ELLIPSIS
        items = documented[:-1] if open_ended else documented
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            return [f"{where}: {len(actual)} items, documented {len(items)}: {actual!r}"]
        found = []
        for index, item in enumerate(items):
            found.extend(mismatches(item, actual[index], f"{where}[{index}]"))
        return found
    if isinstance(documented, str) and ELLIPSIS in documented:
        if isinstance(actual, str) and elided_match(documented, actual):
            return []
        return [f"{where}: {actual!r} does not match {documented!r}"]
    if type(documented) is not type(actual) and not (
        isinstance(documented, int | float)
        and isinstance(actual, int | float)
        and not isinstance(documented, bool)
        and not isinstance(actual, bool)
    ):
        return [f"{where}: documented {documented!r}, got {actual!r}"]
    if documented != actual:
        return [f"{where}: documented {documented!r}, got {actual!r}"]
    return []


def substitute(text: str, variables: dict[str, str], example: Example) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in variables, f"{example}: ${name} is not defined at this point"
        return variables[name]

    return VARIABLE.sub(value, text)


@pytest.fixture
async def docs_client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], dict[str, str]]]:
    """The assembled app with the default settings, the documented users and tokens."""
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}"}
    )
    settings = settings.model_copy(update={"routing": DOCS_ROUTING})

    def clock() -> float:
        return NOW

    services = build_services(settings, clock=clock)
    # Cheap argon2 parameters keep the test fast; production uses the library defaults.
    services.accounts = AccountStore(
        services.engine, clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024)
    )
    await upgrade(services.engine)
    variables = {}
    for username, role, extension, variable in USERS:
        user = await services.accounts.add_user(
            username, password=PASSWORD, role=role, extension=extension
        )
        variables[variable] = (await services.accounts.issue_token(user.id, "docs")).secret
    app = build_app(settings, services=services, clock=clock)
    # No cookie jar: an example sends the session cookie only when it shows it.
    client: TestClient[Any, Any] = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        yield client, variables
    finally:
        await client.close()


async def run(
    client: TestClient[Any, Any], example: Example, variables: dict[str, str]
) -> list[str]:
    headers = {name: substitute(value, variables, example) for name, value in example.headers}
    body = substitute(example.body, variables, example).encode() if example.body else None
    path = substitute(example.path, variables, example)
    response = await client.request(example.method, path, headers=headers, data=body)
    text = await response.text()
    if response.status != example.status:
        return [f"{example}: status {response.status}, documented {example.status}: {text[:300]}"]
    problems = []
    for name, documented in example.response_headers:
        values = response.headers.getall(name, [])
        if not any(elided_match(documented, value) for value in values):
            problems.append(f"header {name}: {values!r} does not match {documented!r}")
    data: Any = None
    if text and response.content_type == "application/json":
        data = json.loads(text)
    if example.response_body is not None:
        if data is None:
            problems.append(f"documented a body, got {text[:300]!r}")
        else:
            problems.extend(mismatches(example.response_body, data))
    # What later examples use: the session cookie and CSRF token of the last login.
    cookie = response.cookies.get("cc_session")
    if cookie is not None and cookie.value:
        variables["SESSION"] = cookie.value
    if isinstance(data, dict) and isinstance(data.get("csrf_token"), str):
        variables["CSRF"] = data["csrf_token"]
    return [f"{example}: {problem}" for problem in problems]


async def test_given_the_api_doc_when_every_example_runs_in_order_then_each_answers_as_documented(
    docs_client: tuple[TestClient[Any, Any], dict[str, str]],
) -> None:
    client, variables = docs_client
    found = examples(API_DOC.read_text(encoding="utf-8"))
    assert len(found) >= 30
    problems = []
    for example in found:
        problems.extend(await run(client, example, variables))
    assert not problems, "\n".join(problems)


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^{}:]+(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\})", path)
    pattern = ""
    for part in parts:
        if part.startswith("{"):
            _, _, expression = part[1:-1].partition(":")
            pattern += f"(?:{expression or '[^/]+'})"
        else:
            pattern += re.escape(part)
    return re.compile(pattern)


def test_given_the_endpoint_table_then_the_api_doc_has_an_example_of_each_endpoint() -> None:
    documented = [(e.method, e.path.partition("?")[0]) for e in examples(API_DOC.read_text())]
    missing = [
        f"{endpoint.method} {endpoint.path}"
        for endpoint in ENDPOINTS
        if not any(
            method == endpoint.method and _route_pattern(endpoint.path).fullmatch(path)
            for method, path in documented
        )
    ]
    assert not missing, f"endpoints without an example in docs/api.md: {missing}"


def test_given_the_api_doc_then_every_fenced_block_is_a_runnable_http_example() -> None:
    others = [
        f"docs/api.md:{line} ({lang or 'no language'})"
        for lang, _, line in fenced_blocks(API_DOC.read_text(encoding="utf-8"))
        if lang != "http"
    ]
    assert not others, f"examples the docs test does not run: {others}"


@pytest.mark.parametrize(
    ("documented", "actual", "ok"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"b": 1}, False),
        ({"s": "cc_…"}, {"s": "cc_secret"}, True),
        ({"s": "cc_…"}, {"s": "xx_secret"}, False),
        ([{"id": 1}], [{"id": 1}, {"id": 2}], False),
        ([{"id": 1}, "…"], [{"id": 1}, {"id": 2}], True),
        ([], [], True),
        (True, 1, False),
        (1750000000.0, 1750000000, True),
        (None, None, True),
    ],
)
def test_given_a_documented_value_then_it_matches_only_what_it_describes(
    documented: Any, actual: Any, ok: bool
) -> None:
    assert (not mismatches(documented, actual)) is ok
