"""AgentPool: agents best first, by level and then by last work."""

from __future__ import annotations

from routing.model import StrategyName
from routing.strategies import AgentPool


def _pool(*placed: tuple[str, float, int]) -> AgentPool:
    pool = AgentPool(StrategyName.LEAST_OCCUPIED)
    for agent_id, level, work_seq in placed:
        pool.place(agent_id, level, work_seq)
    return pool


def test_lower_level_first_then_oldest_work() -> None:
    pool = _pool(("a", 0.5, 1), ("b", 0.0, 3), ("c", 0.0, 2), ("d", 0.5, 4))
    assert list(pool) == ["c", "b", "a", "d"]
    assert pool.best(3, frozenset()) == (["c", "b", "a"], [0.0, 0.0, 0.5])


def test_best_skips_and_stops_at_count() -> None:
    pool = _pool(("a", 0.0, 1), ("b", 0.0, 2), ("c", 1.0, 3))
    assert pool.best(2, {"a"}) == (["b", "c"], [0.0, 1.0])
    assert pool.best(5, {"a", "b", "c"}) == ([], [])


def test_placing_again_moves_the_agent() -> None:
    pool = _pool(("a", 0.0, 1), ("b", 0.0, 2))
    pool.place("a", 0.0, 5)  # worked again: now the newest on its level
    assert list(pool) == ["b", "a"]
    pool.place("b", 2.0, 6)  # a new level
    assert list(pool) == ["a", "b"]
    assert pool.level("b") == 2.0
    pool.place("b", 2.0, 6)  # no change
    assert list(pool) == ["a", "b"] and len(pool) == 2


def test_out_of_turn_is_sorted_in_even_after_the_newest_left() -> None:
    pool = _pool(("a", 0.0, 1), ("b", 0.0, 9))
    pool.discard("b")
    # Older than the agent that left, newer than the one still there.
    pool.place("c", 0.0, 5)
    pool.place("d", 0.0, 3)
    assert list(pool) == ["a", "d", "c"]
    pool.place("e", 0.0, 10)
    assert list(pool) == ["a", "d", "c", "e"]


def test_discard_drops_empty_levels() -> None:
    pool = _pool(("a", 0.0, 1), ("b", 1.0, 2), ("c", 2.0, 3))
    pool.discard("b")
    pool.discard("missing")
    assert list(pool) == ["a", "c"] and "b" not in pool and "a" in pool
    pool.place("d", 1.0, 4)
    assert list(pool) == ["a", "d", "c"]
    pool.place("a", 1.0, 5)  # leaves level 0.0, which goes
    assert pool.best(5, frozenset()) == (["d", "a", "c"], [1.0, 1.0, 2.0])
