"""``bridge smev ...``: the СМЭВ exchange journal — requests sent, their answers, the stuck and the dead.

Read-only: every command opens the store named by the configuration (``--config`` or ``BRIDGE_CONFIG``,
``BRIDGE_DATABASE_URL``). Nothing personal is shown: the business key is a pseudonym, the contents are
sealed and stay so (docs/smev.md, «Журнал обмена»).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bridge.cli._common import ConfigOption, check_state, configured_store, when
from bridge.smev import ExchangeRecord, Journal
from bridge.smev._journal_schema import STATES

__all__ = ["app"]

app = typer.Typer(
    help="The СМЭВ exchange journal: requests, their answers, the unanswered and the dead.",
    no_args_is_help=True,
    add_completion=False,
)

@contextmanager
def _journal(config: Path | None) -> Iterator[Journal]:
    with configured_store(config) as store:
        yield Journal(store)


def _short_kind(kind: str) -> str:
    return kind if len(kind) <= 48 else "…" + kind[-47:]


@app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATES)}.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of information (its namespace).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    config: ConfigOption = None,
) -> None:
    """Requests, newest first: MessageID, kind, state, tries, sent, answered, error."""
    check_state(state, STATES)
    with _journal(config) as journal:
        records = journal.search(state=state, kind=kind, limit=limit)
    typer.echo(f"{'MESSAGE ID':<36}  {'STATE':<12}  {'TRIES':>5}  {'SENT':<19}  {'ANSWERED':<19}  {'ERROR':<22}  KIND")
    for r in records:
        typer.echo(f"{r.message_id:<36}  {r.state:<12}  {r.attempts:>5}  {when(r.sent_at):<19}  "
                   f"{when(r.answered_at):<19}  {(r.error or '-')[:22]:<22}  {_short_kind(r.kind)}")
    typer.echo(f"{len(records)} request(s)")


def _show(record: ExchangeRecord) -> None:
    for key, value in record.to_dict().items():
        typer.echo(f"{key + ':':<18} {'-' if value is None else value}")
    age = record.answer_age_seconds
    typer.echo(f"{'answer_age:':<18} {'-' if age is None else f'{age:.1f} s'}")


@app.command("show")
def show_command(
    key: Annotated[str, typer.Argument(help="The journal id, the request's MessageID or the answer's MessageId.")],
    config: ConfigOption = None,
) -> None:
    """Every field of one exchange (never its contents: they are sealed)."""
    with _journal(config) as journal:
        record = journal.find(key)
    if record is None:
        typer.echo(f"no СМЭВ exchange {key}", err=True)
        raise typer.Exit(1)
    _show(record)


@app.command("stats")
def stats_command(config: ConfigOption = None) -> None:
    """Current exchanges per state, unanswered ones per kind, the oldest unanswered, stored but not acknowledged."""
    with _journal(config) as journal:
        stats = journal.stats(datetime.now(UTC))
    for state in STATES:
        typer.echo(f"{state + ':':<14} {stats.counts.get(state, 0)}")
    typer.echo(f"{'unacknowledged:':<14} {stats.unacknowledged}")
    age = stats.oldest_unanswered_age_seconds
    typer.echo(f"oldest unanswered: {'-' if age is None else f'{age:.0f} s'}")
    for kind, count in sorted(stats.unanswered_by_kind.items()):
        typer.echo(f"unanswered {kind}: {count}")
