"""What every command shares: settings loaded, or every problem printed and exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bridge.config import ConfigError, Settings, load_settings


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"config: {problem}", err=True)
        raise typer.Exit(2) from None
