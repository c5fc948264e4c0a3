"""`bridge jobs`: scheduled jobs by hand (the same runs, leases and records as the scheduler's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from bridge.cli._common import settings_or_exit
from bridge.cli._serve import with_sandbox_upstreams
from bridge.scheduling import JobAlreadyRunning

app = typer.Typer(help="Scheduled jobs: list them, run one now.", no_args_is_help=True)
ConfigOption = typer.Option(None, "--config", "-c", help="YAML config file (or BRIDGE_CONFIG).")


def _moment(value: str | None, end: bool, flag: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%d.%m.%Y").replace(tzinfo=UTC)
        return day + timedelta(days=1) if end else day
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected ДД.ММ.ГГГГ or an ISO date-time", param_hint=flag) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _context(config: Path | None):  # type: ignore[no-untyped-def]
    from bridge.app import build_context  # the whole app loads only for the command that runs a job

    settings = settings_or_exit(config)
    if settings.sandbox:   # the upstreams `serve --sandbox` would use (from sandbox_base_port when it is set)
        settings = with_sandbox_upstreams(settings)[0]
    context, adapters = build_context(settings)
    for adapter in adapters:
        adapter.soap_services(context)   # adapters register their jobs as they build
    return context


@app.command("list")
def list_jobs(config: Path | None = ConfigOption) -> None:
    """Jobs, their schedules and last successful runs."""
    scheduler = _context(config).scheduler
    for name in scheduler.names():
        last = scheduler.runs.last_success(name)
        when = last.finished_at.isoformat(timespec="seconds") if last and last.finished_at else "never"
        typer.echo(f"{name:<20} {scheduler.job(name).cron:<14} last success: {when}")


@app.command("run")
def run_job(
    name: str = typer.Argument(..., help="The job, e.g. egisz.intake"),
    since: str | None = typer.Option(None, "--from", help="Window start (ДД.ММ.ГГГГ or ISO); default: the watermark"),
    until: str | None = typer.Option(None, "--to", help="Window end, inclusive day (ДД.ММ.ГГГГ or ISO); default: now"),
    config: Path | None = ConfigOption,
) -> None:
    """Run a job now in this process; exits 1 if it fails, 2 if another instance is running it."""
    context = _context(config)
    scheduler = context.scheduler
    if name not in scheduler.names():
        typer.echo(f"no job {name!r}; jobs: {', '.join(scheduler.names())}", err=True)
        raise typer.Exit(2)
    job = scheduler.job(name)
    default = job.window(scheduler.runs, datetime.now(UTC))
    window = (_moment(since, False, "--from") or default[0], _moment(until, True, "--to") or default[1])
    try:
        run = scheduler.run_now(name, "cli", window)
    except JobAlreadyRunning:
        typer.echo(f"{name} is running on another instance", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{name}: {run.state}, processed {run.processed} "
               f"({run.window_from:%Y-%m-%d %H:%M} … {run.window_to:%Y-%m-%d %H:%M})"
               + (f", error: {run.error}" if run.error else ""))
    context.close()
    if run.state != "succeeded":
        raise typer.Exit(1)
