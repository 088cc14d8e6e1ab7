"""The wallboard over REST: the current board and the staffing what-if (docs/api.md).

The live board travels over the hub (topic ``wallboard``); ``GET /api/v1/wallboard``
gives the same object for integrations and tests. ``POST /api/v1/wallboard/staffing``
answers "how many agents for this queue's target" with any input replaced.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from agent_ui.hub.wiring import HUB
from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, services_of
from agent_ui.schemas import StaffingWhatIf
from contact_center import staffing
from contact_center.contact_reports import thresholds_of
from contact_center.errors import ServiceUnavailable
from contact_center.metrics import Thresholds
from contact_center.wallboard import Wallboard, staffing_view
from routing.errors import NoSuchQueue

# Rows of the what-if table beyond the agents needed.
TABLE_EXTRA = 3


class WallboardNotRunning(ServiceUnavailable):
    error_id = "wallboard-not-running"


def _wallboard(request: web.Request) -> Wallboard:
    hub = request.app.get(HUB)
    if hub is None or hub.wallboard is None:
        raise WallboardNotRunning("this server has no wallboard")
    return hub.wallboard


async def get_wallboard(request: web.Request) -> web.StreamResponse:
    board = await _wallboard(request).board()
    return json_response(msgspec.to_builtins(board))


async def staffing_what_if(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, StaffingWhatIf)
    queues = services.settings.routing.get("queues", {})
    if body.queue not in queues:
        raise NoSuchQueue(f"there is no queue {body.queue!r}", details={"queue": body.queue})
    board = await _wallboard(request).board()
    live = next(
        (s for s in board.staffing if s.queue == body.queue and s.channel == body.channel), None
    )
    row = next(
        (q for q in board.queues if q.queue == body.queue and q.channel == body.channel), None
    )
    target = thresholds_of(services.settings.routing)(body.queue)
    rate = body.arrival_rate_per_hour
    if rate is None:
        rate = live.arrival_rate_per_hour if live is not None else 0.0
    aht = body.aht_seconds
    if aht is None:
        aht = live.aht_seconds if live is not None else (row.aht_seconds if row else None)
    agents_now = live.agents_now if live is not None else 0
    if live is None and row is not None:
        agents_now = row.agents.ready + row.agents.busy + row.agents.wrap_up
    agents = body.agents if body.agents is not None else agents_now
    wanted = Thresholds(
        service_level_seconds=body.target_seconds or target.service_level_seconds,
        service_level_percent=body.target_service_level or target.service_level_percent,
        short_abandon_seconds=target.short_abandon_seconds,
    )
    patience = body.patience_seconds
    if patience is None and live is not None:
        patience = live.patience_seconds
    view = staffing_view(
        body.queue,
        rate_per_hour=rate,
        aht_seconds=aht,
        target=wanted,
        agents_now=agents,
        channel=body.channel,
        patience=patience,
    )
    answer: dict[str, Any] = msgspec.to_builtins(view)
    answer["asa_seconds"] = answer["occupancy_percent"] = None
    answer["table"] = []
    if aht is None or aht <= 0 or rate <= 0:
        return json_response(answer)
    needed = view.agents_needed or agents
    up_to = max(needed, agents) + TABLE_EXTRA
    if patience is None:
        rows = staffing.table(
            rate_per_hour=rate, aht_seconds=aht, target_seconds=wanted.service_level_seconds,
            up_to=up_to,
        )  # fmt: skip
        table = [
            {"agents": r.agents, "service_level_percent": r.service_level_percent,
             "asa_seconds": _finite(r.asa_seconds), "occupancy_percent": r.occupancy_percent}
            for r in rows
        ]  # fmt: skip
    else:
        # Erlang A answers for any number of agents: from a few under the fewer of the two.
        first = max(1, min(needed, agents) - TABLE_EXTRA)
        judged = [
            staffing.evaluate_with_abandons(
                n, rate_per_hour=rate, aht_seconds=aht, patience=patience,
                target_seconds=wanted.service_level_seconds,
            )
            for n in range(first, up_to + 1)
        ]  # fmt: skip
        table = [
            {"agents": r.agents, "service_level_percent": r.service_level_percent,
             "asa_seconds": r.average_wait_seconds, "occupancy_percent": r.occupancy_percent,
             "abandon_percent": r.abandon_percent}
            for r in judged
        ]  # fmt: skip
    answer["table"] = table
    mine = next((row for row in table if row["agents"] == agents), None)
    if mine is not None:
        answer["asa_seconds"] = mine["asa_seconds"]
        answer["occupancy_percent"] = mine["occupancy_percent"]
    return json_response(answer)


def _finite(value: float) -> float | None:
    return None if value == float("inf") else value
