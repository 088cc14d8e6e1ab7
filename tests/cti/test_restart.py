"""A restart of the contact center together with its PBX: nothing of the earlier run
is offered again, its contacts end as lost with the PBX, and new calls are answered.

Each node here is assembled like ``contact_center.app.build_services`` does it (profile
store, history recorder, router with the SQL waiting-contact store, CTI), on one SQLite
file that outlives the node, as the demo's database does.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.accounts import AccountStore
from contact_center.app import FanOutSink
from contact_center.history import ContactLifeLog, InteractionRecorder
from contact_center.settings import AsteriskServer, Settings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.waiting import SqlWaitingContactStore
from cti.connection import AmiLink
from cti.ports import CollectingEventSink, StaticAgentDirectory
from cti.routing_adapter import (
    CONTACT_PREFIX,
    HeldVoiceContacts,
    RouterVoiceRouting,
    contact_id,
)
from cti.service import ServerSession, TelephonyService
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.wiring import RouterOffersToTelephony
from routing.backends.memory import MemoryRouterBackend
from routing.events import ContactAbandoned
from routing.model import CustomerContext
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

pytestmark = pytest.mark.integration

ROUTING = {
    "not_ready_reasons": ["break"],
    "queues": {"support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}}},
}
SERVER = "pbx1"


@dataclasses.dataclass
class Node:
    """One run of the contact center: what ``build_services`` assembles, minus HTTP."""

    engine: AsyncEngine
    profiles: ProfileStore
    recorder: InteractionRecorder
    router: RoutingService
    offers: RouterOffersToTelephony
    telephony: TelephonyService
    session: ServerSession
    events: CollectingEventSink
    held: HeldVoiceContacts

    def cid(self, call: str) -> str:
        return f"{SERVER}:{call}"

    async def stop(self) -> None:
        await self.telephony.stop()
        await self.offers.wait_idle()
        await self.router.close()
        await self.held.flush()  # waiting contacts are written behind the decisions
        await self.recorder.stop()
        await self.engine.dispose()


async def start_node(
    db_url: str, pbx_port: int, agents: dict[str, str], *, ready: bool = True
) -> Node:
    """Start a node; its agents are ready (or not) before the AMI link is even opened."""
    settings = Settings()
    engine = create_engine(db_url)
    profiles = ProfileStore(
        engine,
        default_region=settings.phone.default_region,
        value_settings=settings.value,
    )
    recorder = InteractionRecorder(profiles, voice_prefix=CONTACT_PREFIX)
    events = CollectingEventSink()
    sink = FanOutSink(recorder, ContactLifeLog(voice_prefix=CONTACT_PREFIX), events)
    offers = RouterOffersToTelephony(inner=sink)
    config = build_config(parse_routing_settings(ROUTING))
    store = HeldVoiceContacts(SqlWaitingContactStore(engine))
    router = RoutingService(MemoryRouterBackend(config, sink=offers, store=store))

    async def customer_of(number: str) -> CustomerContext:
        found = await profiles.routing_context(profiles.identity("phone", number))
        return CustomerContext(customer_id=str(found["customer_id"]), tier=found["tier"])

    await recorder.start()
    await router.start()
    for agent in agents:
        await router.upsert_agent(agent, queues=("support",))
        if ready:
            await router.ready(agent)
    telephony = TelephonyService(
        routing=RouterVoiceRouting(router, customers=customer_of, held=store, events=offers),
        directory=StaticAgentDirectory(agents),
        sink=sink,
    )
    offers.attach(telephony)
    server = AsteriskServer(name=SERVER, port=pbx_port, secret="cc-secret")
    session = telephony.add_server(
        AmiLink(server, reconnect_base=0.01, reconnect_max=0.2, ping_interval=5)
    )
    await telephony.start()
    await telephony.wait_resyncs(SERVER, 1)
    return Node(engine, profiles, recorder, router, offers, telephony, session, events, store)


async def start_pbx(
    extensions: dict[str, str], *, clock_offset: float = 0.0
) -> tuple[SimulatedPbx, int]:
    # Asterisk numbers calls by its start time: a restarted one starts later.
    pbx = SimulatedPbx(clock=lambda: time.time() + clock_offset)
    for extension in extensions.values():
        pbx.set_phone(extension, PhoneMode.ANSWER, ring_seconds=0.02)
    return pbx, await pbx.start()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A migrated SQLite file with one agent account; yields its URL and agent -> extension."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'contact-center.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    alice = await AccountStore(engine).add_user(
        "alice", password="correct horse battery", role="agent", extension="1001"
    )
    await engine.dispose()
    yield url, {str(alice.id): "1001"}


async def test_after_a_restart_with_the_pbx_the_earlier_calls_are_closed_and_new_ones_answered(
    database: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="contact_center.history.life")
    url, agents = database
    pbx, port = await start_pbx(agents)
    node = await start_node(url, port, agents)
    # First run: one caller talks to the only agent, two more wait for her.
    talking = await pbx.place_call("+442079460501")
    assert await pbx.wait_call_state(talking, ("connected",)) == "connected"
    waiting = [await pbx.place_call(f"+44207946050{n}") for n in (2, 3)]
    await node.events.wait_for("contact.queued", 3)
    await node.recorder.wait_idle()
    await node.stop()
    await pbx.stop()  # the PBX goes down with the contact center: every call is gone

    pbx, port = await start_pbx(agents, clock_offset=100.0)
    node = await start_node(url, port, agents)
    try:
        await node.events.wait_for("contact.abandoned", 2)
        old = {contact_id(node.cid(call)) for call in waiting}
        abandoned = node.events.named("contact.abandoned")
        assert {(e.contact_id, e.reason) for e in abandoned if isinstance(e, ContactAbandoned)} == {
            (cid, "lost-with-pbx") for cid in old
        }
        # Never offered again, although the agent was ready before the link came up.
        assert not [e for e in node.events.named("contact.offered") if e.contact_id in old]

        fresh = await pbx.place_call("+442079460509")
        assert await pbx.wait_call_state(fresh, ("connected",)) == "connected"

        await node.recorder.wait_idle()
        for call in [talking, *waiting]:
            row = await node.profiles.interaction_for_contact(contact_id(node.cid(call)))
            assert row is not None
            assert row["status"] == "closed", call
        for call in waiting:
            row = await node.profiles.interaction_for_contact(contact_id(node.cid(call)))
            assert row is not None and row["disposition"] == "abandoned"
        assert all(server["ok"] for server in node.telephony.health())
    finally:
        await node.stop()
        await pbx.stop()
    life = [r.getMessage() for r in caplog.records if r.name == "contact_center.history.life"]
    for cid in old:
        assert f"contact {cid} abandoned queue=support" in "\n".join(life)
        assert [line for line in life if cid in line and "reason=lost-with-pbx" in line]
    assert not [line for line in life if "+44" in line or "207946" in line]


async def test_after_a_restart_of_the_contact_center_alone_waiting_callers_keep_their_place(
    database: tuple[str, dict[str, str]],
) -> None:
    url, agents = database
    pbx, port = await start_pbx(agents)
    node = await start_node(url, port, agents, ready=False)
    first, second = [await pbx.place_call(f"+44207946061{n}") for n in (1, 2)]
    await node.events.wait_for("contact.queued", 2)
    since = {
        call: (await node.router.describe_contact(contact_id(node.cid(call))))["waiting_since"]
        for call in (first, second)
    }
    await node.stop()  # Asterisk goes on: the callers still hear music on hold

    node = await start_node(url, port, agents)
    try:
        assert await pbx.wait_call_state(first, ("connected",)) == "connected"
        waiting = await node.router.describe_contact(contact_id(node.cid(second)))
        # Back in the queue with the wait they had, not as new arrivals.
        assert (waiting["state"], waiting["waiting_since"]) == ("queued", since[second])
        assert node.events.named("contact.abandoned") == []
        queued = [e.contact_id for e in node.events.named("contact.queued")]
        assert sorted(queued) == sorted(contact_id(node.cid(c)) for c in (first, second))
    finally:
        await node.stop()
        await pbx.stop()


@pytest.fixture
async def two_agents(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'contact-center.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    accounts = AccountStore(engine)
    agents = {}
    for name, extension in (("alice", "1001"), ("bob", "1002")):
        user = await accounts.add_user(
            name, password="correct horse battery", role="agent", extension=extension
        )
        agents[str(user.id)] = extension
    await engine.dispose()
    yield url, agents


async def test_after_a_restart_a_talking_agent_stays_busy_and_waiting_callers_keep_their_order(
    two_agents: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url, agents = two_agents
    alice = next(iter(agents))
    pbx, port = await start_pbx(agents)
    node = await start_node(url, port, {alice: agents[alice]})
    talking = await pbx.place_call("+442079460701")
    assert await pbx.wait_call_state(talking, ("connected",)) == "connected"
    first, second = [await pbx.place_call(f"+44207946070{n}") for n in (2, 3)]
    await node.events.wait_for("contact.queued", 3)
    await node.recorder.wait_idle()
    await node.stop()  # Asterisk goes on: one caller talks to alice, two hear music

    actions_before = len(pbx.actions)
    node = await start_node(url, port, agents)  # alice and bob both ready before the resync
    try:
        # bob is free and takes the caller who waited longest; alice is talking: the
        # router has her call as hers, so she is offered nobody.
        assert await pbx.wait_call_state(first, ("connected",)) == "connected"
        call = await node.router.describe_contact(contact_id(node.cid(talking)))
        assert (call["state"], call["agent_id"]) == ("connected", alice)
        assert (await node.router.describe_agent(alice))["active"] == {
            contact_id(node.cid(talking)): "voice"
        }
        later = [a for a in pbx.actions[actions_before:] if a.get("Action") == "Redirect"]
        assert [a.get("Exten") for a in later] == ["1002"]
        waiting = await node.router.describe_contact(contact_id(node.cid(second)))
        assert (waiting["state"], waiting["position"]) == ("queued", 1)

        # When alice's caller hangs up, the next caller goes to her.
        await pbx.caller_hangs_up(talking)
        assert await pbx.wait_call_state(second, ("connected",)) == "connected"
        assert (await node.router.describe_contact(contact_id(node.cid(second))))[
            "agent_id"
        ] == alice
    finally:
        await node.stop()
        await pbx.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
