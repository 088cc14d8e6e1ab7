"""docs/importing.md's examples, run as written: every file its shell blocks create,
every command they run, and the output and exit status the page shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from contact_center.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "importing.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"^cat > (\S+) <<'EOF'\n(.*?)^EOF$", re.MULTILINE | re.DOTALL)
EXIT = re.compile(r"\s+# exit status (\d)$")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_the_examples_of_the_import_page_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'example.db'}")
    monkeypatch.delenv("CC_CONFIG", raising=False)
    blocks = FENCE.findall(PAGE.read_text(encoding="utf-8"))
    checked = 0
    for index, (language, body) in enumerate(blocks):
        if language != "sh":
            continue
        for name, content in HEREDOC.findall(body):
            (tmp_path / name).write_text(content, encoding="utf-8")
        for line in HEREDOC.sub("", body).splitlines():
            expected_code = int(EXIT.search(line).group(1)) if EXIT.search(line) else 0
            command = EXIT.sub("", line)
            if command.startswith("contact-center "):
                code, out = run(shlex.split(command)[1:], capsys)
                assert code == expected_code, command
                if command.startswith("contact-center import"):
                    assert out == blocks[index + 1][1], command
                    checked += 1
            elif command.startswith("cat "):
                shown = blocks[index + 1][1]
                assert (tmp_path / command.split()[1]).read_text(encoding="utf-8") == shown
                checked += 1
    assert checked == 6
