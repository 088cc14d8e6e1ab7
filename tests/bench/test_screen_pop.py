"""The screen-pop benchmark's code path at a tiny scale, so the benchmark keeps working."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import screen_pop


def test_given_sorted_values_then_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert screen_pop.percentile(values, 0.50) == 50.0
    assert screen_pop.percentile(values, 0.99) == 99.0
    assert screen_pop.percentile(values, 1.0) == 100.0
    assert screen_pop.percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        screen_pop.percentile([], 0.5)


def test_given_quick_then_the_scale_is_small_and_separate_from_the_full_run() -> None:
    args = screen_pop.parse_args(["--quick"])
    assert args.pg_customers <= 5_000 and args.sqlite_n <= 5_000
    assert args.url == screen_pop.QUICK_POSTGRES_URL != screen_pop.DEFAULT_POSTGRES_URL
    full = screen_pop.parse_args([])
    assert (full.pg_customers, full.m) == (1_000_000, 10)


@pytest.mark.parametrize(
    "argv",
    [["--customers", "0"], ["--queries", "-1"], ["--database-url", "mysql://x/y"]],
)
def test_given_bad_arguments_then_the_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        screen_pop.parse_args(argv)


def _figures(out: str) -> dict[str, dict[str, float]]:
    last = out.strip().splitlines()[-1]
    figures: dict[str, dict[str, float]] = json.loads(last)
    return figures


@pytest.mark.slow
async def test_given_sqlite_when_running_tiny_then_figures_are_printed_and_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--backend", "sqlite", "--sqlite-path", str(tmp_path / "b.db"), "--customers", "40",
            "--interactions-per-customer", "3", "--queries", "30", "--no-progress",
            "--workers", "0"]  # fmt: skip

    await screen_pop.main(argv)
    first = _figures(capsys.readouterr().out)["sqlite"]
    await screen_pop.main(argv)
    second = _figures(capsys.readouterr().out)["sqlite"]

    assert first["customers"] == 40 and first["interactions"] == 120
    assert 0 < first["p50_ms"] <= first["p90_ms"] <= first["p99_ms"] <= first["max_ms"]
    assert first["load_rows_per_s"] > 0
    # The second run reuses the loaded file and reports the figures of the load.
    assert second["load_rows_per_s"] == first["load_rows_per_s"]


@pytest.mark.slow
@pytest.mark.integration
async def test_given_postgres_when_running_tiny_then_figures_are_printed(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_url + "_bench"  # its own database: the benchmark empties what it loads
    argv = ["--backend", "postgres", "--database-url", url, "--customers", "40",
            "--interactions-per-customer", "3", "--queries", "30", "--no-progress",
            "--workers", "0"]  # fmt: skip
    await screen_pop.main(argv)
    try:
        figures = _figures(capsys.readouterr().out)["postgres"]
        assert figures["customers"] == 40 and figures["interactions"] == 120
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        assert figures["load_rows_per_s"] > 0
    finally:
        await screen_pop.drop_postgres_database(url)


def test_given_http_then_the_server_database_and_scale_are_its_own() -> None:
    quick = screen_pop.parse_args(["--http", "--quick"])
    assert quick.url == screen_pop.HTTP_QUICK_POSTGRES_URL
    assert quick.pg_customers <= 5_000 and quick.clients == 64
    full = screen_pop.parse_args(["--http"])
    assert full.url == screen_pop.HTTP_POSTGRES_URL
    assert (full.pg_customers, full.m) == (100_000, 10)


@pytest.mark.parametrize(
    "argv",
    [
        ["--http", "--backend", "sqlite"],
        ["--http", "--clients", "0"],
        ["--http", "--rate", "0"],
        ["--http", "--server-env", "DATABASE_URL=x"],
    ],
)
def test_given_bad_http_arguments_then_the_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        screen_pop.parse_args(argv)


@pytest.mark.slow
@pytest.mark.integration
async def test_given_http_when_running_tiny_then_the_server_answers_every_screen_pop(
    postgres_url: str, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_url + "_bench_http"
    argv = ["--http", "--database-url", url, "--redis-url", redis_url, "--customers", "40",
            "--interactions-per-customer", "3", "--queries", "150", "--clients", "8",
            "--no-progress", "--workers", "0"]  # fmt: skip
    try:
        await screen_pop.main(argv)
        figures = _figures(capsys.readouterr().out)["http"]
        # Every timed request was a screen-pop answered 200, through the real server.
        assert figures["http_statuses"] == {"200": 150}
        assert figures["http_requests"] == 150
        assert figures["http_screen_pops_per_s"] > 0
        assert 0 < figures["http_p50_ms"] <= figures["http_p99_ms"] <= figures["http_max_ms"]
        assert figures["mode"] == "closed loop"
    finally:
        await screen_pop.drop_postgres_database(url)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_server_cpu_counts_the_workers_of_the_server() -> None:
    """The server's CPU is its process's and its live workers' (``server.workers``)."""
    import subprocess
    import sys

    burn = "import sys,time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\n"
    worker = subprocess.Popen(
        [sys.executable, "-c", burn + "print('done', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "done\n"
        own = process_cpu_seconds_of_self_only()
        with_children = screen_pop.process_cpu_seconds(os.getpid())
        assert with_children is not None and own is not None
        assert with_children - own >= 0.25  # the live child's 0.3 s of CPU
    finally:
        worker.communicate("")


def process_cpu_seconds_of_self_only() -> float | None:
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
