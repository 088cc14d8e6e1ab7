"""The contact-center command, run in-process against a temporary SQLite database."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from contact_center.cli import build_parser, main


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CC_CONFIG", raising=False)
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        code, out, _ = run([name, "--help"], capsys)
        assert code == 0 and "usage: contact-center" in out, name
    for nested in (["db", "upgrade"], ["users", "add"], ["import", "--help"]):
        code, out, _ = run([*nested, "--help"], capsys)
        assert code == 0 and "usage" in out


def test_unmigrated_database_is_reported_clearly(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["users", "list"], capsys)
    assert code == 2
    assert "contact-center db upgrade" in err


def test_invalid_setting_stops_with_one_message(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC_SERVER_PORT", "not-a-port")
    code, _, err = run(["db", "current"], capsys)
    assert code == 2
    assert "invalid-settings" in err and "server.port" in err
    assert "Traceback" not in err


def test_users_import_export_erase_round_trip(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(["db", "upgrade"], capsys)[0] == 0

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, out, _ = run(
        ["users", "add", "alice", "--role", "agent", "--extension", "1001", "--password-stdin"],
        capsys,
    )
    assert code == 0 and "added alice" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(["users", "add", "bob", "--password-stdin"], capsys)
    assert code == 2 and "weak-password" in err
    code, out, _ = run(["users", "list"], capsys)
    assert "alice" in out and "1001" in out and "bob" not in out
    assert run(["users", "disable", "alice"], capsys)[0] == 0
    assert "disabled" in run(["users", "list"], capsys)[1]

    customers = cli_env / "customers.csv"
    customers.write_text(
        "display_name,email,phone,tags,attr.crm_id\n"
        "Ann Lee,ann@example.com,+44 20 7946 0018,vip;newsletter,C-1\n"
        "Bad Row,not-an-email,,,\n"
        "王芳,fang@example.cn,+86 138 0013 8000,,C-2\n",
        encoding="utf-8",
    )
    code, out, _ = run(["import", "customers", str(customers)], capsys)
    summary = json.loads(out)
    assert code == 1  # one row rejected
    assert summary["created"] == 2 and summary["rejected"] == 1
    assert summary["errors"][0]["line"] == 3

    orders = cli_env / "orders.jsonl"
    orders.write_text(
        '{"email": "ann@example.com", "external_id": "A1", "amount": 3000, '
        '"ordered_at": "2026-11-01T10:00:00Z", "items": [{"sku": "X", "qty": 1}]}\n'
        "{broken json\n",
        encoding="utf-8",
    )
    code, out, _ = run(["import", "orders", str(orders)], capsys)
    assert json.loads(out)["created"] == 1 and json.loads(out)["rejected"] == 1

    target = cli_env / "export.json"
    assert run(["export-customer", "1", "-o", str(target)], capsys)[0] == 0
    exported = json.loads(target.read_text())
    assert exported["customer"]["display_name"] == "Ann Lee"
    assert exported["customer"]["attributes"] == {"crm_id": "C-1"}
    assert exported["orders"][0]["amount_cents"] == 300_000

    code, _, err = run(["erase-customer", "1"], capsys)
    assert code == 2 and "--yes" in err
    code, out, _ = run(["erase-customer", "1", "--yes"], capsys)
    assert code == 0
    exported = json.loads(run(["export-customer", "1"], capsys)[1])
    assert exported["identities"] == []
    assert exported["customer"]["display_name"] == "Erased customer 1"


def test_import_of_a_missing_file(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["db", "upgrade"], capsys)
    code, _, err = run(["import", "orders", "nope.csv"], capsys)
    assert code == 2 and "is not a file" in err


async def test_demo_preparation_is_idempotent_and_gives_a_usable_screen_pop(
    tmp_path: Path,
) -> None:
    from contact_center.app import build_services
    from contact_center.cli import DEMO_USERS, prepare_demo
    from contact_center.services import Actor
    from contact_center.settings import Settings
    from contact_center.store.migrate import upgrade

    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"}
    )
    services = build_services(settings)
    try:
        await upgrade(services.engine)
        first = await prepare_demo(services, 12)
        again = await prepare_demo(services, 12)
        assert first["customers"] == 12 and again == {}
        users = await services.accounts.list_users()
        assert sorted(u.username for u in users) == sorted(u[0] for u in DEMO_USERS)
        agent = await services.accounts.verify_password("agent1", "demo-agent-2026")
        found = await services.profiles.search(name="a", limit=100)
        phone = next(i for c in found["items"] for i in c["identities"] if i["kind"] == "phone")
        pop = await services.profiles.screen_pop(
            services.profiles.identity("phone", phone["value"]), viewer=Actor(agent.id, "agent1")
        )
        assert pop["customer"]["identities"]
    finally:
        await services.engine.dispose()


def test_seed_command_writes_through_the_store_and_in_bulk(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["db", "upgrade"], capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    run(["users", "add", "agent7", "--password-stdin"], capsys)
    code, out, _ = run(["seed", "--customers", "3"], capsys)
    assert code == 0 and json.loads(out)["customers"] == 3
    code, out, _ = run(["seed", "--customers", "5", "--bulk", "--first", "4"], capsys)
    assert code == 0 and json.loads(out)["customers"] == 5
    code, out, _ = run(["seed", "--customers", "3"], capsys)
    assert json.loads(out)["skipped_existing"] == 3


def test_given_uvloop_installed_then_servers_run_on_it_and_asyncio_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import sys

    from contact_center.cli import event_loop_factory

    loop = event_loop_factory()()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed
    assert event_loop_factory() is asyncio.new_event_loop
