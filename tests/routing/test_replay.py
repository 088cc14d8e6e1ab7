"""Replaying commands on a loaded engine reproduces the live one exactly.

The Redis backend persists a log of the commands it applied (with the time each was
applied at) and, now and then, a checkpoint of the records; a new leader loads the
checkpoint and replays the log after it. That is only right if the engine is
deterministic and its records lose nothing a later decision depends on: checked here
on random traffic, cut at a random point.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from contact_center.errors import AppError
from routing import commands as cmd
from routing.engine import RoutingEngine
from tests.routing.test_properties import AGENTS, CONFIG, PROFILES, Day, operation, routing_settings


class RecordedDay(Day):
    """A day whose commands (and the time each ran at) are kept for replay."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[float, cmd.Command]] = []
        self.checkpoint: Any = None
        self.checkpoint_at = 0
        self.events_after_checkpoint: list[str] = []

    def run(self, command: cmd.Command) -> None:
        self.log.append((self.now, command))
        before = len(self.events)
        super().run(command)
        if self.checkpoint is not None:
            self.events_after_checkpoint.extend(
                orjson.dumps([e.name, e]).decode() for e in self.events[before:]
            )

    def take_checkpoint(self) -> None:
        changes = self.engine.take_changes()
        # Serialised now, as the backend does (records share parts that change later).
        self.checkpoint = (
            [orjson.loads(orjson.dumps(r)) for r in changes.contacts.values()],
            [orjson.loads(orjson.dumps(r)) for r in changes.agents.values()],
            {k: orjson.loads(orjson.dumps(v)) for k, v in changes.stats.items()},
            changes.meta,
        )
        self.checkpoint_at = len(self.log)


def records(engine: RoutingEngine) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return (
        {c.contact_id: orjson.dumps(c.to_record()) for c in engine.contacts()},
        {a.agent_id: orjson.dumps(a.to_record()) for a in engine.agents()},
    )


@routing_settings(max_examples=80)
@given(st.lists(operation, min_size=1, max_size=80), st.data())
def test_given_a_checkpoint_and_the_log_after_it_then_replay_rebuilds_the_same_engine(
    ops: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    day = RecordedDay()
    for n, agent in enumerate(AGENTS[:3]):
        day.run(
            cmd.UpsertAgent(
                agent_id=agent, queues=("q1", "q2"), skills=(("s1", 2),), profile=PROFILES[n]
            )
        )
        day.run(cmd.SetAgentState(agent_id=agent, state="ready"))
    cut = data.draw(st.integers(0, len(ops)), label="checkpoint after op")
    for n, op in enumerate(ops):
        if n == cut:
            day.take_checkpoint()
        day.apply(op)
    if day.checkpoint is None:
        day.take_checkpoint()

    rebuilt = RoutingEngine(CONFIG)
    contacts, agents, stats, meta = day.checkpoint
    rebuilt.load(contacts, agents, stats, meta)
    replayed: list[str] = []
    for now, command in day.log[day.checkpoint_at :]:
        try:
            outcome = rebuilt.execute(command, now)
        except AppError:
            continue
        replayed.extend(orjson.dumps([e.name, e]).decode() for e in outcome.events)

    assert replayed == day.events_after_checkpoint
    assert records(rebuilt) == records(day.engine)
    assert rebuilt.seq == day.engine.seq
    # Statistics too (the last command's time: both engines' "now").
    statistics = cmd.QueueStatistics()
    last = day.log[-1][0]
    assert orjson.dumps(rebuilt.execute(statistics, last).value) == orjson.dumps(
        day.engine.execute(statistics, last).value
    )
