"""Server-rendered HTML pages (Jinja2 templates in ``agent_ui/templates``)."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def templates() -> jinja2.Environment:
    """The one template environment; autoescaping is on for every page."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("agent_ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
