"""``server.workers``: several ``serve`` processes on one port, allowed only where every
piece of state is shared through Redis, refused with one line elsewhere.

The served case runs on PostgreSQL and on SQLite, each with Redis: both workers answer
on the one port (their router node ids tell them apart), exactly one leads the
router, a browser session made on one worker is honoured by the other, and SIGTERM
stops them all."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contact_center.serve_workers import refusal, worker_settings
from contact_center.settings import Settings
from tests.contact_center.test_serve_on_postgres_and_redis import (
    _cli,
    _environment,
    _free_port,
    namespace_of,  # noqa: F401 - a fixture used below
)

CLI = str(Path(sys.executable).with_name("contact-center"))
PASSWORD = "a long admin password"
START_SECONDS = 40.0


def _settings(**sections: dict[str, Any]) -> Settings:
    return Settings().with_overrides(**sections)


# ------------------------------------------------------------------ where allowed


def test_one_worker_is_always_allowed() -> None:
    assert refusal(_settings()) is None


def test_several_workers_need_redis() -> None:
    reason = refusal(_settings(server={"workers": 2}))
    assert reason is not None and "redis.url" in reason


def test_several_workers_need_the_router_on_redis() -> None:
    settings = _settings(
        server={"workers": 2}, redis={"url": "redis://127.0.0.1:6379/0"}
    ).model_copy(update={"routing": {"backend": "memory"}})
    reason = refusal(settings)
    assert reason is not None and "router on Redis" in reason


def test_several_workers_refuse_asterisk_links() -> None:
    settings = _settings(
        server={"workers": 2},
        redis={"url": "redis://127.0.0.1:6379/0"},
        asterisk={"servers": [{"host": "127.0.0.1", "username": "cc", "secret": "s3cret"}]},
    )
    reason = refusal(settings)
    assert reason is not None and "asterisk.servers" in reason


def test_several_workers_need_a_fixed_port() -> None:
    settings = _settings(server={"workers": 2, "port": 0}, redis={"url": "redis://h:6379/0"})
    reason = refusal(settings)
    assert reason is not None and "fixed port" in reason


def test_shared_state_on_redis_allows_workers() -> None:
    assert refusal(_settings(server={"workers": 4}, redis={"url": "redis://h:6379/0"})) is None


def test_each_worker_gets_its_own_router_node_id() -> None:
    settings = _settings(server={"workers": 2, "node_id": "web1"})
    assert worker_settings(settings, 0).server.node_id == "web1-0"
    assert worker_settings(settings, 1).server.node_id == "web1-1"
    # Without a node id each router node draws a random one already.
    assert worker_settings(_settings(), 1).server.node_id == ""


def test_serve_refuses_workers_without_redis_in_one_line(tmp_path: Path) -> None:
    env = _environment(
        CC_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}", CC_SERVER_WORKERS="2"
    )
    _cli(tmp_path, env, "db", "upgrade")
    refused = subprocess.run(
        [CLI, "serve", "--port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "contact-center: workers-refused: server.workers = 2: several workers need Redis"
        )
    )
    assert "Traceback" not in refused.stderr


# ------------------------------------------------------------------ served


def _get(port: int, path: str, cookie: str | None = None) -> tuple[int, Any, str | None]:
    """One request on a new connection (so SO_REUSEPORT may pick either worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Set-Cookie")
    finally:
        connection.close()


def _login(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps({"username": "admin", "password": PASSWORD})
        connection.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        cookie = response.getheader("Set-Cookie") or ""
        return cookie.split(";", 1)[0]
    finally:
        connection.close()


def _nodes_answering(port: int, server: subprocess.Popen[str], log: Path) -> dict[str, bool]:
    """Router node id -> leading, for every worker seen answering /status, polled on
    new connections until two workers answered ok and one of them leads."""
    deadline = time.monotonic() + START_SECONDS
    nodes: dict[str, bool] = {}
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}: {log.read_text()}")
        try:
            _code, body, _cookie = _get(port, "/status")
        except OSError:
            time.sleep(0.1)  # not listening yet
            continue
        if body.get("ok") is True:
            routing = body["services"]["routing"]
            nodes[routing["node_id"]] = routing["leading"]
        if len(nodes) == 2 and any(nodes.values()):
            return nodes
        time.sleep(0.05)
    pytest.fail(f"two workers did not both answer within {START_SECONDS:g} s: {nodes}")


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    import asyncpg

    from tests.conftest import POSTGRES_ADMIN_URL, run_coroutine

    name = f"cc_workers_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_coroutine(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        run_coroutine(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.integration
@pytest.mark.slow
def test_two_workers_share_one_port_and_the_state(
    tmp_path: Path,
    database: str,
    redis_url: str,
    namespace_of: list[str],  # noqa: F811 - the fixture imported above
) -> None:
    namespace = f"cctest-workers-{uuid.uuid4().hex[:10]}"
    namespace_of.append(namespace)
    env = _environment(
        CC_DATABASE_URL=database,
        CC_REDIS_URL=redis_url,
        CC_REDIS_NAMESPACE=namespace,
        CC_SERVER_WORKERS="2",
        CC_SERVER_NODE_ID="web",
    )
    _cli(tmp_path, env, "db", "upgrade")
    _cli(
        tmp_path, env, "users", "add", "admin", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    port, log, server = _start(tmp_path, env)
    try:
        nodes = _nodes_answering(port, server, log)
        assert set(nodes) == {"web-0", "web-1"}
        assert sorted(nodes.values()) == [False, True]  # one leader for the router

        # A session made on one worker is good on every worker (sessions on Redis).
        cookie = _login(port)
        seen: set[str] = set()
        for _ in range(40):
            code, body, _ = _get(port, "/api/v1/auth/me", cookie)
            assert code == 200, body
            assert body["user"]["username"] == "admin"
            _code, status, _ = _get(port, "/status")
            seen.add(status["services"]["routing"]["node_id"])
        assert seen == {"web-0", "web-1"}

        workers = _children(server.pid)
        assert len(workers) == 2
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, log.read_text()
        assert not any(_alive(pid) for pid in workers)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.integration
@pytest.mark.slow
def test_a_worker_that_dies_stops_the_others(
    tmp_path: Path,
    redis_url: str,
    namespace_of: list[str],  # noqa: F811 - the fixture imported above
) -> None:
    namespace = f"cctest-workers-{uuid.uuid4().hex[:10]}"
    namespace_of.append(namespace)
    env = _environment(
        CC_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        CC_REDIS_URL=redis_url,
        CC_REDIS_NAMESPACE=namespace,
        CC_SERVER_WORKERS="2",
    )
    _cli(tmp_path, env, "db", "upgrade")
    port, log, server = _start(tmp_path, env)
    try:
        _nodes_answering(port, server, log)
        first, second = _children(server.pid)
        os.kill(first, signal.SIGKILL)
        # Not left running short-handed: the service manager sees the failure.
        assert server.wait(timeout=60) != 0
        assert not _alive(second)
        assert "exited with status -9: stopping" in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[int, Path, subprocess.Popen[str]]:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return port, log, server


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
