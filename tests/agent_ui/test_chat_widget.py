"""The chat widget as served (``/chat/widget.js``): one script under 30 KiB gzipped,
cacheable, its string table complete in English and Simplified Chinese; the sample page
``/chat/demo``; the supervisors' canned responses page."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from agent_ui.pages.chat_widget import WIDGET_DIR, assemble
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]
MAX_GZIPPED_BYTES = 30 * 1024
STRINGS = json.loads((WIDGET_DIR / "strings.json").read_text(encoding="utf-8"))
SOURCE = (WIDGET_DIR / "widget.js").read_text(encoding="utf-8")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_given_the_assembled_widget_when_gzipped_then_it_is_under_30_kib() -> None:
    body = assemble().encode("utf-8")
    size = len(gzip.compress(body, 9))
    assert size < MAX_GZIPPED_BYTES, f"widget.js is {size} bytes gzipped"
    # The markers were replaced by the stylesheet and the strings.
    assert "/*@css*/" not in body.decode() and "/*@strings*/" not in body.decode()
    assert ":host" in body.decode() and "在线咨询" in body.decode()


def test_given_the_widget_strings_then_chinese_has_every_english_key_with_its_placeholders() -> (
    None
):
    english, chinese = STRINGS["en"], STRINGS["zh-CN"]
    assert set(STRINGS) == {"en", "zh-CN"}
    assert set(chinese) == set(english), set(chinese) ^ set(english)
    for key, text in english.items():
        assert chinese[key].strip(), f"zh-CN {key!r} is empty"
        assert set(PLACEHOLDER.findall(chinese[key])) == set(PLACEHOLDER.findall(text)), key
        if key not in {"title"}:
            assert chinese[key] != text or not re.search(r"[A-Za-z]{3}", text), (
                f"zh-CN {key!r} is still English"
            )


def test_given_the_widget_code_then_every_string_it_asks_for_is_in_the_table() -> None:
    used = set(re.findall(r"""\bt\(\s*"([A-Za-z]+)\"""", SOURCE))
    assert len(used) > 40
    assert not used - set(STRINGS["en"]), used - set(STRINGS["en"])
    # Form fields are labelled with t(fieldName): their names are keys too.
    fields = {"name", "email", "phone", "message"}
    assert not set(STRINGS["en"]) - used - fields, "strings nobody uses"


def test_given_the_widget_code_then_nothing_from_outside_is_parsed_as_html() -> None:
    assert "innerHTML" not in SOURCE and "insertAdjacentHTML" not in SOURCE
    assert "document.write" not in SOURCE and "eval(" not in SOURCE


async def test_given_a_browser_when_fetching_the_widget_then_it_is_gzipped_and_cacheable(
    client: Client,
) -> None:
    response = await client.get("/chat/widget.js", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.read()  # aiohttp's client decodes it
    assert body.decode().startswith("// The web chat widget")
    etag = response.headers["ETag"]
    again = await client.get("/chat/widget.js", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""


async def test_given_the_sample_page_then_it_embeds_the_widget_in_one_line(
    client: Client,
) -> None:
    response = await client.get("/chat/demo?lang=zh-CN&queue=support")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    assert '<script src="/chat/widget.js" data-queue="support" async></script>' in html
    assert "blob:" in response.headers["Content-Security-Policy"]
    hostile = await client.get("/chat/demo", params={"queue": '"><script>x()</script>'})
    assert "<script>x()" not in await hostile.text()


async def test_given_roles_when_opening_the_canned_responses_page_then_only_supervisors_may(
    client: Client,
    agent: Caller,
    supervisor: Caller,
    login: Callable[..., Awaitable[str]],
) -> None:
    await login(agent.username)
    assert (await client.get("/canned-responses", allow_redirects=False)).status == 403
    await client.post("/api/v1/auth/logout")
    client.session.cookie_jar.clear()
    await login(supervisor.username)
    response = await client.get("/canned-responses")
    assert response.status == 200
    html = await response.text()
    assert '<script type="module" src="/static/js/canned_responses.js"></script>' in html
    assert "{customer.first_name}" in html
