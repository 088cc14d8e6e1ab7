"""Translations of the consoles: which language a request gets, and its strings.

The UI speaks English (the source language: msgids are English text) and Simplified
Chinese. A request's locale is the logged-in user's ``language`` preference, else the
best match of the browser's ``Accept-Language``, else English.

Catalogs are gettext ``.po`` files under ``agent_ui/locale/<ll_CC>/LC_MESSAGES/``,
kept up to date by ``make i18n`` (Babel extracts from Python, the Jinja2 templates and
the ES modules, see ``babel.cfg``). They are compiled in memory the first time a
locale is used, so no binary ``.mo`` file is committed and none can drift from its
``.po`` (docs/decisions.md, "Babel").

Strings used by the ES modules (``t("...")`` in ``agent_ui/static/js``) reach the
browser as a msgid -> translation map inside each page's JSON data, so a page needs
no extra request and no script is generated.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE: Final = "en"
# The UI's languages, as users.language stores them (BCP 47), with their names as
# shown in the language switch (each in its own language).
LOCALES: Final[Mapping[str, str]] = {"en": "English", "zh-CN": "简体中文"}
# Catalog folder per locale (gettext's ll_CC form); English is the msgids themselves.
CATALOG_DIRS: Final[Mapping[str, str]] = {"zh-CN": "zh_CN"}
JS_SOURCE_PREFIX: Final = "agent_ui/static/js/"


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / CATALOG_DIRS[locale] / "LC_MESSAGES" / "messages.po"


@functools.cache
def _compiled(locale: str) -> tuple[NullTranslations, dict[str, str]]:
    """The locale's gettext translations and its strings for the ES modules."""
    if locale not in CATALOG_DIRS:
        return NullTranslations(), {}
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=CATALOG_DIRS[locale])
    buffer = io.BytesIO()
    # Fuzzy entries are left out, as msgfmt does: a guess is worse than English.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    for_js = {
        str(message.id): str(message.string)
        for message in catalog
        if message.id
        and message.string
        and not message.fuzzy
        and isinstance(message.id, str)
        and any(path.startswith(JS_SOURCE_PREFIX) for path, _line in message.locations)
    }
    return Translations(buffer), for_js


def translations(locale: str) -> NullTranslations:
    return _compiled(normalise(locale) or DEFAULT_LOCALE)[0]


def js_messages(locale: str) -> dict[str, str]:
    """msgid -> translation of every string the ES modules use (empty for English)."""
    return _compiled(normalise(locale) or DEFAULT_LOCALE)[1]


def normalise(tag: str | None) -> str | None:
    """The supported locale a language tag means (``zh``, ``zh-Hans``, ``zh_CN`` ->
    ``zh-CN``; ``en-GB`` -> ``en``), or None."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh":
        # Traditional Chinese readers are better served by English than by simplified
        # characters they may not read comfortably.
        if any(p in ("hant", "tw", "hk", "mo") for p in parts[1:]):
            return None
        return "zh-CN"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale of an ``Accept-Language`` header, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        locale = normalise(tag)
        if locale is not None and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None


def choose_locale(
    user_language: str | None, accept_language: str | None, override: str | None = None
) -> str:
    """The locale of one request: an explicit choice (the login page's switch), the
    user's preference, the browser's languages, then English."""
    return (
        normalise(override)
        or normalise(user_language)
        or from_accept_language(accept_language)
        or DEFAULT_LOCALE
    )
