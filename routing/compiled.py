"""The router's compiled core: which modules are compiled, and when the sources run instead.

``setup.py`` compiles :data:`COMPILED_MODULES` to C with mypyc when the project is
installed: the same typed Python, run a few times faster (docs/decisions.md, "mypyc").
Python imports a compiled module in preference to its source, so after an edit the old
build would silently keep running. The build therefore records a digest of the
sources it compiled (:data:`MANIFEST`), and :func:`choose_sources_or_build` (called when
the ``routing`` package is imported) imports the sources instead when they differ from
that record, logging how to rebuild. ``CC_ROUTING_PURE=1`` forces the sources (CI runs
the routing tests that way too).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

# The pure core: no I/O, no await, typed throughout. Compiled together (one shared
# library), so either all of them run compiled or none does.
COMPILED_MODULES = (
    "routing.engine",
    "routing.matching",
    "routing.model",
    "routing.stats",
    "routing.strategies",
)

# Written next to the compiled modules by setup.py: {module: sha256 of its source}.
MANIFEST = "compiled-sources.json"

# What the last import chose: "compiled", "sources" (nothing built, or forced) or
# "sources (stale build)". Benchmarks report it with their figures.
mode = "sources"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their ``.py`` files, ahead of any compiled build."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def _built(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def _sources(package_dir: Path) -> dict[str, Path]:
    return {name: package_dir / (name.rpartition(".")[2] + ".py") for name in COMPILED_MODULES}


def source_digests(package_dir: Path) -> dict[str, str]:
    """What the build records, and the import compares: a digest of every core source."""
    return {
        name: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in _sources(package_dir).items()
    }


def decide(package_dir: Path, *, forced: bool) -> tuple[str, list[str]]:
    """(mode, stale modules) for the package at ``package_dir``: "compiled" when every
    module is built from the sources as they are, "sources" when nothing is built or
    ``forced``, else "sources (stale build)" with the modules that changed."""
    sources = _sources(package_dir)
    builds = {name: _built(path) for name, path in sources.items()}
    if all(build is None for build in builds.values()):
        return "sources", []
    try:
        recorded = json.loads((package_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        recorded = {}
    current = source_digests(package_dir)
    stale = [
        name
        for name, build in builds.items()
        if build is None or recorded.get(name) != current[name]
    ]
    if forced:
        return "sources", stale
    return ("sources (stale build)", stale) if stale else ("compiled", [])


def choose_sources_or_build(package_dir: Path) -> str:
    """Decide, before any core module is imported, whether the build or the sources run."""
    global mode
    mode, stale = decide(package_dir, forced=os.environ.get("CC_ROUTING_PURE") == "1")
    built = any(_built(p) for p in _sources(package_dir).values())
    if (
        mode != "compiled"
        and built
        and not any(isinstance(f, _SourceFinder) for f in sys.meta_path)
    ):
        sys.meta_path.insert(0, _SourceFinder(_sources(package_dir)))
    if stale and mode == "sources (stale build)":
        log.warning(
            "routing: %s changed since the router core was compiled; running the sources "
            "(slower). Rebuild with `make build` (or pip install -e .).",
            ", ".join(stale),
        )
    return mode
