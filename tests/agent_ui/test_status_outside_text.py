"""/status never echoes a peer's text unbounded or over several lines."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from contact_center.services import Services


async def test_given_a_probe_quoting_a_huge_multiline_error_then_status_is_bounded(
    services: Services, aiohttp_client: Any
) -> None:
    async def forged() -> dict[str, Any]:
        return {"ok": False, "last_error": "denied\nforged " + "z" * 100_000}

    services.health["asterisk"] = forged
    from agent_ui.wiring import setup

    app = web.Application()
    setup(app, services)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    response = await client.get("/status")
    body = await response.text()
    assert response.status == 503
    assert len(body) < 2000
    report = (await response.json())["services"]["asterisk"]["last_error"]
    assert "\n" not in report and report.startswith("denied\\nforged")


async def test_given_a_fake_asterisk_forging_a_login_rejection_then_log_and_status_stay_one_line(
    services: Services, aiohttp_client: Any
) -> None:
    import asyncio
    import io
    import logging

    from contact_center.outside_text import MESSAGE_LIMIT, EscapingFormatter
    from contact_center.settings import AsteriskServer
    from cti.connection import AmiLink, LinkState

    forged = "denied\n2026-12-07 04:00:00,000 INFO agent_ui: admin logged in\r" + "z" * 100_000

    async def posing_as_asterisk(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            writer.write(b"Asterisk Call Manager/9.0.0\r\n")
            login = await reader.readuntil(b"\r\n\r\n")
            action_id = next(
                line.split(b": ", 1)[1]
                for line in login.split(b"\r\n")
                if line.lower().startswith(b"actionid")
            )
            writer.write(
                b"Response: Error\r\nActionID: "
                + action_id
                + b"\r\nMessage: "
                + forged.encode()
                + b"\r\n\r\n"
            )
            await writer.drain()
            await reader.read()  # until the link hangs up
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(posing_as_asterisk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("cti").addHandler(handler)
    link = AmiLink(
        AsteriskServer(name="pbx1", port=port, secret="s"),
        reconnect_base=5,
        max_message_bytes=1_000_000,
    )
    try:
        link.start()
        await link.wait_health(lambda h: h.state is LinkState.LOGIN_REJECTED, timeout=5)
    finally:
        await link.stop()
        logging.getLogger("cti").removeHandler(handler)
        server.close()
        await server.wait_closed()

    async def probe() -> dict[str, Any]:
        return link.health().to_dict()

    services.health["asterisk"] = probe
    from agent_ui.wiring import setup

    app = web.Application()
    setup(app, services)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    response = await client.get("/status")
    body = await response.text()
    assert response.status == 503 and len(body) < 3000
    report = (await response.json())["services"]["asterisk"]["last_error"]
    assert report.startswith("login rejected: denied\\n2026-12-07") and "\n" not in report
    # Each record of the log is one line: the forged record is inside the ERROR line.
    lines = stream.getvalue().splitlines()
    assert lines and all(
        line.startswith(("ERROR ", "WARNING ", "INFO ", "DEBUG ")) for line in lines
    )
    assert not any(line.startswith("2026-12-07") for line in lines)
    assert max(len(line) for line in lines) < MESSAGE_LIMIT + 100
