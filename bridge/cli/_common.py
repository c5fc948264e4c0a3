"""What every command shares: settings loaded (a ConfigError ends in bridge.cli._errors: every
problem printed, exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.config import Settings, load_settings


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
