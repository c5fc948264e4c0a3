"""Configuration errors name the file, the line and the field; `bridge check` finds them all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import ConfigError, load_settings
from tests.bridgeproc import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "port: 9000\nlog_level: DEBUG\n")
    monkeypatch.setenv("BRIDGE_PORT", "9100")
    settings = load_settings(path)
    assert settings.port == 9100 and settings.log_level == "DEBUG"


def test_nested_upstream_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_UPSTREAMS__ESIA__BASE_URL", "https://esia.example/")
    assert load_settings().upstreams["esia"].base_url == "https://esia.example"


def test_bad_values_are_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 8080\nupstreams:\n  esia:\n    base_url: ftp://x\n    read_timeout: -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    problems = info.value.problems
    assert any(p.startswith(f"{path}:4: upstreams.esia.base_url") for p in problems), problems
    assert any(p.startswith(f"{path}:5: upstreams.esia.read_timeout") for p in problems), problems


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "prot: 8080\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert f"{path}:1: prot" in info.value.problems[0]


def test_pseudonym_key_from_a_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    settings = load_settings(pseudonym_key_file=key)
    assert settings.pseudonym_secret() == b"0123456789abcdef0123456789abcdef"


def test_check_passes_on_the_repository() -> None:
    result = CliRunner().invoke(app, ["check"], env={"BRIDGE_SANDBOX": "true"})
    assert result.exit_code == 0, result.output


def test_check_reports_mapping_problems_with_file_and_line(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    account = mappings / "esia" / "account.yaml"
    text = account.read_text(encoding="utf-8").replace("transform: phone_ru", "transform: phone_rus")
    account.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    transform: phone_rus") + 1
    config = write(tmp_path, f"mappings_dir: {mappings}\nsandbox: true\n")
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert f"account.yaml:{line}:" in result.output and "phone_rus" in result.output


def test_check_requires_upstreams_outside_the_sandbox(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--config", str(write(tmp_path, "sandbox: false\n"))])
    assert result.exit_code == 1
    assert "upstreams.esia-oauth.base_url" in result.output   # ЕСИА's login; its accounts go over СМЭВ
    assert "upstreams.esia.base_url" not in result.output


def test_check_reports_adapter_settings(tmp_path: Path) -> None:
    config = write(tmp_path, "sandbox: true\nadapter_settings:\n  esia:\n    routing_code: PRODUCTION\n")
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:4: adapter_settings.esia.routing_code" in result.output


def test_secrets_from_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bridge_pseudonym_key").write_text("from-a-secret-file-0123456789abcdef")
    monkeypatch.setenv("BRIDGE_SECRETS_DIR", str(tmp_path))
    assert load_settings().pseudonym_secret() == b"from-a-secret-file-0123456789abcdef"


def test_jobs_cli_lists_and_runs_the_intake(tmp_path: Path) -> None:
    """`bridge jobs run egisz.intake` against an unreachable upstream: the run is recorded as failed."""
    config = write(tmp_path, f"database_url: sqlite:///{tmp_path / 'b.db'}\nadapters: [egisz]\n"
                   "upstreams:\n  egisz:\n    base_url: http://127.0.0.1:9\n    max_attempts: 1\n"
                   "adapter_settings:\n  egisz:\n    mo_oids: ['1.2.643.5.1.13.13.12.2.22.1234']\n")
    listed = CliRunner().invoke(app, ["jobs", "list", "--config", str(config)])
    assert listed.exit_code == 0 and "egisz.intake" in listed.output and "never" in listed.output
    ran = CliRunner().invoke(app, ["jobs", "run", "egisz.intake", "--from", "20.11.2026", "--to", "21.11.2026",
                                   "--config", str(config)])
    assert ran.exit_code == 1, ran.output
    assert "egisz.intake: failed" in ran.output and "UpstreamConnectError" in ran.output
    unknown = CliRunner().invoke(app, ["jobs", "run", "nope", "--config", str(config)])
    assert unknown.exit_code == 2


def test_check_warns_about_readable_keys_and_open_faces(tmp_path: Path) -> None:
    key = tmp_path / "pseudonym.key"
    key.write_text("k" * 32, encoding="utf-8")
    key.chmod(0o644)
    config = write(tmp_path, f"pseudonym_key_file: {key}\nadapters: [egisz]\n"
                             "upstreams: {egisz: {base_url: 'http://127.0.0.1:9'}}\n"
                             "adapter_settings: {egisz: {mo_oids: ['1.2.643.5.1.13.13.12.2.22.1234']}}\n")
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert "warning: pseudonym_key_file" in result.output and str(key) in result.output
    assert "warning: clients: no МИС clients configured" in result.output
    key.chmod(0o600)
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert "warning: pseudonym_key_file" not in result.output
