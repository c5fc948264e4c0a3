"""Every command's --help shows a flag as a flag: no "<bool>" after --sandbox, --json or --help."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bridge.cli._main import app


def _paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _paths(sub, (*path, name))
    return found


PATHS = _paths(typer.main.get_command(app))


def test_the_tree_is_walked() -> None:
    assert {("serve",), ("outbox", "list"), ("keys", "generate"), ("jobs", "run")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "bridge" for p in PATHS])
def test_help_shows_flags_without_a_type(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="bridge")
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output, result.output
