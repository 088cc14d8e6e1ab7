"""Server-rendered HTML pages (Jinja2 templates in ``agent_ui/templates``).

Every page extends ``base.html``. Data for a page's ES modules travels as JSON in
``<script type="application/json" id="page-data">`` (never executed, so the CSP needs
no inline script): the user, the CSRF token, the locale with the strings the modules
translate, and whatever the page adds. Text in the templates is translated with
``{{ _("...") }}`` (Jinja2's i18n extension, one environment per locale).
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
import orjson
from aiohttp import web
from markupsafe import Markup

from agent_ui.app_keys import PRINCIPAL
from agent_ui.i18n import DEFAULT_LOCALE, LOCALES, choose_locale, js_messages, translations

# Characters that must not appear raw inside a <script> element's JSON: "</script>"
# and "<!--" end or confuse it; U+2028/2029 break older JavaScript parsers.
_SCRIPT_UNSAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


@functools.cache
def templates(locale: str = DEFAULT_LOCALE) -> jinja2.Environment:
    """The template environment of one locale; autoescaping is on for every page."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("agent_ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return environment


def json_for_script(data: Any) -> Markup:
    """``data`` as JSON that is safe inside a ``<script type="application/json">``."""
    text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    return Markup(text.translate(_SCRIPT_UNSAFE))  # noqa: S704


def request_locale(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    language = principal.user.language.value if principal is not None else None
    override = request.query.get("lang") if principal is None else None
    return choose_locale(language, request.headers.get("Accept-Language"), override)


def gettext_for(request: web.Request) -> Any:
    """The ``gettext`` of the request's locale (for text a handler puts on a page)."""
    return translations(request_locale(request)).gettext


def render_page(
    request: web.Request,
    template: str,
    *,
    page_data: dict[str, Any] | None = None,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """Render ``template`` for this request's user and locale.

    ``page_data`` is merged into the JSON the page's modules read (``page-data``).
    """
    locale = request_locale(request)
    principal = request.get(PRINCIPAL)
    data: dict[str, Any] = {
        "locale": locale,
        "messages": js_messages(locale),
        "user": None,
        "csrf_token": None,
    }
    if principal is not None:
        user = principal.user
        data["user"] = {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "extension": user.extension,
            "language": user.language.value,
        }
        if principal.session is not None:
            data["csrf_token"] = principal.session.csrf_token
    data.update(page_data or {})
    page = (
        templates(locale)
        .get_template(template)
        .render(
            locale=locale,
            locales=LOCALES,
            user=principal.user if principal is not None else None,
            csrf_token=data["csrf_token"],
            page_data=json_for_script(data),
            path=request.path,
            # The login page's language links keep the rest of its query (next=...).
            language_links={code: str(request.rel_url.update_query(lang=code)) for code in LOCALES},
            **context,
        )
    )
    response = web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
    # Pages carry personal data and a CSRF token: never stored by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    # Other sites get no Referer (page URLs hold customer ids), but the pages' own
    # form POSTs carry their Origin: with "no-referrer" Chromium sends "Origin: null",
    # and the login and logout forms check the Origin.
    response.headers["Referrer-Policy"] = "same-origin"
    return response
