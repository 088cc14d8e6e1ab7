"""The AMI benchmark keeps working (a tiny run of its quick path)."""

from __future__ import annotations

import json

import pytest

from bench import ami

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_ami_tiny_run_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures = ami.main(["--quick", "--seconds", "0.1", "--calls", "3", "--agents", "20"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == figures
    assert figures["events_per_s"] > 0
    assert figures["ring_to_offer_calls"] == 3
    assert 0 < figures["ring_to_offer_p50_ms"] <= figures["ring_to_offer_max_ms"]
    assert figures["ring_to_offer_cti_only_calls"] == 3
