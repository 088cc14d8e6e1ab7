"""The product run the way an operator runs it: ``contact-center`` commands and ``serve``.

A home directory (``CC_HOME``) holds ``config/contact-center.toml`` (the shipped file)
and the SQLite database; agents are made with ``contact-center users add ...
--extension 1001 --password-stdin`` and get API tokens from ``users token``. The
server is ``contact-center serve`` as a subprocess, told where Asterisk is with the
``CC_AMI_*`` variables, and driven only through its HTTP API (``/status``,
``PUT /api/v1/agents/me/state``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.telephony_real.kit import AGENT_EXTENSIONS, PROJECT

CLI = Path(sys.executable).with_name("contact-center")
AMI_USER, AMI_SECRET = "cc-product", "cc-product-secret"
PHONE_DOWN_REASON = "phone-unreachable"


def username(extension: str) -> str:
    return f"agent{extension}"


def _cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env["CC_HOME"] = str(home)
    return env


def contact_center(home: Path, *args: str, stdin: str = "") -> str:
    """Run one ``contact-center`` command against ``home``; its stdout."""
    result = subprocess.run(
        [str(CLI), *args],
        env=_cli_env(home),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"contact-center {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def make_home(home: Path) -> dict[str, str]:
    """A new operator home with agents agent1001..agent1003; their API tokens."""
    (home / "config").mkdir(parents=True)
    shutil.copy(PROJECT / "config" / "contact-center.toml", home / "config")
    contact_center(home, "db", "upgrade")

    def add_agent(ext: str) -> str:
        contact_center(
            home,
            "users",
            "add",
            username(ext),
            "--role",
            "agent",
            "--extension",
            ext,
            "--password-stdin",
            stdin=f"password-{ext}-2026\n",
        )
        return contact_center(home, "users", "token", username(ext)).strip()

    # In order, so that agent1001 is user (and router agent) 1, and so on.
    return {ext: add_agent(ext) for ext in AGENT_EXTENSIONS}


def add_not_ready_reason(home: Path, reason: str) -> None:
    """Add ``reason`` to ``[routing] not_ready_reasons``, as docs/cti.md step 4 says."""
    path = home / "config" / "contact-center.toml"
    text = path.read_text()
    old = 'not_ready_reasons = ["break", "lunch", "meeting", "training"]'
    assert old in text, "the shipped contact-center.toml changed its not_ready_reasons line"
    path.write_text(text.replace(old, old[:-1] + f', "{reason}"]'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ContactCenter:
    """One ``contact-center serve`` process (restartable) and its HTTP API."""

    def __init__(
        self,
        home: Path,
        tokens: Mapping[str, str],
        *,
        ami_port: int,
        fastagi_port: int = 0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.settings = dict(settings or {})
        self.tokens = dict(tokens)
        self.ami_port = ami_port
        self.fastagi_port = fastagi_port
        self.http_port = free_port()
        self.log_path = home / "serve.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, timeout: float = 30) -> None:
        assert self._proc is None or self._proc.poll() is not None, "already running"
        env = _cli_env(self.home)
        env.update(
            CC_SERVER_PORT=str(self.http_port),
            CC_AMI_HOST="127.0.0.1",
            CC_AMI_PORT=str(self.ami_port),
            CC_AMI_USERNAME=AMI_USER,
            CC_AMI_SECRET=AMI_SECRET,
        )
        if self.fastagi_port:
            env["CC_ASTERISK_FASTAGI_PORT"] = str(self.fastagi_port)
        env.update(self.settings)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [str(CLI), "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_in_sync(timeout)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without any clean-up."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        kept = [line for line in text if "aiohttp.access" not in line]
        return "\n".join(kept[-lines:])

    def life_log(self) -> list[str]:
        """The contact life log lines (``contact <id> <step> ...``) of every run."""
        if not self.log_path.exists():
            return []
        return [
            line.split("contact_center.history.life: ", 1)[1]
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "contact_center.history.life: " in line
        ]

    # ------------------------------------------------------------------ HTTP

    def _request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        _, body = self._request("GET", "/status")
        return dict(body)

    def asterisk_health(self) -> dict[str, Any]:
        servers = self.status()["services"]["asterisk"]["servers"]
        assert len(servers) == 1, servers
        return dict(servers[0])

    def wait_status(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll ``/status`` (every 0.1 s, with a deadline) until ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        last: Any = "no answer"
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise AssertionError(
                    f"contact-center serve exited ({self._proc.returncode}) while waiting for "
                    f"{what}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                last = self.status()
                if predicate(last):
                    return dict(last)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/status did not show {what} within {timeout:.0f} s; last: {last}\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)  # polling /status with a deadline

    def wait_in_sync(self, timeout: float = 30) -> dict[str, Any]:
        """Wait until the AMI link is logged in and its resync is done."""
        return self.wait_status(
            lambda s: all(server.get("in_sync") for server in s["services"]["asterisk"]["servers"]),
            timeout=timeout,
            what="the AMI link logged in and in sync",
        )

    def set_state(self, extension: str, state: str, reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state}
        if reason:
            body["reason"] = reason
        code, reply = self._request(
            "PUT", "/api/v1/agents/me/state", body, token=self.tokens[extension]
        )
        assert code == 200, f"PUT state {state} for {extension}: {code} {reply}"
        return dict(reply)

    def state(self, extension: str) -> dict[str, Any]:
        code, reply = self._request("GET", "/api/v1/agents/me/state", token=self.tokens[extension])
        assert code == 200, f"GET state of {extension}: {code} {reply}"
        return dict(reply)

    def request(self, method: str, path: str, body: Any = None, *, token: str) -> tuple[int, Any]:
        """One API request with a bearer token: the status and the decoded body."""
        return self._request(method, path, body, token=token)
