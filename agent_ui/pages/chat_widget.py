"""The web chat widget as the product serves it: ``GET /chat/widget.js`` (the script a
host page embeds with one line) and ``GET /chat/demo`` (a sample host page showing it).

The widget's source is three files in ``static/chat/``: ``widget.js`` (the code),
``widget.css`` (its shadow root's styles) and ``strings.json`` (English and Simplified
Chinese). :func:`widget_script` puts the last two into the first at their markers, so a
host page loads one file; the result is kept in memory with its gzip form and an ETag
and rebuilt when a source file changes. It is public and cacheable: host pages on other
sites load it with a plain ``<script src>`` (no CORS needed for that).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
from pathlib import Path

from aiohttp import hdrs, web

from agent_ui.pages import templates
from contact_center import __version__

WIDGET_DIR = Path(__file__).resolve().parent.parent / "static" / "chat"
SOURCES = ("widget.js", "widget.css", "strings.json")
CSS_MARKER = '/*@css*/ ""'
STRINGS_MARKER = "/*@strings*/ {}"
# Host pages keep the script an hour, then revalidate with the ETag (a 304 is cheap).
CACHE_CONTROL = "public, max-age=3600"
WIDGET_LANGUAGES = ("en", "zh-CN")


@dataclasses.dataclass(frozen=True)
class WidgetScript:
    body: bytes
    gzipped: bytes
    etag: str
    stamp: tuple[float, ...]


def _stamp() -> tuple[float, ...]:
    return tuple((WIDGET_DIR / name).stat().st_mtime for name in SOURCES)


def assemble() -> str:
    """widget.js with its stylesheet and string table in place of the markers."""
    code = (WIDGET_DIR / "widget.js").read_text(encoding="utf-8")
    css = (WIDGET_DIR / "widget.css").read_text(encoding="utf-8")
    strings = json.loads((WIDGET_DIR / "strings.json").read_text(encoding="utf-8"))
    if CSS_MARKER not in code or STRINGS_MARKER not in code:
        raise RuntimeError("static/chat/widget.js lost its /*@css*/ or /*@strings*/ marker")
    # json.dumps makes JS string and object literals; "</" is escaped so the text can
    # never close a <script> element it might be inlined into.
    css_literal = json.dumps(css, ensure_ascii=False).replace("</", "<\\/")
    strings_literal = json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")
    return code.replace(CSS_MARKER, css_literal, 1).replace(STRINGS_MARKER, strings_literal, 1)


def widget_script() -> WidgetScript:
    """The assembled script, rebuilt only when a source file changed."""
    return _build(_stamp())


@functools.lru_cache(maxsize=1)
def _build(stamp: tuple[float, ...]) -> WidgetScript:
    body = assemble().encode("utf-8")
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return WidgetScript(body, gzip.compress(body, 9, mtime=0), etag, stamp)


async def widget(request: web.Request) -> web.StreamResponse:
    script = widget_script()
    headers = {
        hdrs.CACHE_CONTROL: CACHE_CONTROL,
        hdrs.ETAG: script.etag,
        hdrs.VARY: "Accept-Encoding",
        # Any page may load it (also with crossorigin="anonymous", for error details).
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if script.etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
        return web.Response(status=304, headers=headers)
    body = script.body
    if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
        body = script.gzipped
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    return web.Response(body=body, headers=headers, content_type="text/javascript", charset="utf-8")


async def demo(request: web.Request) -> web.StreamResponse:
    """A sample shop page with the one-line widget. ``?lang=zh-CN`` sets the page's
    language (the widget follows it), ``?queue=`` the queue it chats with."""
    lang = request.query.get("lang", "en")
    lang = lang if lang in WIDGET_LANGUAGES else "en"
    queue = request.query.get("queue", "support")
    if not queue.replace("-", "").replace("_", "").isalnum() or len(queue) > 64:
        queue = "support"
    origin = f"{request.scheme}://{request.host}"
    page = (
        templates()
        .get_template("chat_demo.html")
        .render(lang=lang, queue=queue, origin=origin, version=__version__)
    )
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    # What a host page needs for the widget: its script and socket from this server, and
    # blob: images (attachment previews are fetched with the visitor's token).
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return response
