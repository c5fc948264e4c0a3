"""``bridge outbox ...``: look at the outbox, replay or drop dead letters (``_main`` mounts :data:`app`).

Every command opens the store named by the configuration (``--config`` or ``BRIDGE_CONFIG``,
``BRIDGE_DATABASE_URL``) and changes nothing but the outbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bridge.cli._common import ConfigOption, check_state, configured_store, when
from bridge.outbox import REPLAYABLE, STATES, Outbox, OutboxMessage

__all__ = ["app"]

app = typer.Typer(
    help="The outbox: messages waiting for an upstream; replay or drop dead letters.",
    no_args_is_help=True,
    add_completion=False,
)

@contextmanager
def _outbox(config: Path | None) -> Iterator[Outbox]:
    with configured_store(config) as store:
        yield Outbox(store)


@app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATES)}.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only messages of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, oldest first.")] = 100,
    config: ConfigOption = None,
) -> None:
    """Messages, oldest first: id, kind, state, attempts, next attempt, last error."""
    check_state(state, STATES)
    with _outbox(config) as outbox:
        messages = outbox.list(state=state, kind=kind, limit=limit)
    typer.echo(f"{'ID':<36}  {'KIND':<24}  {'STATE':<9}  {'TRIES':>5}  {'NEXT ATTEMPT':<19}  LAST ERROR")
    for m in messages:
        error = "" if m.last_error is None else f"{m.last_error_code}: {m.last_error}"
        error = error.replace("\n", " ")
        next_attempt = when(m.next_attempt_at) if m.state == "pending" else "-"
        typer.echo(f"{m.id:<36}  {m.kind:<24}  {m.state:<9}  {m.attempts:>5}  {next_attempt:<19}  {error[:80]}")
    typer.echo(f"{len(messages)} message(s)")


def _show(message: OutboxMessage) -> None:
    for key, value in message.to_dict(payload=False).items():
        typer.echo(f"{key + ':':<17} {'-' if value is None else value}")
    typer.echo("payload:")
    typer.echo(json.dumps(message.payload, ensure_ascii=False, indent=2, sort_keys=True))


@app.command("show")
def show_command(
    message_id: Annotated[str, typer.Argument(help="The message id.")], config: ConfigOption = None,
) -> None:
    """Every field of one message and its payload (pretty JSON): what ops need to decide."""
    with _outbox(config) as outbox:
        message = outbox.get(message_id)
    if message is None:
        typer.echo(f"no outbox message {message_id}", err=True)
        raise typer.Exit(1)
    _show(message)


@app.command("replay")
def replay_command(
    message_id: Annotated[str | None, typer.Argument(help="The message to replay (or use --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every message in --state (of --kind).")] = False,
    state: Annotated[str, typer.Option(help="With --all: dead or rejected.")] = "dead",
    kind: Annotated[str | None, typer.Option(help="With --all: only this kind.")] = None,
    config: ConfigOption = None,
) -> None:
    """Put a dead or rejected message back to pending (attempts reset), or all of them with --all."""
    if (message_id is None) == (not all_):
        typer.echo("give a message id, or --all [--state dead|rejected] [--kind K]", err=True)
        raise typer.Exit(2)
    check_state(state, REPLAYABLE)
    with _outbox(config) as outbox:
        if message_id is not None:
            if outbox.replay(message_id):
                typer.echo(f"replayed {message_id}: pending, due now")
                return
            message = outbox.get(message_id)
            if message is None:
                typer.echo(f"no outbox message {message_id}", err=True)
            else:
                typer.echo(f"{message_id} is {message.state}; only dead or rejected messages can be replayed",
                           err=True)
            raise typer.Exit(1)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("replay", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            replayed = outbox.replay_many(state=state, kind=kind, progress=advance)
    typer.echo(f"replayed {replayed} {state} message(s)")


@app.command("drop")
def drop_command(
    message_id: Annotated[str, typer.Argument(help="The message to delete for good.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete a dead or rejected message: it will never be delivered."""
    with _outbox(config) as outbox:
        message = outbox.get(message_id)
        if message is None:
            typer.echo(f"no outbox message {message_id}", err=True)
            raise typer.Exit(1)
        if message.state not in REPLAYABLE:
            typer.echo(f"{message_id} is {message.state}; only dead or rejected messages can be dropped", err=True)
            raise typer.Exit(1)
        if not yes:
            typer.echo(f"{message.id}  {message.kind}  {message.state}  "
                       f"{message.last_error_code}: {message.last_error}")
            typer.confirm("drop this message for good?", abort=True)
        if not outbox.drop(message_id):
            typer.echo(f"{message_id} changed meanwhile; not dropped", err=True)
            raise typer.Exit(1)
    typer.echo(f"dropped {message_id}")


@app.command("stats")
def stats_command(config: ConfigOption = None) -> None:
    """Messages per state, how many are leased now, and the age of the oldest pending one."""
    with _outbox(config) as outbox:
        stats = outbox.stats()
    for state in STATES:
        typer.echo(f"{state + ':':<10} {stats.counts.get(state, 0)}")
    typer.echo(f"{'leased:':<10} {stats.leased}")
    age = stats.oldest_pending_age_seconds
    typer.echo(f"oldest pending: {'-' if age is None else f'{age:.0f} s'}")


@app.command("purge")
def purge_command(
    days: Annotated[float, typer.Option(min=0, help="Delete delivered messages older than this.")] = 30.0,
    config: ConfigOption = None,
) -> None:
    """Delete delivered messages delivered more than --days ago (dead and rejected ones stay)."""
    with _outbox(config) as outbox:
        purged = outbox.purge(timedelta(days=days))
    typer.echo(f"purged {purged} delivered message(s)")
