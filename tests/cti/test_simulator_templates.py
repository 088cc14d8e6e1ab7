"""The simulator's templates are exactly what the extractor cuts from the captures."""

from __future__ import annotations

from pathlib import Path

from cti.simulator.extract import SOURCES, as_pairs, extract
from cti.simulator.recorded import SEGMENTS


def test_recorded_templates_are_up_to_date_with_the_captures(captures_dir: Path) -> None:
    fresh = extract(captures_dir)
    assert list(fresh) == list(SEGMENTS) == list(SOURCES)
    for name, messages in fresh.items():
        assert tuple(as_pairs(m) for m in SEGMENTS[name]) == messages, name


def test_templates_carry_no_call_specific_values_of_the_recordings() -> None:
    leftovers = ("PJSIP/trunk-000", "55510001", "1795392", "1795393")
    for name, messages in SEGMENTS.items():
        if name in ("login", "list_channel"):
            continue
        for text in messages:
            for needle in leftovers:
                assert needle not in text, (name, needle)
