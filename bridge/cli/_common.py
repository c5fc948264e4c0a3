"""What every command shares: settings loaded (a ConfigError ends in bridge.cli._errors: every
problem printed, exit 2), the store they name, the ``--config`` option, how a moment and a bad
``--state`` are said."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bridge.config import Settings, load_settings
from bridge.store import Store

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file (or BRIDGE_CONFIG).")]


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})


@contextmanager
def configured_store(config: Path | None) -> Iterator[Store]:
    """The store the configuration names, disposed of afterwards."""
    store = Store(settings_or_exit(config).database_url)
    try:   # a store that fails is said by bridge.cli._errors (database_url, what to do)
        yield store
    finally:
        store.dispose()


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def check_state(state: str | None, allowed: tuple[str, ...]) -> None:
    """``--state`` must be one of ``allowed`` (exit 2 otherwise)."""
    if state is not None and state not in allowed:
        typer.echo(f"--state must be one of {', '.join(allowed)}", err=True)
        raise typer.Exit(2)
