"""The email benchmark's code path at a tiny scale, so the benchmark keeps working."""

from __future__ import annotations

import pytest

from bench import email as bench_email


def test_given_quick_then_the_run_is_small() -> None:
    args = bench_email.parse_args(["--quick"])
    assert args.messages <= 300 and args.parse_rounds == 1
    assert bench_email.parse_args([]).messages == 2000
    with pytest.raises(SystemExit):
        bench_email.parse_args(["--messages", "0"])


@pytest.mark.slow
async def test_given_a_tiny_run_then_every_message_is_processed_and_figures_are_given() -> None:
    args = bench_email.parse_args(["--messages", "20", "--agents", "2", "--connections", "2"])
    result = await bench_email.run_intake("sqlite", args)
    assert result["processed"] == 20 and result["quarantined"] == 0
    assert result["emails_per_s"] > 0
