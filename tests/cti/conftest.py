"""Fixtures of the CTI tests: the recorded Asterisk captures in tests/fixtures/ami."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.protocol import AmiMessage, frame_all

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
CAPTURE_NAMES = sorted(p.name.removesuffix(".ami.txt") for p in CAPTURES.glob("*.ami.txt"))


def capture_bytes(name: str) -> bytes:
    return (CAPTURES / f"{name}.ami.txt").read_bytes()


def capture_messages(name: str) -> list[AmiMessage]:
    return [f for f in frame_all(capture_bytes(name)) if isinstance(f, AmiMessage)]


@pytest.fixture
def captures_dir() -> Path:
    return CAPTURES
