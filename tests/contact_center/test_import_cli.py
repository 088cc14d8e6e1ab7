"""`contact-center import` as an operator runs it: exit statuses, options, the report file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from contact_center.cli import main
from contact_center.store.profiles import ProfileStore


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


def customers_file(directory: Path) -> Path:
    path = directory / "customers.csv"
    path.write_text(
        "display_name,email\nAnn Lee,ann@example.com\nBob Stone,bob@example.com\n",
        encoding="utf-8",
    )
    return path


def test_given_an_unknown_customer_id_mid_file_then_the_rest_is_imported_and_status_is_1(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)
    assert run(["import", "customers", str(customers_file(cli_env))], capsys)[0] == 0
    orders = cli_env / "orders.csv"
    orders.write_text(
        "customer_id,external_id,amount,ordered_at\n"
        "1,o-1,10,2026-01-05\n"
        "999,o-2,20,2026-01-06\n"
        "2,o-3,30,2026-01-07\n",
        encoding="utf-8",
    )

    code, out, err = run(["import", "orders", str(orders)], capsys)

    summary = json.loads(out)
    assert code == 1, err
    assert (summary["created"], summary["rejected"]) == (2, 1)
    assert [(e["line"], e["error"]) for e in summary["errors"]] == [(3, "customer-not-found")]


def test_given_a_clean_file_imported_twice_then_the_second_run_changes_nothing_and_exits_0(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)
    path = customers_file(cli_env)
    assert run(["import", "customers", str(path)], capsys)[0] == 0

    code, out, _ = run(["import", "customers", str(path)], capsys)

    summary = json.loads(out)
    assert code == 0
    assert (summary["created"], summary["unchanged"], summary["rejected"]) == (0, 2, 0)


def test_given_on_conflict_and_report_then_every_row_is_reported_in_line_order(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)
    run(["import", "customers", str(customers_file(cli_env))], capsys)
    changes = cli_env / "changes.jsonl"
    changes.write_text(
        '{"display_name": "Ann Smith", "email": "ann@example.com"}\n'
        '{"display_name": "Cy", "email": "cy@example.com", "timezone": "Mars/Olympus"}\n'
        '{"display_name": "Bob Stone", "email": "bob@example.com"}\n',
        encoding="utf-8",
    )
    report = cli_env / "report.jsonl"

    code, out, _ = run(
        ["import", "customers", str(changes), "--on-conflict", "skip", "--report", str(report)],
        capsys,
    )

    assert code == 1
    assert json.loads(out)["skipped"] == 1
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["outcome"], r.get("error")) for r in lines] == [
        (1, "skipped", None),
        (2, "rejected", "invalid-timezone"),
        (3, "unchanged", None),
    ]
    assert lines[0]["customer_id"] == 1 and lines[0]["fields"] == ["display_name"]


def test_given_an_unknown_csv_column_then_the_command_refuses_the_file_with_status_2(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)
    path = cli_env / "typo.csv"
    path.write_text("display_name,emial\nAnn Lee,ann@example.com\n", encoding="utf-8")

    code, out, err = run(["import", "customers", str(path)], capsys)

    assert code == 2 and out == ""
    assert "invalid-file" in err and "emial" in err
    code, out, _ = run(["import", "customers", str(customers_file(cli_env))], capsys)
    assert json.loads(out)["created"] == 2  # nothing was written by the refused file


def test_given_create_missing_customers_for_a_customer_file_then_the_command_refuses(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)

    code, _, err = run(
        ["import", "customers", str(customers_file(cli_env)), "--create-missing-customers"],
        capsys,
    )

    assert code == 2 and "applies to orders only" in err


def test_given_an_order_for_an_unknown_email_then_no_customer_appears_unless_asked(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade"], capsys)
    orders = cli_env / "orders.jsonl"
    orders.write_text(
        '{"email": "new@example.com", "customer_name": "New Person", "external_id": "o-1", '
        '"amount": 12.5, "ordered_at": "2026-01-02T10:00:00Z"}\n',
        encoding="utf-8",
    )

    code, out, _ = run(["import", "orders", str(orders)], capsys)
    assert code == 1 and json.loads(out)["errors"][0]["error"] == "customer-not-found"
    assert run(["export-customer", "1"], capsys)[0] == 2  # no customer was created

    code, out, _ = run(["import", "orders", str(orders), "--create-missing-customers"], capsys)

    assert code == 0 and json.loads(out)["customers_created"] == 1
    code, out, _ = run(["export-customer", "1"], capsys)
    exported = json.loads(out)
    assert exported["customer"]["display_name"] == "New Person"
    assert [o["external_id"] for o in exported["orders"]] == ["o-1"]


def test_given_the_database_failing_mid_file_then_status_2_without_the_rows_data(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["db", "upgrade"], capsys)

    async def failing(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("INSERT INTO customers", {"display_name": "Ann Lee"}, OSError())

    monkeypatch.setattr(ProfileStore, "import_customer", failing)

    code, out, err = run(["import", "customers", str(customers_file(cli_env))], capsys)

    assert code == 2 and out == ""
    assert "database failed" in err and "OSError" in err
    assert "Ann Lee" not in err and "Traceback" not in err
