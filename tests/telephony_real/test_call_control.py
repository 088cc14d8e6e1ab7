"""Call control from the console API on a real Asterisk: hold and resume, recording,
blind and attended transfer to another agent, hanging up, listen/whisper/barge and
click-to-dial, each checked on Asterisk's side and ending with ``Flow.finish``.

The sipp agent phones of the shared kit only answer, wait and hang up: they cannot
press hold or transfer. So every action is driven through the REST API, as the console
does (``/api/v1/calls/...`` with the agent's or supervisor's token), and the test
checks both the API's answer (the view as Asterisk reports it) and what Asterisk did
(its own AMI events, recorded by the tests' monitor, and the recording file on disk).

Callers stay on the line long enough for the flow (``hold_ms``), then hang up
themselves; a transferred or held caller is checked with ``served_in_turn`` (the agents
it was bridged with, in order) instead of "served exactly once".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.telephony_real.ami import AmiEvent
from tests.telephony_real.harness import Flow
from tests.telephony_real.kit import PlannedCall
from tests.telephony_real.product import contact_center

pytestmark = [pytest.mark.asterisk, pytest.mark.integration, pytest.mark.slow]

SUPERVISOR_EXTENSION = "1901"
WAIT = 15.0


def api(
    flow: Flow, method: str, path: str, body: Any = None, *, extension: str = "1001"
) -> tuple[int, dict[str, Any]]:
    code, reply = flow.product.request(method, f"/api/v1{path}", body, token=flow.tokens[extension])
    return code, dict(reply or {})


def add_supervisor(flow: Flow) -> None:
    """A supervisor with the kit's phone 1901, made the operator's way, and their token."""
    contact_center(
        flow.home,
        "users",
        "add",
        "sup1901",
        "--role",
        "supervisor",
        "--extension",
        SUPERVISOR_EXTENSION,
        "--password-stdin",
        stdin="password-1901-2026\n",
    )
    token = contact_center(flow.home, "users", "token", "sup1901").strip()
    flow.tokens[SUPERVISOR_EXTENSION] = token


def start(flow: Flow, *phones: str, settings: dict[str, str] | None = None) -> None:
    for extension in phones:
        flow.phones.start(extension, "answer", ring_ms=300)
    flow.start_product(settings=settings)


def answered(flow: Flow, number: str, agent: str = "1001", hold_ms: int = 20_000) -> str:
    """A caller served by ``agent`` (made ready alone), talking: its contact id."""
    flow.ready(agent)
    flow.callers.place([PlannedCall(number, start_ms=0, hold_ms=hold_ms)])
    bridged = flow.wait_bridged(number)
    server = flow.product.asterisk_health()["server"]
    contact = f"call-{server}:{bridged.get('Linkedid')}"
    view = wait_view(flow, contact, lambda v: v["state"] == "talking", extension=agent)
    assert view["agent_id"] is not None and view["extension"] == agent
    return contact


def wait_view(
    flow: Flow,
    contact: str,
    done: Any,
    *,
    extension: str = "1001",
    timeout: float = WAIT,
) -> dict[str, Any]:
    """Poll the call's view (with a deadline) until ``done(view)``."""
    deadline = time.monotonic() + timeout
    while True:
        code, view = api(flow, "GET", f"/calls/{contact}", extension=extension)
        if code == 200 and done(view):
            return view
        assert time.monotonic() < deadline, f"call view never matched: {code} {view}"
        time.sleep(0.1)  # polling the API with a deadline


def trunk_event(flow: Flow, number: str, name: str, what: str, **headers: str) -> AmiEvent:
    uid = flow.trunk_uniqueid(number)
    (event,) = flow.wait_event(
        lambda e: (
            e.name == name
            and e.get("Uniqueid") == uid
            and all(e.get(k) == v for k, v in headers.items())
        ),
        timeout=WAIT,
        what=what,
    )
    return event


def test_hold_and_resume_follow_asterisk(flow: Flow) -> None:
    start(flow, "1001")
    contact = answered(flow, "5551101", hold_ms=8000)

    code, view = api(flow, "POST", f"/calls/{contact}/hold")
    assert code == 200, view
    assert view["held"] is True and view["state"] == "held"
    trunk_event(flow, "5551101", "MusicOnHoldStart", "the caller hearing music on hold")

    code, view = api(flow, "POST", f"/calls/{contact}/resume")
    assert code == 200, view
    assert view["held"] is False and view["state"] == "talking"
    trunk_event(flow, "5551101", "MusicOnHoldStop", "the music on hold stopping")

    flow.finish(served_in_turn={"5551101": ["1001"]})


def test_recording_writes_a_file_on_the_asterisk_host(flow: Flow, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    start(flow, "1001", settings={"CC_ASTERISK_RECORDING_DIR": str(recordings)})
    contact = answered(flow, "5551201", hold_ms=8000)

    code, view = api(flow, "POST", f"/calls/{contact}/recording/start")
    assert code == 200, view
    assert view["recording"] is True
    assert view["recording_file"].startswith(str(recordings))
    flow.wait_event(lambda e: e.name == "MixMonitorStart", timeout=WAIT, what="MixMonitorStart")
    file = Path(view["recording_file"])
    deadline = time.monotonic() + WAIT
    # Past the 44-byte WAV header: half a second of the call's audio (8 kHz, 16 bit).
    while not (file.exists() and file.stat().st_size > 44 + 8000):
        assert time.monotonic() < deadline, f"no audio recorded: {list(recordings.iterdir())}"
        time.sleep(0.1)  # polling the file with a deadline
    code, view = api(flow, "POST", f"/calls/{contact}/recording/stop")
    assert code == 200, view
    assert view["recording"] is False
    (stopped,) = flow.wait_event(
        lambda e: e.name == "MixMonitorStop", timeout=WAIT, what="MixMonitorStop"
    )

    flow.finish(served=["5551201"])
    assert stopped.ts < flow.wait_hung_up("5551201").ts, "stopped only by the hang-up"
    assert file.stat().st_size > 44 + 8000


def test_blind_transfer_to_another_agent(flow: Flow) -> None:
    start(flow, "1001", "1002")
    contact = answered(flow, "5551301", hold_ms=9000)
    flow.ready("1002")

    code, view = api(
        flow,
        "POST",
        f"/calls/{contact}/transfer",
        {"mode": "blind", "to": {"agent_id": flow.product.state("1002")["agent_id"]}},
    )
    assert code in (200, 202), view
    assert view["agent_id"] != flow.product.state("1001")["agent_id"]
    trunk_event(flow, "5551301", "DialBegin", "the caller ringing 1002", DestExten="1002")
    done = wait_view(
        flow, contact, lambda v: v["extension"] == "1002" and v["state"] == "talking",
        extension="1002",
    )  # fmt: skip
    assert done["transfer"] is None
    code, refused = api(flow, "GET", f"/calls/{contact}")
    assert (code, refused["error"]) == (403, "not-your-call")

    flow.finish(served_in_turn={"5551301": ["1001", "1002"]})


def consultation_up(flow: Flow, target: str) -> None:
    """The consultation call rings the target and it answers (its phone in a bridge)."""
    flow.wait_event(
        lambda e: e.name == "BridgeEnter" and e.get("Channel").startswith(f"PJSIP/{target}-"),
        timeout=WAIT,
        what=f"{target} answering the consultation",
    )


def test_attended_transfer_consult_then_complete(flow: Flow) -> None:
    start(flow, "1001", "1002")
    contact = answered(flow, "5551401", hold_ms=12_000)
    bob = flow.product.state("1002")["agent_id"]

    code, view = api(
        flow, "POST", f"/calls/{contact}/transfer", {"mode": "attended", "to": {"agent_id": bob}}
    )
    assert code in (200, 202), view
    assert view["transfer"]["mode"] == "attended" and view["transfer"]["state"] == "consulting"
    trunk_event(flow, "5551401", "MusicOnHoldStart", "the caller on hold while 1001 consults")
    consultation_up(flow, "1002")

    code, view = api(flow, "POST", f"/calls/{contact}/transfer/complete")
    assert code in (200, 202), view
    flow.wait_event(
        lambda e: e.name == "AttendedTransfer" and e.get("Result") == "Success",
        timeout=WAIT,
        what="Asterisk's AttendedTransfer",
    )
    done = wait_view(
        flow, contact, lambda v: v["extension"] == "1002" and v["transfer"] is None,
        extension="1002",
    )  # fmt: skip
    assert done["state"] == "talking" and done["held"] is False

    flow.finish(served_in_turn={"5551401": ["1001", "1002"]})


def test_attended_transfer_consult_then_cancel(flow: Flow) -> None:
    start(flow, "1001", "1002")
    contact = answered(flow, "5551501", hold_ms=10_000)
    bob = flow.product.state("1002")["agent_id"]

    code, view = api(
        flow, "POST", f"/calls/{contact}/transfer", {"mode": "attended", "to": {"agent_id": bob}}
    )
    assert code in (200, 202), view
    consultation_up(flow, "1002")

    code, view = api(flow, "POST", f"/calls/{contact}/transfer/cancel")
    assert code in (200, 202), view
    assert view["transfer"] is None
    trunk_event(flow, "5551501", "MusicOnHoldStop", "the caller back with 1001")
    back = wait_view(flow, contact, lambda v: v["state"] == "talking")
    assert back["extension"] == "1001"

    flow.finish(served_in_turn={"5551501": ["1001"]})


def test_the_agent_hangs_up_from_the_console(flow: Flow) -> None:
    start(flow, "1001")
    contact = answered(flow, "5551601", hold_ms=-1)  # the caller waits for the BYE

    code, view = api(flow, "POST", f"/calls/{contact}/hangup")
    assert code == 200, view
    assert view["state"] == "ended"
    hangup = flow.wait_hung_up("5551601")
    assert hangup.get("Cause") == "16"  # normal clearing

    flow.finish(served=["5551601"], hung_up_from_console=["5551601"])


def test_supervisor_listens_whispers_and_barges(flow: Flow) -> None:
    add_supervisor(flow)
    start(flow, "1001", SUPERVISOR_EXTENSION)
    contact = answered(flow, "5551701", hold_ms=20_000)

    for count, mode in enumerate(("listen", "whisper", "barge"), start=1):
        code, view = api(
            flow, "POST", f"/calls/{contact}/monitor", {"mode": mode},
            extension=SUPERVISOR_EXTENSION,
        )  # fmt: skip
        assert code == 200, (mode, view)
        assert [(m["extension"], m["mode"]) for m in view["monitors"]] == [
            (SUPERVISOR_EXTENSION, mode)
        ]
        flow.wait_event(
            lambda e: (
                e.name == "ChanSpyStart"
                and e.get("SpyerChannel").startswith(f"PJSIP/{SUPERVISOR_EXTENSION}-")
            ),
            timeout=WAIT,
            what=f"the supervisor's phone spying ({mode})",
            count=count,
        )
        code, view = api(
            flow, "DELETE", f"/calls/{contact}/monitor", extension=SUPERVISOR_EXTENSION
        )
        assert code == 200, (mode, view)
        assert view["monitors"] == []
        flow.wait_event(
            lambda e: (
                e.name == "Hangup" and e.get("Channel").startswith(f"PJSIP/{SUPERVISOR_EXTENSION}-")
            ),
            timeout=WAIT,
            what=f"the supervisor's phone hanging up ({mode})",
            count=count,
        )
    code, refused = api(flow, "POST", f"/calls/{contact}/monitor", {"mode": "listen"})
    assert (code, refused["error"]) == (403, "forbidden")
    _, view = api(flow, "GET", f"/calls/{contact}")
    assert view["state"] == "talking"

    flow.finish(served=["5551701"], callers_timeout=40)


def test_click_to_dial_rings_the_agent_then_the_number(flow: Flow) -> None:
    flow.phones.start("customer", "answer-hangup", ring_ms=300, talk_ms=2000)
    start(flow, "1001")

    code, view = api(flow, "POST", "/calls", {"number": "5551801"})
    assert code in (201, 202), view
    assert view["direction"] == "outbound" and view["extension"] == "1001"
    flow.wait_event(
        lambda e: e.name == "DialBegin" and e.get("DestChannel").startswith("PJSIP/trunk-"),
        timeout=WAIT,
        what="Asterisk dialling the number once the agent answered",
    )
    (dialled,) = flow.wait_event(
        lambda e: e.name == "Newchannel" and e.get("Channel").startswith("PJSIP/trunk-"),
        timeout=WAIT,
        what="the customer's channel",
    )
    talking = wait_view(flow, view["contact_id"], lambda v: v["state"] == "talking")
    assert talking["caller_number"] == "5551801"
    flow.wait_event(
        lambda e: e.name == "Hangup" and e.get("Channel").startswith("PJSIP/trunk-"),
        timeout=WAIT,
        what="the customer hanging up",
    )

    ledger = flow.finish(served=[dialled.get("CallerIDNum")])
    (customer,) = ledger.callers.values()
    assert ledger.bridged_agents(customer) == ["1001"]
    assert ledger.hung_up_by(customer) == "caller"
