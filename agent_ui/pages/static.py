"""``/static/NAME``: the pages' stylesheets and scripts, served by the product itself
(no CDN, no build step). Names are plain file names, optionally in the ``css/`` or
``js/`` folder, so no path can leave ``agent_ui/static``."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from contact_center.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NAME_PATTERN = r"(?:css/|js/)?[A-Za-z0-9_-]{1,64}\.(?:css|js|svg|png|woff2)"


class StaticFileNotFound(NotFound):
    error_id = "static-file-not-found"


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if not path.is_file():
        raise StaticFileNotFound(f"no static file {name!r}")
    response = web.FileResponse(path)
    # Short, so a new release's files reach browsers soon without versioned names.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
