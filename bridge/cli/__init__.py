"""The ``bridge`` command line.

``main`` settles one thing before it imports the rest of the bridge: whether this process is to be
the supervisor of ``bridge serve --workers N``. That supervisor imports the bridge and then forks
its workers (bridge/cli/_workers.py), so the workers count in the metrics objects the supervisor
created at import, and prometheus_client chooses how those count -- in the process's memory, or in
files that /metrics sums over the workers -- once, when it is imported: by whether
PROMETHEUS_MULTIPROC_DIR is set. So ``main`` sets it first, and this module imports nothing of the
bridge (``app`` is loaded on first use). If it was not set in time (the command run some other way),
the supervisor sees it and spawns fresh workers instead, as before.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bridge.cli._rundir import MULTIPROC_ENV, worker_run_dir

if TYPE_CHECKING:
    from bridge.cli._main import app

__all__ = ["MULTIPROC_ENV", "app", "main", "worker_run_dir", "workers_asked"]

_SERVE_VALUED = ("--config", "-c", "--host", "--port")  # `serve` options that take the next word


def workers_asked(argv: Sequence[str]) -> int:
    """How many workers a command line (without the program name) asks ``serve`` for: 1 unless it
    is ``serve ... --workers N``. Click parses it again and is the judge of errors; a line this
    misreads costs at most the fork (the supervisor then spawns) or an unused directory."""
    if not argv or argv[0] != "serve":
        return 1
    asked, words = "1", iter(argv[1:])
    for word in words:
        if word in _SERVE_VALUED:
            next(words, None)
        elif word == "--workers":
            asked = next(words, "1")
        elif word.startswith("--workers="):
            asked = word.removeprefix("--workers=")
    try:
        return int(asked)
    except ValueError:
        return 1


def main() -> None:
    if workers_asked(sys.argv[1:]) > 1:
        worker_run_dir()  # before anything imports prometheus_client
    from bridge.cli._main import main as run  # only now: PROMETHEUS_MULTIPROC_DIR is set (above)

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from bridge.cli._main import app  # loaded on first use, for the reason main() gives

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
