"""Translations: locale choice, complete catalogs, extraction up to date, localised pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from agent_ui.i18n import (
    CATALOG_DIRS,
    LOCALE_DIR,
    catalog_path,
    choose_locale,
    from_accept_language,
    js_messages,
    normalise,
    translations,
)
from agent_ui.pages import json_for_script
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]
ROOT = Path(__file__).resolve().parents[2]
# The same methods and keywords as babel.cfg and the Makefile's i18n target.
METHOD_MAP = [
    ("agent_ui/pages/**.py", "python"),
    ("agent_ui/i18n.py", "python"),
    ("agent_ui/templates/**.html", "jinja2"),
    ("agent_ui/static/js/**.js", "javascript"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "t": None}


def extracted_msgids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalog_msgids(path: Path) -> dict[str, Any]:
    with path.open("rb") as po:
        catalog = read_po(po)
    return {str(m.id): m for m in catalog if m.id}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans-CN", "zh-CN"), ("zh_CN", "zh-CN"),
     ("zh-TW", None), ("en-GB", "en"), ("fr", None), ("", None)],
)  # fmt: skip
def test_given_a_language_tag_then_it_maps_to_a_supported_locale(
    tag: str, expected: str | None
) -> None:
    assert normalise(tag) == expected


def test_given_accept_language_then_the_highest_quality_supported_language_wins() -> None:
    assert from_accept_language("fr-FR, zh-CN;q=0.8, en;q=0.5") == "zh-CN"
    assert from_accept_language("en;q=0.2, zh;q=0.9") == "zh-CN"
    assert from_accept_language("de, fr;q=0.9") is None
    assert from_accept_language("zh;q=oops, en") == "en"


def test_given_a_user_preference_then_it_beats_the_browser_and_english_is_last() -> None:
    assert choose_locale("zh-CN", "en") == "zh-CN"
    assert choose_locale(None, "zh-CN,zh;q=0.9") == "zh-CN"
    assert choose_locale(None, "de") == "en"
    assert choose_locale(None, None, override="zh-CN") == "zh-CN"


def test_given_the_chinese_catalog_then_every_msgid_is_translated_and_none_is_fuzzy() -> None:
    for locale in CATALOG_DIRS:
        messages = catalog_msgids(catalog_path(locale))
        untranslated = sorted(k for k, m in messages.items() if not m.string)
        fuzzy = sorted(k for k, m in messages.items() if m.fuzzy)
        assert not untranslated, (
            f"{locale}: untranslated (run make i18n, translate): {untranslated}"
        )
        assert not fuzzy, f"{locale}: fuzzy (check and clear the flag): {fuzzy}"


def test_given_the_sources_then_every_string_is_in_the_template_and_every_catalog() -> None:
    extracted = extracted_msgids()
    assert "Log in" in extracted and "Customers" in extracted
    template = set(catalog_msgids(LOCALE_DIR / "messages.pot"))
    assert extracted - template == set(), "strings missing from messages.pot: run make i18n"
    assert template - extracted == set(), "messages.pot has strings no source uses: run make i18n"
    for locale in CATALOG_DIRS:
        in_catalog = set(catalog_msgids(catalog_path(locale)))
        assert extracted - in_catalog == set(), f"{locale} lacks strings: run make i18n"


def test_given_placeholders_then_the_translation_keeps_every_one() -> None:
    import re

    placeholder = re.compile(r"\{\w+\}|%\(\w+\)[sd]")
    for locale in CATALOG_DIRS:
        for msgid, message in catalog_msgids(catalog_path(locale)).items():
            assert sorted(placeholder.findall(msgid)) == sorted(
                placeholder.findall(str(message.string))
            ), f"{locale}: {msgid!r} -> {message.string!r}"


def test_given_chinese_then_python_and_js_strings_are_translated() -> None:
    assert translations("zh-CN").gettext("Log in") == "登录"
    assert translations("en").gettext("Log in") == "Log in"
    messages = js_messages("zh-CN")
    assert messages["Repeat contact"] == "重复来访"
    # Only strings the modules use travel to the browser.
    assert "Use the username and password your administrator gave you." not in messages
    assert js_messages("en") == {}


def test_given_hostile_text_then_the_page_data_json_cannot_end_its_script_element() -> None:
    text = json_for_script({"name": "</script><script>alert(1)</script>", "x": "\u2028&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    import json

    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


async def test_given_a_chinese_browser_then_the_login_page_is_in_chinese(client: Client) -> None:
    response = await client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = await response.text()
    assert response.status == 200
    assert '<html lang="zh-CN">' in page and "登录" in page
    english = await (await client.get("/login", headers={"Accept-Language": "en-US"})).text()
    assert '<html lang="en">' in english and "Log in" in english and "登录" not in english
    chosen = await (await client.get("/login?lang=zh-CN", headers={"Accept-Language": "en"})).text()
    assert "登录" in chosen


async def test_given_a_user_when_they_set_their_language_then_pages_follow_it(
    client: Client,
    agent: Caller,
    login: Callable[..., Awaitable[str]],
) -> None:
    csrf = await login(agent.username)
    changed = await client.patch(
        "/api/v1/users/me", json={"language": "zh-CN"}, headers={"X-CSRF-Token": csrf}
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["language"] == "zh-CN"
    page = await (await client.get("/customers", headers={"Accept-Language": "en"})).text()
    assert '<html lang="zh-CN">' in page and "客户" in page
    refused = await client.patch(
        "/api/v1/users/me", json={"language": "fr"}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status == 422
    no_csrf = await client.patch("/api/v1/users/me", json={"language": "en"})
    assert no_csrf.status == 403
