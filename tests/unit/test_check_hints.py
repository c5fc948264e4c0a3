"""`bridge check`'s hints name things that exist: the flags of real commands, and environment
variables that really set the setting they are about (issue 18: "(or run with --sandbox)" named a
flag `bridge check` does not have)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from bridge.cli._check import check_all
from bridge.cli._main import app
from bridge.config import load_settings

COMMAND = re.compile(r"`(bridge(?: [a-z-]+)+)((?: --[a-z-]+)+)`")
VARIABLE = re.compile(r"\b(BRIDGE_[A-Z_-]+)\b")


def _problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BRIDGE_")]:
        monkeypatch.delenv(name)
    return check_all(load_settings())


def test_the_default_set_up_is_told_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _problems(tmp_path, monkeypatch)
    assert any(p.startswith("upstreams.esia-oauth.base_url: required") for p in problems), problems
    assert not any("(or run with --sandbox)" in p for p in problems)


def test_every_flag_a_hint_names_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = typer.main.get_command(app)
    named = 0
    for problem in _problems(tmp_path, monkeypatch):
        for words, flags in COMMAND.findall(problem):
            command: Any = root
            for word in words.split()[1:]:   # typer's own click: its groups keep their commands by name
                command = getattr(command, "commands", {}).get(word)
                assert command is not None, f"{words}: no command {word!r} ({problem})"
            options = {opt for param in command.params for opt in param.opts}
            for flag in flags.split():
                assert flag in options, f"`{words}` has no {flag} ({problem})"
                named += 1
    assert named >= 1


def test_every_variable_a_hint_names_sets_its_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _problems(tmp_path, monkeypatch)
    variables = {v for p in problems for v in VARIABLE.findall(p) if "__BASE_URL" in v}
    assert "BRIDGE_UPSTREAMS__ESIA-OAUTH__BASE_URL" in variables, problems  # the ЕСИА login; accounts go over СМЭВ
    for variable in variables:
        monkeypatch.setenv(variable, "https://upstream.example.ru")
    settings = load_settings()
    for variable in variables:
        upstream = variable.removeprefix("BRIDGE_UPSTREAMS__").removesuffix("__BASE_URL").lower()
        assert settings.upstreams[upstream].base_url == "https://upstream.example.ru", variable
    monkeypatch.setenv("BRIDGE_SANDBOX", "true")
    assert not any("required by adapter" in p for p in check_all(load_settings()))
