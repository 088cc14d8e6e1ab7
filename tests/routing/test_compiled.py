"""The compiled router core: built from the sources as they are, or the sources run."""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path

import pytest

import routing
import routing.compiled as compiled

PACKAGE = Path(routing.__file__).parent


def fake_package(tmp_path: Path, *, built: bool) -> Path:
    for name in compiled.COMPILED_MODULES:
        stem = name.rpartition(".")[2]
        (tmp_path / f"{stem}.py").write_text(f"# {stem}\n")
        if built:
            suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
            (tmp_path / f"{stem}{suffix}").write_bytes(b"")
    if built:
        digests = compiled.source_digests(tmp_path)
        (tmp_path / compiled.MANIFEST).write_text(json.dumps(digests))
    return tmp_path


def test_given_nothing_built_then_the_sources_run(tmp_path: Path) -> None:
    assert compiled.decide(fake_package(tmp_path, built=False), forced=False) == ("sources", [])


def test_given_a_build_of_these_sources_then_it_runs(tmp_path: Path) -> None:
    assert compiled.decide(fake_package(tmp_path, built=True), forced=False) == ("compiled", [])


def test_given_an_edited_source_then_the_sources_run_and_the_module_is_named(
    tmp_path: Path,
) -> None:
    package = fake_package(tmp_path, built=True)
    (package / "engine.py").write_text("# edited\n")
    mode, stale = compiled.decide(package, forced=False)
    assert (mode, stale) == ("sources (stale build)", ["routing.engine"])


def test_given_a_build_without_its_record_then_it_counts_as_stale(tmp_path: Path) -> None:
    package = fake_package(tmp_path, built=True)
    (package / compiled.MANIFEST).unlink()
    assert compiled.decide(package, forced=False)[0] == "sources (stale build)"


def test_given_pure_mode_forced_then_the_sources_run(tmp_path: Path) -> None:
    assert compiled.decide(fake_package(tmp_path, built=True), forced=True)[0] == "sources"


def test_given_a_build_here_then_it_matches_the_sources() -> None:
    """A build left stale would silently run old code; CI compiles, so it must be fresh."""
    built = any(
        (PACKAGE / (name.rpartition(".")[2] + suffix)).exists()
        for name in compiled.COMPILED_MODULES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    if not built:
        pytest.skip("router core not compiled here (no C compiler, or CC_PURE_PYTHON=1)")
    expected = "sources" if compiled.mode == "sources" else "compiled"
    assert compiled.mode == expected, "rebuild with `make build`"
