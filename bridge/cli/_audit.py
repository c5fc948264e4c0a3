"""``bridge audit``: search the audit journal (who called what, when, how it ended)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer

from bridge.cli._common import ConfigOption, configured_store
from bridge.store import AuditJournal


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("h", "d")) and text[:-1].isdigit():
        unit = timedelta(hours=1) if text.endswith("h") else timedelta(days=1)
        return datetime.now(UTC) - int(text[:-1]) * unit
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO date/time (2026-11-22T09:00) or an age such as 24h or 7d",
                                 param_hint=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit(
    client: str | None = typer.Option(None, help="the МИС client's configured name (or admin, anonymous)"),
    service: str | None = typer.Option(None, help="e.g. egisz-attachments"),
    operation: str | None = typer.Option(None, help="e.g. ReplyToApplication"),
    outcome: str | None = typer.Option(None, help="ok, client_fault, server_fault, http_401…"),
    object_id: str | None = typer.Option(None, "--object", help="an id the call named (application, visit…)"),
    since: str | None = typer.Option("24h", help="from when: ISO time or an age (24h, 7d)"),
    until: str | None = typer.Option(None, help="until when (ISO time)"),
    limit: int = typer.Option(100, min=1, max=10000),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    config: ConfigOption = None,
) -> None:
    """Search the audit journal, newest first. It holds no personal data: clients, operations, ids, outcomes."""
    with configured_store(config) as store:
        entries = AuditJournal(store).search(client=client, service=service, operation=operation, outcome=outcome,
                                             object_id=object_id, since=_moment(since, "--since"),
                                             until=_moment(until, "--until"), limit=limit)
    for entry in entries:
        if as_json:
            typer.echo(json.dumps(entry.to_dict(), ensure_ascii=False))
        else:
            typer.echo(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.client:<16} {entry.service}.{entry.operation:<28} "
                       f"{entry.outcome:<12} {entry.faultcode or '':<24} {entry.objects or ''} "
                       f"[{entry.request_id or '-'}]")
    if not entries and not as_json:
        typer.echo("no entries", err=True)
