"""The shared Asterisk test kit (``../shared/asterisk``), driven from Python.

Nothing of the kit is copied into the project: its scripts run where they are (the
directory may be read-only) and write their run files under a temp dir
(``CC_AST_RUN``). Asterisk runs with the product's own dialplan and AMI user
(``config/asterisk/extensions_cc.conf``, ``manager_cc.conf``); sipp plays the agent
phones (``agent-uas.sh``) and the callers (``place-call.sh --plan``).

Locating the kit: ``CC_AST_KIT`` (the kit directory, or its ``test-kit``), else
``../shared/asterisk`` next to the project. Asterisk: ``CC_AST_PREFIX`` (default the
kit's ``/var/cache/cc-asterisk/22.10.1``). Ports: ``CC_AST_PORT_OFFSET`` (default 0)
is added to every kit port, for a second Asterisk on the same machine.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_PREFIX = Path("/var/cache/cc-asterisk/22.10.1")
AGENT_EXTENSIONS = ("1001", "1002", "1003")
PHONES = (*AGENT_EXTENSIONS, "1901", "customer")
ANSWERING_MODES = ("answer", "answer-hangup")
# The kit's own AMI user (read/write all); the product logs in as cc-product.
MONITOR_USER, MONITOR_SECRET = "cc", "cc-secret"


def find_kit(env: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """The kit's ``test-kit`` directory, or ``None`` and why it was not found."""
    named = env.get("CC_AST_KIT")
    base = Path(named) if named else PROJECT.parent / "shared" / "asterisk"
    for candidate in (base / "test-kit", base):
        if (candidate / "run-asterisk.sh").is_file():
            return candidate, ""
    source = f"CC_AST_KIT={named}" if named else f"{base} (set CC_AST_KIT to use another)"
    return None, f"no Asterisk test kit (test-kit/run-asterisk.sh) at {source}"


def find_prefix(env: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """The Asterisk install prefix, or ``None`` and why it cannot be used."""
    prefix = Path(env.get("CC_AST_PREFIX") or DEFAULT_PREFIX)
    if not os.access(prefix / "sbin" / "asterisk", os.X_OK):
        return None, (
            f"no Asterisk built at {prefix} (run ../shared/asterisk/build.sh, or set CC_AST_PREFIX)"
        )
    if shutil.which("sipp") is None:
        return None, "sipp is not installed (../shared/asterisk/build.sh installs it)"
    return prefix, ""


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedCall:
    """One caller: its number, when it calls (ms after the sipp start), how long it
    stays after Asterisk answers (ms; -1: until the far end hangs up)."""

    number: str
    start_ms: int = 0
    hold_ms: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class CallerResult:
    returncode: int
    stats: Mapping[str, str]
    errors: str

    @property
    def successful(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)", "0"))

    @property
    def failed(self) -> int:
        return int(self.stats.get("FailedCall(C)", "0"))

    def summary(self) -> str:
        reasons = {
            k: v
            for k, v in self.stats.items()
            if k.startswith("Failed") and k.endswith("(C)") and v not in ("", "0")
        }
        return (
            f"sipp caller exit {self.returncode}: {self.successful} calls as scripted, "
            f"{self.failed} failed {reasons or ''}"
            + (f"\nsipp errors:\n{self.errors[-1500:]}" if self.errors.strip() else "")
        )


class AsteriskKit:
    """Start/stop the kit's Asterisk and run its scripts with one set of variables."""

    def __init__(
        self,
        test_kit: Path,
        prefix: Path,
        run_dir: Path,
        offset: int,
        *,
        dialplan: Path = PROJECT / "config" / "asterisk" / "extensions_cc.conf",
    ) -> None:
        self.test_kit = test_kit
        # The dialplan Asterisk runs (the product's own, unless a bench adds to a copy).
        self.dialplan = dialplan
        self.prefix = prefix
        self.run_dir = run_dir
        self.offset = offset
        self.ami_port = 5038 + offset
        self.sip_port = 5060 + offset
        # The product's FastAGI port (the dialplan's CC_FASTAGI is set to it).
        self.fastagi_port = 4573 + offset

    def env(self, sipp_dir: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CC_AST_PREFIX=str(self.prefix),
            CC_AST_RUN=str(self.run_dir),
            CC_AST_PORT_OFFSET=str(self.offset),
            CC_AST_DIALPLAN=str(self.dialplan),
            CC_AST_MANAGER_SNIPPET=str(PROJECT / "config" / "asterisk" / "manager_cc.conf"),
            CC_SIPP_DIR=str(sipp_dir or self.run_dir / "sipp"),
        )
        return env

    def run(
        self, script: str, *args: str, sipp_dir: Path | None = None, timeout: float = 60
    ) -> str:
        result = subprocess.run(
            ["bash", str(self.test_kit / script), *args],
            env=self.env(sipp_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{script} {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def start(self) -> None:
        self.run("run-asterisk.sh", "start", timeout=90)

    def stop(self) -> None:
        self.run("run-asterisk.sh", "stop", timeout=60)

    def cli(self, command: str) -> str:
        return self.run("run-asterisk.sh", "cli", command, timeout=30)

    def channel_count(self) -> int:
        out = self.cli("core show channels count")
        match = re.search(r"^(\d+) active channels?", out, re.MULTILINE)
        assert match, f"unexpected 'core show channels count' output: {out!r}"
        return int(match.group(1))

    def channel_list(self) -> str:
        return self.cli("core show channels concise").strip()

    def wait_no_channels(self, timeout: float) -> int:
        """Wait until Asterisk has no channel left; the count at the end."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.channel_count()
            if count == 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.2)  # polling Asterisk's count with a deadline

    def hang_up_everything(self) -> None:
        """Clean-up between tests: end whatever a failed test left on Asterisk."""
        if self.channel_count():
            self.cli("channel request hangup all")
            self.wait_no_channels(10)


class Phones:
    """The sipp phones of one test (``agent-uas.sh``), stopped by ``stop_all``."""

    def __init__(self, kit: AsteriskKit, sipp_dir: Path) -> None:
        self.kit = kit
        self.sipp_dir = sipp_dir
        self.modes: dict[str, str] = {}

    def start(
        self, extension: str, mode: str = "answer", *, ring_ms: int = 300, talk_ms: int = 3000
    ) -> None:
        assert extension in PHONES, extension
        self.kit.run(
            "agent-uas.sh",
            "start",
            extension,
            "--mode",
            mode,
            "--ring-ms",
            str(ring_ms),
            "--talk-ms",
            str(talk_ms),
            sipp_dir=self.sipp_dir,
        )
        self.modes[extension] = mode

    def answers(self, extension: str) -> bool:
        return self.modes.get(extension) in ANSWERING_MODES

    def stop_all(self) -> None:
        """Stop this test's phones. sipp takes about 2 s to obey the kit's SIGTERM, so
        the phones (only the pids in this test's pid files) get SIGKILL first; the kit's
        ``stop all`` then finds them gone and clears the pid files."""
        for pid_file in self.sipp_dir.glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sipp":
                    os.kill(pid, signal.SIGKILL)
        self.kit.run("agent-uas.sh", "stop", "all", sipp_dir=self.sipp_dir)


class Callers:
    """One caller sipp at a time (the trunk is recognised by its source port)."""

    def __init__(self, kit: AsteriskKit, sipp_dir: Path) -> None:
        self.kit = kit
        self.sipp_dir = sipp_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._runs = 0

    def place(self, calls: Sequence[PlannedCall], *, service: str = "100") -> None:
        """Start the callers of ``calls`` (one sipp, in the background)."""
        assert self._proc is None or self._proc.poll() is not None, "a caller sipp still runs"
        self._runs += 1
        plan = self.sipp_dir / f"plan-{self._runs}.txt"
        plan.parent.mkdir(parents=True, exist_ok=True)
        plan.write_text("".join(f"{c.number};{c.start_ms};{c.hold_ms}\n" for c in calls))
        (self.sipp_dir / "caller.stat.csv").unlink(missing_ok=True)
        (self.sipp_dir / "caller.err.log").unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [
                "bash",
                str(self.kit.test_kit / "place-call.sh"),
                "--service",
                service,
                "--plan",
                str(plan),
            ],
            env=self.kit.env(self.sipp_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def placed(self) -> bool:
        return self._proc is not None

    def wait(self, timeout: float) -> CallerResult:
        """Wait for every call of the last ``place`` to end; sipp's verdict."""
        assert self._proc is not None, "no callers placed"
        try:
            rc = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the callers' calls did not all end within {timeout:.0f} s "
                f"(sipp still running; see {self.sipp_dir}/caller.out)"
            ) from None
        return CallerResult(rc, self._stats(), self._errors())

    def _stats(self) -> dict[str, str]:
        path = self.sipp_dir / "caller.stat.csv"
        if not path.exists():
            return {}
        rows = list(csv.reader(path.read_text().splitlines(), delimiter=";"))
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}

    def _errors(self) -> str:
        path = self.sipp_dir / "caller.err.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(5)


@contextlib.contextmanager
def running_asterisk(kit: AsteriskKit) -> Iterator[AsteriskKit]:
    kit.start()
    try:
        yield kit
    finally:
        kit.stop()
