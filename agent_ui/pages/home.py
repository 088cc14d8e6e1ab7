"""``/``: the start page. It says what runs here, where the API and its description
are, and how to log in; it shows nothing that needs a login (the page is public)."""

from __future__ import annotations

from aiohttp import web

from agent_ui.pages import templates
from agent_ui.request_state import services_of
from contact_center import __version__


async def home(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    page = (
        templates()
        .get_template("home.html")
        .render(
            version=__version__,
            telephony="Asterisk over AMI"
            if services.settings.asterisk.servers
            else "none configured",
            host=request.host,
        )
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")
