"""Omnichannel router: who gets which contact (see docs/routing.md)."""

from pathlib import Path

from routing.compiled import choose_sources_or_build

choose_sources_or_build(Path(__file__).parent)
