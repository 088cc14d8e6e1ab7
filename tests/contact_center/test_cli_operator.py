"""The CLI as an operator meets it: one database wherever it runs, one-line errors,
the same account rules as the API, a demo that can be reset."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from contact_center.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CC_HOME of its own; the working directory is somewhere else on purpose."""
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "contact-center.toml").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CC_HOME", str(home))
    for name in ("CC_CONFIG", "CC_DATABASE_URL", "CC_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def add_user(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    return run(["users", "add", *argv, "--password-stdin"], capsys)[0]


def test_given_no_database_when_listing_users_then_one_line_and_no_file_is_created(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["users", "list"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "database-not-migrated" in err and "db upgrade" in err
    assert str(home / "var" / "contact-center.db") in err
    assert not (home / "var" / "contact-center.db").exists()
    assert not Path("var").exists()  # nothing in the working directory


def test_given_the_home_database_then_every_command_finds_it_from_any_directory(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run(["db", "upgrade"], capsys)[0] == 0
    assert (home / "var" / "contact-center.db").is_file()
    assert add_user(["ops", "--role", "admin"], capsys, monkeypatch) == 0
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["users", "list"], capsys)
    assert code == 0 and "ops" in out


def test_given_an_unknown_revision_then_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["db", "upgrade", "9999"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unknown-revision" in err and "9999" in err


def test_given_an_unreachable_postgresql_then_one_line_naming_the_setting(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "CC_DATABASE_URL", f"postgresql+asyncpg://cc:hunter2@127.0.0.1:{port}/contact_center"
    )
    code, _, err = run(["db", "upgrade"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "database-unavailable" in err and "database.url" in err
    assert "hunter2" not in err


@pytest.mark.integration
def test_given_a_missing_postgresql_role_then_one_line_with_the_way_out(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
) -> None:
    base = postgres_url.rsplit("@", 1)[1]
    monkeypatch.setenv("CC_DATABASE_URL", f"postgresql+asyncpg://no_such_role:pw@{base}")
    code, _, err = run(["db", "upgrade"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert 'role "no_such_role" does not exist' in err and "README" in err


def test_given_the_last_admin_then_the_cli_cannot_disable_it_and_disabled_users_get_no_token(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["db", "upgrade"], capsys)
    assert add_user(["root", "--role", "admin"], capsys, monkeypatch) == 0
    assert add_user(["ann", "--role", "agent"], capsys, monkeypatch) == 0
    code, _, err = run(["users", "disable", "root"], capsys)
    assert code == 2 and "last-admin" in err
    assert "active" in run(["users", "list"], capsys)[1].split("root")[1].splitlines()[0]

    assert run(["users", "disable", "ann"], capsys)[0] == 0
    code, out, err = run(["users", "token", "ann"], capsys)
    assert code == 2 and "account-disabled" in err and out == ""
    assert run(["users", "enable", "ann"], capsys)[0] == 0
    code, out, _ = run(["users", "token", "ann"], capsys)
    assert code == 0 and out.strip()


def test_given_demo_reset_then_the_sqlite_file_goes_and_a_server_database_is_refused(
    tmp_path: Path,
) -> None:
    from contact_center.cli import DemoResetRefused, reset_demo_database

    db = tmp_path / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_text("x")
    assert reset_demo_database(f"sqlite+aiosqlite:///{db}") == db
    assert not any(Path(f"{db}{s}").exists() for s in ("", "-wal", "-shm"))
    with pytest.raises(DemoResetRefused):
        reset_demo_database("postgresql+asyncpg://cc@127.0.0.1/cc")


@pytest.mark.slow
def test_given_the_port_in_use_when_serving_then_one_line_and_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["db", "upgrade"], capsys)[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "contact_center.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CC_LOGGING_LEVEL": "WARNING"},
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("contact-center: address-in-use:") and str(port) in last
