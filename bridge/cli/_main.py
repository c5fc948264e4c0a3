"""bridge serve | check | demo | mappings test | wsdl freeze/diff/lint | db upgrade."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import typer

from bridge.adapters import load_adapter, migration_paths
from bridge.cli._audit import audit
from bridge.cli._check import check_all, check_warnings
from bridge.cli._common import settings_or_exit
from bridge.cli._contracts import drift, freeze, lint
from bridge.cli._errors import run
from bridge.cli._jobs import app as jobs_app
from bridge.cli._outbox import app as outbox_app
from bridge.cli._serve import serve_blocking, serve_sandbox_blocking
from bridge.cli._smev import app as smev_app
from bridge.config import ConfigError
from bridge.config._settings import config_file_from_env
from bridge.mapping._cli import app as mappings_app
from bridge.signing._cli import app as keys_app
from bridge.soap import LINT_RULES
from bridge.store import Store

# Plain click help (rich_markup_mode=None): typer's rich help gives every flag a type, "--help <bool>".
# No pretty tracebacks: every error ends in bridge.cli._errors.run.
app = typer.Typer(help="MIS Bridge: SOAP for the МИС, translated to the upstreams of the configured adapters.",
                  no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
app.add_typer(mappings_app, name="mappings")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys", help="GOST keys and certificates: make a test key, hash, expiry.")
app.add_typer(outbox_app, name="outbox")
app.add_typer(smev_app, name="smev")
wsdl_app = typer.Typer(help="The frozen WSDL contracts in wsdl/.", no_args_is_help=True)
app.add_typer(wsdl_app, name="wsdl")
db_app = typer.Typer(help="The store.", no_args_is_help=True)
app.add_typer(db_app, name="db")

app.command("audit")(audit)

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config file (or BRIDGE_CONFIG).")


_settings = settings_or_exit


@app.command()
def serve(
    config: Path | None = ConfigOption,
    sandbox: bool = typer.Option(False, "--sandbox", help="Also serve the sandbox peers on loopback."),
    host: str | None = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Listen port (default 8080)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Worker processes on one socket (about one per core; see docs/performance.md)."),
) -> None:
    """Serve the bridge (and with --sandbox, the sandbox peers it then talks to)."""
    settings = _settings(config, host=host, port=port, sandbox=sandbox or None)
    serve_blocking(settings, workers=workers)


@app.command()
def sandbox(
    config: Path | None = ConfigOption,
    write_config: Path | None = typer.Option(None, help="Write the upstreams and adapter settings that point a "
                                             "bridge at these sandboxes into this YAML file."),
) -> None:
    """Serve only the sandbox peers (the bridge runs elsewhere, e.g. several instances)."""
    settings = _settings(config)
    if write_config is not None and not write_config.parent.is_dir():
        raise ConfigError([f"--write-config: {write_config.parent} is not a directory"])
    serve_sandbox_blocking(settings, write_config)


@app.command()
def check(config: Path | None = ConfigOption) -> None:
    """Validate config, mappings and WSDL; print every problem with file, line and field."""
    settings = _settings(config)
    problems = check_all(settings, config or config_file_from_env())
    for warning in check_warnings(settings):
        typer.echo(f"warning: {warning}", err=True)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo("configuration, mappings and WSDL are valid")


@app.command()
def demo(
    url: str = typer.Option("http://127.0.0.1:8080", help="The running bridge (make run)."),
    config: Path | None = ConfigOption,
) -> None:
    """Tell each adapter's story against a running bridge with --sandbox."""
    settings = _settings(config)
    base = url.rstrip("/")
    try:
        upstreams = {name: u["base_url"] for name, u in httpx.get(f"{base}/admin/upstreams", timeout=5).json().items()}
    except httpx.HTTPError:
        typer.echo(f"--url: no bridge answers at {base}: start it first with `make run` "
                   "(PORT=… for another port), or give its address with --url", err=True)
        raise typer.Exit(1) from None
    for name in settings.adapters:
        typer.echo(f"═══ {name} ═══")
        load_adapter(name).demo(base, upstreams, typer.echo)


@wsdl_app.command("freeze")
def wsdl_freeze(config: Path | None = ConfigOption) -> None:
    """Write the WSDL the code serves into wsdl/ (an intentional contract change)."""
    for line in freeze(_settings(config)):
        typer.echo(line)


@wsdl_app.command("diff")
def wsdl_diff(config: Path | None = ConfigOption) -> None:
    """Exit 1 when the code's contract differs from the frozen WSDL."""
    problems = drift(_settings(config))
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("served contracts match wsdl/")


@wsdl_app.command("lint")
def wsdl_lint(
    paths: list[Path] | None = typer.Argument(None, help="WSDL files (default: every *.wsdl in wsdl_dir)."),
    config: Path | None = ConfigOption,
) -> None:
    """Exit 1 when a contract breaks a rule that 1C, .NET or Java client generators need (docs/soap-contracts.md)."""
    files = list(paths or sorted(_settings(config).wsdl_dir.glob("*.wsdl")))
    if not files:
        typer.echo("no WSDL to lint", err=True)
        raise typer.Exit(1)
    problems = lint(files)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s); the rules: " + ", ".join(LINT_RULES), err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(files)} contract(s) keep the rules: " + ", ".join(LINT_RULES))


@db_app.command("upgrade")
def db_upgrade(config: Path | None = ConfigOption) -> None:
    """Migrate the store to the newest schema: the core's tables and every configured adapter's."""
    settings = _settings(config)
    Store(settings.database_url).upgrade(migration_paths(load_adapter(name) for name in settings.adapters))
    typer.echo("store is at the newest revision")


def main() -> None:
    sys.exit(run(app, sys.argv[1:]))
