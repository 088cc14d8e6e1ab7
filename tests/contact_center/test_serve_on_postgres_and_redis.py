"""README, "Running on PostgreSQL and Redis", end to end: a role and a database of their
own, ``db upgrade``, ``users add``, ``serve`` as a process, then ``/status``: every
piece of shared state on Redis under the deployment's namespace, and a second
deployment on another database refused that namespace with a one-line error."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contact_center.deployment import redis_namespace
from contact_center.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL, run_coroutine

CLI = str(Path(sys.executable).with_name("contact-center"))
PASSWORD = "a long admin password"
START_SECONDS = 30.0

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    """As the README has it: a login role with a password, owning a new database."""
    import asyncpg

    name = f"cc_readme_{uuid.uuid4().hex[:10]}"
    secret = uuid.uuid4().hex
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(*statements: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    run_coroutine(
        run(
            f"CREATE ROLE {name} LOGIN PASSWORD '{secret}'",
            f"CREATE DATABASE {name} OWNER {name}",
        )
    )
    host = postgres_url.split("@", 1)[1].split("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{name}:{secret}@{host}/{name}"
    finally:
        run_coroutine(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"DROP ROLE {name}"))


@pytest.fixture
def namespace_of(redis_url: str) -> Iterator[list[str]]:
    """Derived namespaces whose Redis keys are deleted after the test."""
    namespaces: list[str] = []
    yield namespaces

    async def clean() -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        try:
            for namespace in namespaces:
                keys = [k async for k in client.scan_iter(match=f"*{namespace}*", count=1000)]
                if keys:
                    await client.delete(*keys)
        finally:
            await client.aclose()

    run_coroutine(clean())


def _environment(**variables: str) -> dict[str, str]:
    # Only the settings named here: none inherited from the shell running the tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_") or k == "CC_ROUTING_PURE"}
    return env | variables


def _cli(cwd: Path, env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [CLI, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if body is None:
            connection.request("GET", path)
        else:
            headers = {"Content-Type": "application/json"}
            connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _status_when_ok(port: int, server: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    """/status once every probe is ok (polled until a deadline: the router leads a
    moment after the server listens)."""
    deadline = time.monotonic() + START_SECONDS
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}: {log.read_text()}")
        try:
            _code, body = _request(port, "/status")
        except OSError:
            body = {}  # not listening yet
        if body.get("ok") is True:
            return body
        time.sleep(0.1)
    pytest.fail(f"/status not ok within {START_SECONDS:g} s: {body}")


def test_readme_commands_serve_on_postgresql_and_redis(
    tmp_path: Path, own_database: str, redis_url: str, namespace_of: list[str]
) -> None:
    namespace = redis_namespace(
        Settings().with_overrides(database={"url": own_database}, redis={"url": redis_url})
    )
    namespace_of.append(namespace)
    env = _environment(CC_DATABASE_URL=own_database, CC_REDIS_URL=redis_url)

    assert "database at revision" in _cli(tmp_path, env, "db", "upgrade")
    added = _cli(
        tmp_path, env, "users", "add", "admin", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.startswith("added admin")

    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        services = _status_when_ok(port, server, log)["services"]
        backends = {
            name: report["backend"] for name, report in services.items() if "backend" in report
        }
        assert backends == {
            "database": "postgresql",
            "routing": "redis",
            "bus": "redis",
            "sessions": "redis",
            "login_throttle": "redis",
        }
        assert services["routing"]["leading"] is True
        assert services["routing"]["keys"] == f"{{cc:{namespace}:default}}:*"
        assert services["bus"]["channel"] == f"{{cc:{namespace}}}:events"
        assert services["sessions"]["keys"] == f"cc:{namespace}:session:*"
        assert services["login_throttle"]["keys"] == f"cc:{namespace}:login-attempts:*"
        assert PASSWORD not in log.read_text()

        login = {"username": "admin", "password": PASSWORD}
        code, body = _request(port, "/api/v1/auth/login", login)
        assert code == 200, body
        assert body["user"]["role"] == "admin"

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # Another deployment, on a database of its own, told to use the same namespace.
    other = _environment(
        CC_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'other.db'}",
        CC_REDIS_URL=redis_url,
        CC_REDIS_NAMESPACE=namespace,
    )
    _cli(tmp_path, other, "db", "upgrade")
    refused = subprocess.run(
        [CLI, "serve", "--port", str(_free_port())],
        cwd=tmp_path, env=other, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("contact-center: redis-namespace-in-use: ")
    assert f"'{namespace}'" in lines[-1] and "Traceback" not in refused.stderr
