"""Fixtures of the real-Asterisk tests.

Once per session: Asterisk from the shared kit with the product's dialplan and AMI user
(``asterisk_kit``), the tests' own AMI monitor logged in as the kit's ``cc`` user
(``ami_monitor``), and an operator home with three agents and their API tokens
(``operator_home``). Per test: a copy of that home, this test's sipp phones and callers,
and the product started by the test (``flow``).

Without the kit or a built Asterisk these tests skip with the reason; under
``CC_REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.telephony_real.ami import AmiMonitor
from tests.telephony_real.harness import RING_TIMEOUT, Flow
from tests.telephony_real.kit import (
    MONITOR_SECRET,
    MONITOR_USER,
    AsteriskKit,
    find_kit,
    find_prefix,
)
from tests.telephony_real.product import make_home


def _kit_unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"real-Asterisk tests are required (CC_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(f"real-Asterisk tests: {reason}")


def _run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir whose control socket path fits a Unix socket (108 bytes)."""
    path = tmp_path_factory.mktemp("asterisk")
    if len(str(path / "run" / "asterisk.ctl")) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="cc-ast-"))


@pytest.fixture(scope="session")
def asterisk_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskKit]:
    test_kit, why = find_kit()
    if test_kit is None:
        _kit_unavailable(why)
    prefix, why = find_prefix()
    if prefix is None:
        _kit_unavailable(why)
    assert test_kit is not None and prefix is not None
    offset = int(os.environ.get("CC_AST_PORT_OFFSET") or 0)
    kit = AsteriskKit(test_kit, prefix, _run_dir(tmp_path_factory), offset)
    kit.start()
    try:
        kit.cli(f"dialplan set global CC_AGENT_RING_TIMEOUT {RING_TIMEOUT}")
        kit.cli(f"dialplan set global CC_FASTAGI agi://127.0.0.1:{kit.fastagi_port}")
        yield kit
    finally:
        kit.stop()


@pytest.fixture(scope="session")
def ami_monitor(asterisk_kit: AsteriskKit) -> Iterator[AmiMonitor]:
    monitor = AmiMonitor("127.0.0.1", asterisk_kit.ami_port, MONITOR_USER, MONITOR_SECRET)
    monitor.connect()
    try:
        yield monitor
    finally:
        monitor.close()


@pytest.fixture(scope="session")
def operator_home(
    asterisk_kit: AsteriskKit, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A CC_HOME made with the operator's commands, copied by each test."""
    home = tmp_path_factory.mktemp("cc-home") / "home"
    return home, make_home(home)


@pytest.fixture
def flow(
    asterisk_kit: AsteriskKit,
    ami_monitor: AmiMonitor,
    operator_home: tuple[Path, dict[str, str]],
    tmp_path: Path,
) -> Iterator[Flow]:
    template, tokens = operator_home
    home = tmp_path / "home"
    shutil.copytree(template, home)
    asterisk_kit.hang_up_everything()
    flow = Flow(asterisk_kit, ami_monitor, home, tokens, tmp_path / "sipp")
    try:
        yield flow
    finally:
        flow.close()
