"""``/status``: every adapter's health in one public document, with no secrets.

Each entry names the backend it runs on (``database``: the SQL dialect; ``routing``,
``bus``, ``sessions``, ``login_throttle``: ``memory`` or ``redis``), so a deployment
can check it is configured as intended. The probes come from the services
(``Services.health``) and from this edge's own session and login-throttle stores.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from agent_ui.app_keys import LOGIN_THROTTLE, SESSIONS
from agent_ui.middlewares import json_response
from agent_ui.request_state import services_of
from contact_center.outside_text import one_line
from contact_center.services import HealthProbe

PROBE_TIMEOUT_SECONDS = 2.0
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|api[_-]?key", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


async def status(request: web.Request) -> web.StreamResponse:
    """200 when every probe says ok, else 503; each probe bounded by a timeout."""
    probes: dict[str, HealthProbe] = {
        "sessions": request.app[SESSIONS].health,
        "login_throttle": request.app[LOGIN_THROTTLE].health,
        **services_of(request).health,
    }
    names = sorted(probes)
    results = await asyncio.gather(*(_run_probe(probes[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    healthy = all(r.get("ok") is True for r in results)
    return json_response({"ok": healthy, "services": report}, status=200 if healthy else 503)


async def _run_probe(probe: HealthProbe) -> dict[str, Any]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            result = await probe()
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"}
    except Exception as exc:
        # Only the exception type: its message may carry hosts, users or secrets.
        return {"ok": False, "error": type(exc).__name__}
    if not isinstance(result, dict):
        return {"ok": False, "error": "probe returned no report"}
    cleaned: dict[str, Any] = _without_secrets(result)
    cleaned["ok"] = result.get("ok") is True
    return cleaned


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): _without_secrets(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))
        }
    if isinstance(value, list | tuple):
        return [_without_secrets(v) for v in value]
    if isinstance(value, str):
        # Reports may quote what a peer sent (an AMI error): one line, bounded.
        return one_line(_URL_CREDENTIALS.sub("***@", value))
    if value is None or isinstance(value, bool | int | float):
        return value
    return one_line(value)
