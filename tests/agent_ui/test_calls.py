"""Call control from the consoles over the REST API, on the assembled app and the
simulated PBX: every endpoint, who may act on which call, the audit rows, Asterisk's
refusals (a clear error, nothing changed) and the hub's ``call`` messages."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.hub.messages import CallUpdate, Snapshot
from agent_ui.hub.wiring import HUB_PATH
from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import Services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.wiring import start_simulated_asterisk
from tests.agent_ui.hub.conftest import Console

ROUTING = {
    "queues": {
        "support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}},
        "sales": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}},
    }
}
PASSWORD = "correct horse battery"
CALLER = "+442079460018"
Client = TestClient[Any, Any]


@dataclasses.dataclass
class User:
    user_id: int
    token: str
    extension: str | None

    @property
    def agent_id(self) -> str:
        return str(self.user_id)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclasses.dataclass
class Desk:
    app: web.Application
    pbx: SimulatedPbx
    client: Client
    alice: User
    bob: User
    sam: User  # supervisor with a phone
    root: User  # admin without a phone

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def ready(self, *users: User) -> None:
        assert self.services.routing is not None
        for user in users:
            await self.services.routing.ready(user.agent_id)

    async def answered(self, agent: User, number: str = CALLER, queue: str = "support") -> str:
        """A caller the router gives to ``agent`` (the only one ready), talking: its
        contact id."""
        await self.ready(agent)
        call = await self.pbx.place_call(number, queue=queue)
        assert await self.pbx.wait_call_state(call, ("connected",), timeout=10) == "connected"
        contact = f"call-simulated:{call}"
        await self.until(agent, contact, lambda v: v["state"] == "talking")
        return contact

    async def view(self, user: User, contact: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.get(f"/api/v1/calls/{contact}", headers=user.auth)
        return response.status, await response.json()

    async def until(
        self, user: User, contact: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The call's view once ``done`` holds; waits on the CTI's changes, not a clock."""
        calls = self.services.calls
        assert calls is not None
        call_id = contact.removeprefix("call-")
        ok = await calls._wait(call_id, lambda v: v is not None and done(v.to_dict()))
        status, body = await self.view(user, contact)
        assert ok and status == 200, (status, body)
        return body

    async def consultation_up(self, contact: str) -> None:
        """The attended transfer's consultation leg is up on the PBX, and the CTI has it."""
        # Two bridge entries of the answered call, then the consultation's four.
        await self.pbx.wait_for_event("BridgeEnter", count=6, timeout=5)
        assert self.services.telephony is not None
        tracker = self.services.telephony.sessions["simulated"].tracker
        linkedid = contact.rpartition(":")[2]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not any(
            ch.linkedid == linkedid and ch.name.startswith("Local/")
            for ch in tracker.channels.values()
        ):
            assert loop.time() < deadline, "the CTI never saw the consultation"
            await asyncio.sleep(0.01)  # polling the tracker, with a deadline

    async def post(
        self, user: User, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        response = await self.client.post(f"/api/v1{path}", json=body, headers=user.auth)
        return response.status, await response.json()

    async def audit(self, action: str) -> list[dict[str, Any]]:
        page = await self.services.profiles.audit_log(action=action)
        return list(page["items"])

    async def console(self, user: User) -> Console:
        ws = await self.client.ws_connect(HUB_PATH, headers=user.auth)
        return Console(ws)


@pytest.fixture
async def desk(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[Desk]:
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"},
        phone={"default_region": "GB"},
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    setup = build_services(settings)
    await upgrade(setup.engine)
    users = []
    for name, role, extension in (
        ("alice", "agent", "1001"),
        ("bob", "agent", "1002"),
        ("sam", "supervisor", "1901"),
        ("root", "admin", None),
    ):
        user = await setup.accounts.add_user(
            name, password=PASSWORD, role=role, extension=extension
        )
        token = (await setup.accounts.issue_token(user.id, "tests")).secret
        users.append(User(user.id, token, extension))
    await setup.engine.dispose()

    pbx, server = await start_simulated_asterisk(
        {"alice": "1001", "bob": "1002"}, ring_seconds=0.02
    )
    pbx.set_phone("1901", PhoneMode.ANSWER, ring_seconds=0.02, name="Sam")
    pbx.atxfer_digit_timeout = 0.05
    pbx.optimize_delay = 0.02
    asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
    app = build_app(settings.model_copy(update={"asterisk": asterisk}))
    client = await aiohttp_client(app)
    services = app[SERVICES]
    assert services.telephony is not None
    await services.telephony.wait_resyncs("simulated", 1, timeout=10)
    try:
        yield Desk(app, pbx, client, *users)
    finally:
        await pbx.stop()


# -- viewing and who may act ---------------------------------------------------------------


async def test_given_an_answered_call_when_its_agent_looks_then_the_view_is_asteriskss(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.view(desk.alice, contact)
    assert status == 200
    assert view["contact_id"] == contact and view["call_id"] == contact.removeprefix("call-")
    assert view["state"] == "talking" and view["direction"] == "inbound"
    assert view["agent_id"] == desk.alice.agent_id and view["extension"] == "1001"
    assert view["caller_number"] == CALLER and view["queue"] == "support"
    assert view["held"] is False and view["recording"] is False
    assert view["transfer"] is None and view["monitors"] == []


async def test_given_alices_call_when_bob_acts_on_it_then_refused_audited_and_unchanged(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, body = await desk.view(desk.bob, contact)
    assert (status, body["error"]) == (403, "not-your-call")
    for action in ("hold", "hangup", "recording/start"):
        status, body = await desk.post(desk.bob, f"/calls/{contact}/{action}")
        assert (status, body["error"]) == (403, "not-your-call"), action
    status, body = await desk.post(
        desk.bob, f"/calls/{contact}/transfer", {"mode": "blind", "to": {"agent_id": "2"}}
    )
    assert (status, body["error"]) == (403, "not-your-call")
    assert not [a for a in desk.pbx.actions if a.get("Action") in ("Redirect", "Hangup")][1:]
    _, view = await desk.view(desk.alice, contact)
    assert view["state"] == "talking" and view["agent_id"] == desk.alice.agent_id
    refused = await desk.audit("call.hold")
    assert [(r["actor_id"], r["details"]["outcome"], r["details"]["error"]) for r in refused] == [
        (desk.bob.user_id, "refused", "not-your-call")
    ]
    assert refused[0]["contact_id"] == contact


async def test_given_no_such_call_then_404_and_a_malformed_id_matches_no_route(
    desk: Desk,
) -> None:
    status, body = await desk.view(desk.alice, "call-simulated:1750000000.99")
    assert (status, body["error"]) == (404, "no-such-call")
    status, body = await desk.post(desk.alice, "/calls/call-simulated:1750000000.99/hold")
    assert (status, body["error"]) == (404, "no-such-call")
    for bad in ("1750000000.99", "call-a%20b", "call-x%2Fy", "call-" + "9" * 200):
        response = await desk.client.get(f"/api/v1/calls/{bad}", headers=desk.alice.auth)
        assert response.status == 404, bad


async def test_given_a_supervisor_and_an_admin_then_they_may_see_and_act_on_any_call(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, _ = await desk.view(desk.sam, contact)
    assert status == 200
    status, view = await desk.post(desk.root, f"/calls/{contact}/hold")
    assert status == 200 and view["held"] is True
    (row,) = await desk.audit("call.hold")
    assert row["actor_id"] == desk.root.user_id and row["details"]["outcome"] == "done"


# -- hold, resume, hang up -----------------------------------------------------------------


async def test_given_a_talking_call_when_held_and_resumed_then_held_follows_asterisk(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(desk.alice, f"/calls/{contact}/hold")
    assert status == 200, view
    assert view["held"] is True and view["state"] == "held"
    assert desk.pbx.calls[contact.rpartition(":")[2]].state == "onhold"
    status, body = await desk.post(desk.alice, f"/calls/{contact}/hold")
    assert (status, body["error"]) == (409, "illegal-call-state")
    status, view = await desk.post(desk.alice, f"/calls/{contact}/resume")
    assert status == 200 and view["held"] is False and view["state"] == "talking"
    assert desk.pbx.calls[contact.rpartition(":")[2]].state == "connected"
    rows = await desk.audit("call.hold") + await desk.audit("call.resume")
    assert sorted((r["action"], r["details"]["outcome"]) for r in rows) == [
        ("call.hold", "done"),
        ("call.hold", "failed"),
        ("call.resume", "done"),
    ]


async def test_given_asterisk_refuses_the_hold_then_a_clear_error_and_the_call_is_not_held(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    desk.pbx.denied_actions.add("redirect")
    status, body = await desk.post(desk.alice, f"/calls/{contact}/hold")
    assert status == 502 and body["error"] == "asterisk-rejected"
    assert "Permission denied" in body["message"]
    _, view = await desk.view(desk.alice, contact)
    assert view["held"] is False and view["state"] == "talking"
    (row,) = await desk.audit("call.hold")
    assert row["details"]["outcome"] == "failed"
    assert row["details"]["error"] == "asterisk-rejected"


async def test_given_a_talking_call_when_the_agent_hangs_up_then_it_ends_on_asterisk(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(desk.alice, f"/calls/{contact}/hangup")
    assert status == 200 and view["state"] == "ended"
    assert await desk.pbx.wait_call_state(contact.rpartition(":")[2], ()) == "gone"
    status, _ = await desk.view(desk.alice, contact)
    assert status == 404
    (row,) = await desk.audit("call.hangup")
    assert row["details"]["outcome"] == "done"


async def test_given_an_offer_ringing_then_the_agent_cannot_hang_the_caller_up(
    desk: Desk,
) -> None:
    desk.pbx.set_phone("1001", PhoneMode.MANUAL)
    await desk.ready(desk.alice)
    call = await desk.pbx.place_call(CALLER)
    contact = f"call-simulated:{call}"
    await desk.until(desk.alice, contact, lambda v: v["state"] == "ringing")
    status, body = await desk.post(desk.alice, f"/calls/{contact}/hangup")
    assert (status, body["error"]) == (409, "illegal-call-state")
    assert "reject it there" in body["message"]
    assert desk.pbx.calls[call].state == "ringing"


# -- recording -------------------------------------------------------------------------------


async def test_given_a_talking_call_when_recorded_then_asterisk_records_until_stopped(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(desk.alice, f"/calls/{contact}/recording/start")
    assert status == 200 and view["recording"] is True
    assert view["recording_file"].endswith(".wav")
    status, body = await desk.post(desk.alice, f"/calls/{contact}/recording/start")
    assert (status, body["error"]) == (409, "illegal-call-state")
    status, view = await desk.post(desk.alice, f"/calls/{contact}/recording/stop")
    assert status == 200 and view["recording"] is False
    status, body = await desk.post(desk.alice, f"/calls/{contact}/recording/stop")
    assert (status, body["error"]) == (409, "illegal-call-state")
    started_rows = await desk.audit("call.recording_start")
    (started,) = [row for row in started_rows if row["details"]["outcome"] == "done"]
    assert started["details"]["outcome"] == "done"
    assert started["details"]["file"] == view["recording_file"]


async def test_given_asterisk_refuses_mixmonitor_then_502_and_no_recording(desk: Desk) -> None:
    contact = await desk.answered(desk.alice)
    desk.pbx.denied_actions.add("mixmonitor")
    status, body = await desk.post(desk.alice, f"/calls/{contact}/recording/start")
    assert (status, body["error"]) == (502, "asterisk-rejected")
    _, view = await desk.view(desk.alice, contact)
    assert view["recording"] is False


# -- transfers -----------------------------------------------------------------------------


async def test_given_a_blind_transfer_to_bob_then_the_call_leaves_alice_for_bob(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(
        desk.alice,
        f"/calls/{contact}/transfer",
        {"mode": "blind", "to": {"agent_id": desk.bob.agent_id}},
    )
    assert status in (200, 202), view
    assert view["agent_id"] != desk.alice.agent_id
    done = await desk.until(
        desk.bob, contact, lambda v: v["state"] == "talking" and v["transfer"] is None
    )
    assert done["agent_id"] == desk.bob.agent_id and done["extension"] == "1002"
    status, body = await desk.view(desk.alice, contact)
    assert (status, body["error"]) == (403, "not-your-call")
    (row,) = await desk.audit("call.transfer")
    assert row["details"]["mode"] == "blind"
    assert row["details"]["to"] == {"agent_id": desk.bob.agent_id}


async def test_given_a_blind_transfer_to_a_queue_then_the_call_waits_there(desk: Desk) -> None:
    contact = await desk.answered(desk.alice)
    assert desk.services.routing is not None
    await desk.services.routing.not_ready(desk.alice.agent_id, "break")
    status, view = await desk.post(
        desk.alice, f"/calls/{contact}/transfer", {"mode": "blind", "to": {"queue": "sales"}}
    )
    assert status == 200, view
    assert view["state"] == "queued" and view["queue"] == "sales" and view["agent_id"] is None
    assert view["transfer"] is None
    status, body = await desk.post(
        desk.sam, f"/calls/{contact}/transfer", {"mode": "blind", "to": {"queue": "nowhere"}}
    )
    assert (status, body["error"]) == (422, "unknown-queue")


async def test_given_a_blind_transfer_to_a_number_then_the_call_leaves_the_agent(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(
        desk.alice,
        f"/calls/{contact}/transfer",
        {"mode": "blind", "to": {"number": "+44 20 7946 0999"}},
    )
    assert status == 200, view
    assert view["agent_id"] is None and view["state"] in ("transferring", "transferred")
    assert view["transfer"] == {
        "mode": "blind",
        "target": {"number": "+44 20 7946 0999"},
        "state": "dialing",
    }


async def test_given_an_attended_transfer_then_consult_and_complete_hands_the_call_to_bob(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(
        desk.alice,
        f"/calls/{contact}/transfer",
        {"mode": "attended", "to": {"agent_id": desk.bob.agent_id}},
    )
    assert status in (200, 202), view
    assert view["transfer"] == {
        "mode": "attended",
        "target": {"agent_id": desk.bob.agent_id},
        "state": "consulting",
    }
    status, body = await desk.post(
        desk.alice,
        f"/calls/{contact}/transfer",
        {"mode": "blind", "to": {"queue": "sales"}},
    )
    assert (status, body["error"]) == (409, "illegal-call-state")
    await desk.consultation_up(contact)
    status, view = await desk.post(desk.alice, f"/calls/{contact}/transfer/complete")
    assert status in (200, 202), view
    done = await desk.until(
        desk.bob, contact, lambda v: v["agent_id"] == desk.bob.agent_id and v["transfer"] is None
    )
    assert done["state"] == "talking"
    actions = [r["action"] for r in (await desk.services.profiles.audit_log())["items"]]
    assert {"call.transfer", "call.transfer_complete"} <= set(actions)


async def test_given_an_attended_transfer_when_cancelled_then_the_customer_is_back_with_alice(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(
        desk.alice,
        f"/calls/{contact}/transfer",
        {"mode": "attended", "to": {"agent_id": desk.bob.agent_id}},
    )
    assert status in (200, 202), view
    await desk.consultation_up(contact)
    status, view = await desk.post(desk.alice, f"/calls/{contact}/transfer/cancel")
    assert status in (200, 202), view
    assert view["transfer"] is None
    back = await desk.until(desk.alice, contact, lambda v: v["state"] == "talking")
    assert back["agent_id"] == desk.alice.agent_id
    status, body = await desk.post(desk.alice, f"/calls/{contact}/transfer/complete")
    assert (status, body["error"]) == (409, "illegal-call-state")


async def test_given_an_attended_transfer_to_a_queue_then_refused_before_asterisk(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    before = len(desk.pbx.actions)
    status, body = await desk.post(
        desk.alice, f"/calls/{contact}/transfer", {"mode": "attended", "to": {"queue": "sales"}}
    )
    assert (status, body["error"]) == (422, "transfer-not-possible")
    status, body = await desk.post(
        desk.alice, f"/calls/{contact}/transfer", {"mode": "blind", "to": {"agent": "2"}}
    )
    assert (status, body["error"]) == (422, "invalid-input")
    assert len(desk.pbx.actions) == before


# -- click-to-dial ---------------------------------------------------------------------------


async def test_given_an_agent_when_dialling_a_number_then_their_phone_rings_then_the_number(
    desk: Desk,
) -> None:
    response = await desk.client.post(
        "/api/v1/calls", json={"number": "020 7946 0123", "customer_id": 7},
        headers=desk.alice.auth,
    )  # fmt: skip
    view = await response.json()
    assert response.status in (201, 202), view
    assert view["direction"] == "outbound" and view["agent_id"] == desk.alice.agent_id
    assert view["caller_number"] == "02079460123"
    contact = view["contact_id"]
    talking = await desk.until(desk.alice, contact, lambda v: v["state"] == "talking")
    assert talking["extension"] == "1001"
    (row,) = await desk.audit("call.dial")
    assert row["customer_id"] == 7 and row["contact_id"] == contact
    status, view = await desk.post(desk.alice, f"/calls/{contact}/hangup")
    assert status == 200 and view["state"] == "ended"


async def test_given_a_bad_number_or_a_busy_phone_then_click_to_dial_is_refused(
    desk: Desk,
) -> None:
    status, body = await desk.post(desk.alice, "/calls", {"number": "call me"})
    assert (status, body["error"]) == (422, "invalid-input")
    status, body = await desk.post(desk.sam, "/calls", {"number": "5550123"})
    assert (status, body["error"]) == (403, "forbidden")
    await desk.answered(desk.alice)
    status, body = await desk.post(desk.alice, "/calls", {"number": "5550123"})
    assert (status, body["error"]) == (409, "illegal-call-state")
    (row,) = await desk.audit("call.dial")
    assert row["details"]["outcome"] == "failed"


async def test_given_an_unreachable_phone_then_click_to_dial_fails_clearly(desk: Desk) -> None:
    desk.pbx.set_phone("1001", PhoneMode.UNREACHABLE)
    tab = await desk.console(desk.alice)
    try:
        await tab.hello()
        status, body = await desk.post(desk.alice, "/calls", {"number": "5550123"})
        if status == 502:  # Asterisk's failure came before its first channel event
            assert body["error"] == "dial-failed" and body["details"]["reason"] == "failed"
        else:  # the call showed ringing first: its end follows on the hub
            assert status == 202 and body["state"] == "ringing", body
            ended = await tab.until(CallUpdate)
            while ended.state != "ended":
                ended = await tab.until(CallUpdate)
            assert ended.contact_id == body["contact_id"]
    finally:
        await tab.close()


# -- supervisors: listen, whisper, barge ---------------------------------------------------


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
async def test_given_a_supervisor_when_monitoring_then_their_phone_joins_and_leaves(
    desk: Desk, mode: str
) -> None:
    contact = await desk.answered(desk.alice)
    status, view = await desk.post(desk.sam, f"/calls/{contact}/monitor", {"mode": mode})
    assert status == 200, view
    assert view["monitors"] == [
        {"supervisor_id": desk.sam.agent_id, "extension": "1901", "mode": mode}
    ]
    response = await desk.client.delete(f"/api/v1/calls/{contact}/monitor", headers=desk.sam.auth)
    assert response.status == 200
    assert (await response.json())["monitors"] == []
    rows = await desk.audit("call.monitor")
    assert rows[0]["details"]["mode"] == mode and rows[0]["details"]["outcome"] == "done"
    _, view = await desk.view(desk.alice, contact)
    assert view["state"] == "talking"


async def test_given_monitoring_then_agents_and_phoneless_supervisors_are_refused(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    status, body = await desk.post(desk.alice, f"/calls/{contact}/monitor", {"mode": "listen"})
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await desk.post(desk.root, f"/calls/{contact}/monitor", {"mode": "listen"})
    assert (status, body["error"]) == (404, "no-extension")
    response = await desk.client.delete(f"/api/v1/calls/{contact}/monitor", headers=desk.sam.auth)
    assert response.status == 409
    assert (await response.json())["error"] == "illegal-call-state"


# -- the hub ---------------------------------------------------------------------------------


async def test_given_an_agent_console_then_call_messages_follow_asterisk_and_the_snapshot_lists_calls(  # noqa: E501
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    tab = await desk.console(desk.alice)
    try:
        _, after = await tab.hello()
        snapshot = after[-1]
        assert isinstance(snapshot, Snapshot)
        assert [(c.contact_id, c.state, c.held) for c in snapshot.calls] == [
            (contact, "talking", False)
        ]
        status, _ = await desk.post(desk.alice, f"/calls/{contact}/hold")
        assert status == 200
        held = await tab.until(CallUpdate)
        assert (held.contact_id, held.state, held.held) == (contact, "held", True)
        assert held.topic == f"agent:{desk.alice.user_id}" and held.seq > snapshot.seq
        assert held.agent_id == desk.alice.agent_id and held.caller_number == CALLER
        await desk.post(desk.alice, f"/calls/{contact}/resume")
        resumed = await tab.until(CallUpdate)
        assert (resumed.state, resumed.held) == ("talking", False)
        await desk.post(
            desk.alice,
            f"/calls/{contact}/transfer",
            {"mode": "blind", "to": {"agent_id": desk.bob.agent_id}},
        )
        # Alice's console sees the call leave her (it is ringing at, then with, Bob).
        left = await tab.until(CallUpdate)
        assert left.agent_id != desk.alice.agent_id
        assert left.transfer is not None and left.transfer.mode == "blind"
    finally:
        await tab.close()


async def test_given_a_supervisor_watching_the_queue_then_call_messages_reach_it(
    desk: Desk,
) -> None:
    wall = await desk.console(desk.sam)
    try:
        await wall.hello(topics=["queue:support"])
        contact = await desk.answered(desk.alice)
        seen = await wall.until(CallUpdate)
        while seen.state != "talking":
            seen = await wall.until(CallUpdate)
        assert seen.contact_id == contact and seen.topic == "queue:support"
        await desk.post(desk.alice, f"/calls/{contact}/hangup")
        ended = await wall.until(CallUpdate)
        assert (ended.contact_id, ended.state) == (contact, "ended")
    finally:
        await wall.close()


async def test_given_alice_consulting_bob_when_she_completes_then_her_console_lets_the_call_go(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    alice, bob = await desk.console(desk.alice), await desk.console(desk.bob)
    try:
        await alice.hello()
        await bob.hello()
        status, _ = await desk.post(
            desk.alice,
            f"/calls/{contact}/transfer",
            {"mode": "attended", "to": {"agent_id": desk.bob.agent_id}},
        )
        assert status in (200, 202)
        consulting = await alice.until(CallUpdate)
        assert consulting.transfer is not None and consulting.transfer.state == "consulting"
        assert consulting.held and consulting.agent_id == desk.alice.agent_id
        await desk.consultation_up(contact)
        status, _ = await desk.post(desk.alice, f"/calls/{contact}/transfer/complete")
        assert status in (200, 202)
        # Alice's console hears of the call until it is on Bob's phone, then no more.
        seen = await alice.until(CallUpdate)
        while seen.agent_id == desk.alice.agent_id:
            seen = await alice.until(CallUpdate)
        assert (seen.contact_id, seen.state, seen.transfer) == (contact, "talking", None)
        assert seen.agent_id == desk.bob.agent_id
        assert seen.previous_agent_id == desk.alice.agent_id
        assert seen.topic == f"agent:{desk.alice.user_id}"
        # Bob's console has it too, and the router has the contact with Bob.
        on_bob = await bob.until(CallUpdate)
        while on_bob.agent_id != desk.bob.agent_id:
            on_bob = await bob.until(CallUpdate)
        assert on_bob.previous_agent_id == desk.alice.agent_id
        assert desk.services.routing is not None
        described = await desk.services.routing.describe_contact(contact)
        assert (described["agent_id"], str(described["state"])) == (desk.bob.agent_id, "connected")
    finally:
        await alice.close()
        await bob.close()


async def test_given_alice_consulting_bob_when_she_cancels_then_her_console_is_back_talking(
    desk: Desk,
) -> None:
    contact = await desk.answered(desk.alice)
    alice = await desk.console(desk.alice)
    try:
        await alice.hello()
        await desk.post(
            desk.alice,
            f"/calls/{contact}/transfer",
            {"mode": "attended", "to": {"agent_id": desk.bob.agent_id}},
        )
        await desk.consultation_up(contact)
        status, _ = await desk.post(desk.alice, f"/calls/{contact}/transfer/cancel")
        assert status in (200, 202)
        seen = await alice.until(CallUpdate)
        while seen.transfer is not None:
            seen = await alice.until(CallUpdate)
        assert (seen.contact_id, seen.state, seen.held) == (contact, "talking", False)
        assert seen.agent_id == desk.alice.agent_id and seen.previous_agent_id is None
    finally:
        await alice.close()
