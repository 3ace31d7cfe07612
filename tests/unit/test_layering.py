"""Data flows one way, receiver -> export -> convert -> pipeline -> store: a stage never imports a
stage that calls it, and only the runtime and the command line import the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "service" / "observatory_ingest"
CALLERS = {"receiver", "runtime", "cli"}
# What each part must not import: the parts that call it.
FORBIDDEN: dict[str, set[str]] = {
    "receiver": {"runtime", "cli"},
    "export": CALLERS,
    "auth": CALLERS | {"export"},
    "outcomes": CALLERS | {"export"},
    "pipeline": CALLERS | {"export", "auth", "outcomes"},
    "store": CALLERS | {"export", "auth", "outcomes", "pipeline"},
    "convert": CALLERS | {"export", "auth", "outcomes", "pipeline", "store", "signals"},
    # Cross-cutting modules every stage may import: they import no stage that uses them.
    "config": CALLERS | {"export", "pipeline", "store", "convert"},
    "telemetry": CALLERS | {"export", "pipeline", "store", "convert"},
    "health": CALLERS | {"export", "pipeline", "store", "convert"},
    "errors": CALLERS | {"export", "pipeline", "store", "convert"},
}


def part_of(module: str) -> str:
    """observatory_ingest.convert.traces -> convert; observatory_ingest.export -> export."""
    return module.split(".")[1] if module.count(".") else module


def imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("observatory_ingest."):
            parts.add(part_of(node.module))
        elif isinstance(node, ast.ImportFrom) and node.module == "observatory_ingest":
            parts.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            parts.update(part_of(a.name) for a in node.names if a.name.startswith("observatory_ingest."))
    return parts


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_stage_imports_a_stage_that_calls_it(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    part = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    forbidden = FORBIDDEN.get(part, set())
    assert not imported_parts(path) & forbidden, f"{relative} imports {imported_parts(path) & forbidden}"


def test_the_rules_cover_every_stage() -> None:
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in SOURCES}
    assert {"receiver", "export", "convert", "pipeline", "store"} <= parts
