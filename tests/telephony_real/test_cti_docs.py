"""docs/cti.md's "Connecting a real Asterisk", followed as written on the real Asterisk.

The settings block of the docs is read from docs/cti.md itself (so the docs cannot drift
from what works): its ``[asterisk]`` section replaces the shipped one in the operator's
``config/contact-center.toml``, with the placeholders an operator fills in (host, port,
secret) set to the test Asterisk's. Asterisk runs the shipped dialplan and AMI snippet;
the agents were added with ``contact-center users add ... --extension`` (step 3); an
agent made ready through the API then takes a caller of each shipped queue, and a
caller of a DID whose queue the router does not have is sent to ``[cc-unroutable]``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.telephony_real.harness import Flow
from tests.telephony_real.kit import PROJECT, PlannedCall
from tests.telephony_real.product import AMI_SECRET, AMI_USER

pytestmark = [pytest.mark.asterisk, pytest.mark.integration, pytest.mark.slow]

DOCS = PROJECT / "docs" / "cti.md"


def setup_section() -> str:
    text = DOCS.read_text()
    start = text.index("## Connecting a real Asterisk")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def settings_block() -> str:
    """The first TOML block of the set-up steps, without its indentation."""
    match = re.search(r"```toml\n(.*?)```", setup_section(), re.DOTALL)
    assert match, "docs/cti.md: no ```toml block under 'Connecting a real Asterisk'"
    lines = match.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines) + "\n"


def operator_settings(block: str, *, port: int) -> str:
    """The block with the placeholders filled in, as the operator would (nothing else)."""
    data = tomllib.loads(block)
    (server,) = data["asterisk"]["servers"]
    filled = block
    for key, value in (
        ("host", '"127.0.0.1"'),
        ("port", str(port)),
        ("username", f'"{AMI_USER}"'),
        ("secret", f'"{AMI_SECRET}"'),
    ):
        assert key in server, f"docs/cti.md's [[asterisk.servers]] has no {key}"
        filled = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", filled, count=1)
    return filled


def with_asterisk_section(shipped: str, block: str) -> str:
    """``shipped`` with its ``[asterisk]`` table (up to the next table) replaced by ``block``."""
    start = shipped.index("\n[asterisk]\n") + 1
    end = re.compile(r"^\[(?!asterisk)", re.MULTILINE).search(shipped, start)
    assert end is not None
    return shipped[:start] + block + "\n" + shipped[end.start() :]


def test_the_settings_block_is_valid_and_complete() -> None:
    """Every key in the block is a setting; every [asterisk] setting is in the block."""
    from contact_center.settings import AsteriskSettings, load_settings

    block = settings_block()
    data: dict[str, Any] = tomllib.loads(block)
    documented = set(data["asterisk"]) - {"servers"}
    assert documented == set(AsteriskSettings.model_fields) - {"servers"}
    path = Path(DOCS.parent.parent / "config" / "contact-center.toml")
    merged = with_asterisk_section(path.read_text(), operator_settings(block, port=5038))
    settings = load_settings_from_text(merged, load_settings)
    (server,) = settings.asterisk.servers
    assert (server.name, server.host, server.port, server.md5_auth) == (
        "pbx1",
        "127.0.0.1",
        5038,
        data["asterisk"]["servers"][0]["md5_auth"],
    )


def load_settings_from_text(text: str, load: Any) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contact-center.toml"
        path.write_text(text)
        return load(path, environ={})


def test_connecting_a_real_asterisk_as_written(flow: Flow) -> None:
    config = flow.home / "config" / "contact-center.toml"
    block = operator_settings(settings_block(), port=flow.kit.ami_port)
    config.write_text(with_asterisk_section(config.read_text(), block))
    flow.phones.start("1001", "answer", ring_ms=300)
    product = flow.start_product()
    health = product.asterisk_health()
    assert (health["server"], health["logged_in"], health["ok"]) == ("pbx1", True, True), health
    flow.ready("1001")
    # 100 is support, 200 sales (the shipped dialplan and [routing.queues]).
    flow.callers.place([PlannedCall("5558001", 0, 2500)], service="100")
    flow.wait_bridged("5558001")
    first = flow.callers.wait(20)
    assert first.successful == 1, first.summary()
    flow.callers.place([PlannedCall("5558002", 0, 2500)], service="200")
    flow.wait_bridged("5558002")
    led = flow.finish(served=["5558001", "5558002"])
    assert [led.bridged_agents(c) for c in led.callers_by_arrival()] == [["1001"], ["1001"]]
