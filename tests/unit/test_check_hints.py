"""`bridge check`'s hints name things that exist: the flags of real commands, and environment
variables that really set the setting they are about (issue 18: "(or run with --sandbox)" named a
flag `bridge check` does not have)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from bridge.cli._check import check_all
from bridge.cli._main import app
from bridge.config import load_settings

COMMAND = re.compile(r"`(bridge(?: [a-z-]+)+)((?: --[a-z-]+)+)`")
VARIABLE = re.compile(r"\b(BRIDGE_[A-Z_-]+)\b")
SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")   # POSIX: what `export NAME=…` accepts
JSON_HINT = re.compile(r"BRIDGE_UPSTREAMS='(\{.*?\})'")


def _problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BRIDGE_")]:
        monkeypatch.delenv(name)
    return check_all(load_settings())


def test_the_default_set_up_is_told_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _problems(tmp_path, monkeypatch)
    # ЕСИА's login is the upstream "esia-oauth"; its accounts go through СМЭВ ("smev", named in
    # adapter_settings.esia.smev): there is no upstream "esia" any more
    assert any(p.startswith("upstreams.esia-oauth.base_url: required by adapter 'esia'") for p in problems), problems
    assert not any(p.startswith("upstreams.esia.base_url") for p in problems), problems
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
    assert "BRIDGE_UPSTREAMS__EGISZ__BASE_URL" in variables, problems
    assert all(SHELL_NAME.fullmatch(v) for v in variables), variables   # each one `export`-able
    for variable in variables:
        monkeypatch.setenv(variable, "https://upstream.example.ru")
    settings = load_settings()
    for variable in variables:
        upstream = variable.removeprefix("BRIDGE_UPSTREAMS__").removesuffix("__BASE_URL").lower()
        assert settings.upstreams[upstream].base_url == "https://upstream.example.ru", variable
    monkeypatch.setenv("BRIDGE_SANDBOX", "true")
    assert not any("required by adapter" in p for p in check_all(load_settings()))


def test_an_upstream_named_with_a_dash_is_told_a_variable_a_shell_can_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic-settings would read BRIDGE_UPSTREAMS__ESIA-OAUTH__BASE_URL, but `export` refuses the
    name (bash: "not a valid identifier"), and so does systemd's Environment=: the hint names the
    file and the JSON form of the whole setting, which is merged with the other upstreams."""
    problems = _problems(tmp_path, monkeypatch)
    hint = next(p for p in problems if p.startswith("upstreams.esia-oauth.base_url:"))
    assert "BRIDGE_UPSTREAMS__ESIA-OAUTH__BASE_URL" not in hint
    assert "the config file (upstreams: esia-oauth: base_url: …)" in hint
    found = JSON_HINT.search(hint)
    assert found is not None, hint
    value = json.loads(found.group(1).replace("https://…", "https://esia.example.ru"))
    exported = subprocess.run(   # the hint's variable, exported by a real shell, beside a plain one
        ["sh", "-c", f"export BRIDGE_UPSTREAMS='{json.dumps(value)}' "
                     "BRIDGE_UPSTREAMS__EGISZ__BASE_URL=https://egisz.example.ru && env"],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}).stdout
    for line in exported.splitlines():
        name, _, text = line.partition("=")
        if name.startswith("BRIDGE_UPSTREAMS"):
            monkeypatch.setenv(name, text)
    upstreams = load_settings().upstreams
    assert upstreams["esia-oauth"].base_url == "https://esia.example.ru"
    assert upstreams["egisz"].base_url == "https://egisz.example.ru"
    assert not any(p.startswith("upstreams.esia-oauth.") for p in check_all(load_settings()))


def test_the_smev_node_the_accounts_name_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ЕСИА's account operations go through the upstream their СМЭВ settings name: without its base_url
    `bridge serve` could not start them, so `bridge check` says so (before: it passed)."""
    monkeypatch.setenv("BRIDGE_ADAPTER_SETTINGS", json.dumps({"esia": {"smev": {"upstream": "smev-region"}}}))
    problems = _problems_keeping(tmp_path, monkeypatch, "BRIDGE_ADAPTER_SETTINGS")
    assert any(p.startswith("upstreams.smev-region.base_url: required by adapter 'esia'") for p in problems), problems
    monkeypatch.setenv("BRIDGE_UPSTREAMS", json.dumps({"smev-region": {"base_url": "https://smev.example.ru"}}))
    problems = check_all(load_settings())
    assert not any(p.startswith("upstreams.smev-region.") for p in problems), problems


def _problems_keeping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *keep: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BRIDGE_") and n not in keep]:
        monkeypatch.delenv(name)
    return check_all(load_settings())
