"""``bridge mappings ...`` commands (the lead mounts :data:`app` under the main CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.mapping._examples import run_examples
from bridge.mapping._loader import collect_directory

__all__ = ["app"]

app = typer.Typer(
    help="Work with the YAML field mappings (mappings/<peer>/<name>.yaml).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Work with the YAML field mappings (mappings/<peer>/<name>.yaml)."""


@app.command("test")
def test_command(
    directory: Annotated[
        Path, typer.Option("--dir", exists=True, file_okay=False,
                           help="Directory with the mapping files (searched recursively).")
    ] = Path("mappings"),
) -> None:
    """Load every mapping and check each example both ways; exit 1 if anything fails."""
    collected = collect_directory(directory)
    for error in collected.errors:
        typer.echo(f"✗ {error}")
    results = run_examples(collected.mappings)
    for result in results:
        mark = "✓" if result.passed else "✗"
        typer.echo(f"{mark} {result.mapping} · {result.example} · {result.direction}")
        for line in result.diff:
            typer.echo(f"    {line}")
    failed = sum(not r.passed for r in results)
    summary = f"{len(results) - failed} passed, {failed} failed"
    if collected.errors:
        summary += f", {len(collected.errors)} load error(s)"
    if not results and not collected.errors:
        summary = f"no examples found under {directory}"
    typer.echo(summary)
    if failed or collected.errors:
        raise typer.Exit(code=1)
