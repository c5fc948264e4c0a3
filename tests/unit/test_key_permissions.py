"""`bridge check` warns on key and secret files every user of the host can read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.signing import key_file_warnings, secret_files


def _file(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("-----BEGIN PRIVATE KEY-----\nsecret-content\n", encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("mode", "warned"), [
    (0o600, False), (0o400, False), (0o640, False), (0o644, True), (0o604, True), (0o602, True), (0o666, True),
])
def test_only_files_others_may_read_or_write_are_warned_about(tmp_path: Path, mode: int, warned: bool) -> None:
    key = _file(tmp_path, "key.pem", mode)
    warnings = key_file_warnings([key])
    assert bool(warnings) is warned, warnings
    if warned:
        assert str(key) in warnings[0]
        assert f"{mode:04o}" in warnings[0]
        assert "chmod 600" in warnings[0]
        assert "secret-content" not in warnings[0]


def test_the_warning_names_the_setting_and_skips_what_is_not_a_file(tmp_path: Path) -> None:
    loose = _file(tmp_path, "token", 0o644)
    tight = _file(tmp_path, "pseudonym.key", 0o600)
    warnings = key_file_warnings({
        "adapter_settings.max.token_file": loose,
        "pseudonym_key_file": tight,
        "adapter_settings.esia.login.signer.key_file": tmp_path / "missing.pem",
        "adapter_settings.x.key_file": tmp_path,   # a directory
    })
    assert len(warnings) == 1
    assert warnings[0].startswith(f"adapter_settings.max.token_file: {loose}: can be read by every user")


def test_secret_files_finds_every_secret_setting_in_the_configuration(tmp_path: Path) -> None:
    key = _file(tmp_path, "key.pem", 0o644)
    password = _file(tmp_path, "key.pass", 0o644)
    pseudonym = _file(tmp_path, "pseudonym.key", 0o600)
    settings = Settings.model_validate({
        "pseudonym_key_file": pseudonym,
        "adapter_settings": {
            "esia": {"login": {"signer": {"key_file": str(key), "key_password_file": str(password),
                                          "certificate_file": str(key)},
                               "esia_certificates": [str(key)]}},
            "tmk": {"webhook_secret_file": str(password), "token": "inline", "schedule": {"guid_file": None}},
        },
    })
    found = secret_files(settings.model_dump())
    assert found == {
        "pseudonym_key_file": pseudonym,
        "adapter_settings.esia.login.signer.key_file": key,
        "adapter_settings.esia.login.signer.key_password_file": password,
        "adapter_settings.tmk.webhook_secret_file": password,
    }   # certificates are public: not listed
    warned = key_file_warnings(found)
    assert [w.split(":", 1)[0] for w in warned] == [
        "adapter_settings.esia.login.signer.key_file",
        "adapter_settings.esia.login.signer.key_password_file",
        "adapter_settings.tmk.webhook_secret_file",
    ]
