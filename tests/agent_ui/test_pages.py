"""The start page and the static files the pages load."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]


async def test_given_a_visitor_when_opening_the_root_then_a_page_says_what_runs_and_how_to_log_in(
    client: Client,
) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "/status" in page and "/api/v1/openapi.json" in page and "/api/v1/auth/login" in page
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_given_a_hostile_host_header_then_the_page_escapes_it(client: Client) -> None:
    response = await client.get("/", headers={"Host": "x<script>alert(1)</script>"})
    page = await response.text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


async def test_given_the_stylesheet_then_it_is_served_and_other_paths_are_not(
    client: Client,
) -> None:
    css = await client.get("/static/home.css")
    assert css.status == 200 and "text/css" in css.headers["Content-Type"]
    assert "max-age" in css.headers["Cache-Control"]
    missing = await client.get("/static/nothing.css")
    assert missing.status == 404
    assert (await missing.json())["error"] == "static-file-not-found"
    for path in ("/static/..%2Fpages%2Fhome.py", "/static/../wiring.py", "/static/home.py"):
        assert (await client.get(path)).status == 404, path
