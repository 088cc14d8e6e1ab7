"""What the engine hands a backend to persist, and an engine rebuilt from it.

A Redis leader that takes over loads the records the last one committed and carries
on; so the records must lose nothing a later decision depends on, and the engine must
be deterministic (time is passed in): a loaded engine given the same commands at the
same times must do exactly what the live one did. Checked on random traffic, with the
records taken at a random point.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from contact_center.domain.events import to_json
from contact_center.errors import AppError
from routing import commands as cmd
from routing.engine import RoutingEngine
from tests.routing.test_properties import CONFIG, Day, operation, routing_settings


class RecordedDay(Day):
    """A day whose commands (and the time each ran at) are kept for replay, and whose
    records can be taken at one point (a checkpoint)."""

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
                to_json([e.name, e]).decode() for e in self.events[before:]
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


def records(engine: RoutingEngine | None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Every contact's and agent's record, serialised (comparable between engines)."""
    assert engine is not None
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
    day.staff()
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
        replayed.extend(to_json([e.name, e]).decode() for e in outcome.events)

    assert replayed == day.events_after_checkpoint
    assert records(rebuilt) == records(day.engine)
    assert rebuilt.seq == day.engine.seq
    # Statistics too (the last command's time: both engines' "now").
    statistics = cmd.QueueStatistics()
    last = day.log[-1][0]
    assert orjson.dumps(rebuilt.execute(statistics, last).value) == orjson.dumps(
        day.engine.execute(statistics, last).value
    )


def test_given_a_contact_that_ended_and_came_back_then_its_record_is_kept_not_removed() -> None:
    """Both in one batch of changes (a Redis leader applies many commands per commit):
    the id must not be listed as removed, or the commit deletes the live record."""
    engine = RoutingEngine(CONFIG)
    enqueue = cmd.EnqueueContact(contact_id="c1", channel="voice", queue="q1")
    engine.execute(enqueue, 100.0)
    engine.execute(cmd.WithdrawContact(contact_id="c1"), 101.0)
    engine.execute(enqueue, 102.0)
    changes = engine.take_changes()
    assert list(changes.contacts) == ["c1"]
    assert changes.contacts["c1"]["created_at"] == 102.0
    assert changes.removed_contacts == []
    engine.execute(cmd.WithdrawContact(contact_id="c1"), 103.0)
    assert engine.take_changes().removed_contacts == ["c1"]
