"""The one place where the ``bridge`` command turns a mistake into a few lines and an exit code.

Every command runs through :func:`run`. A caller's mistake -- a missing, malformed or
contradictory configuration, a store URL that cannot be parsed or reached, a port that is taken,
a bad argument -- ends in lines that name the setting (and the file:line when there is one) and
what to do, never a traceback. Exit codes: 2 for usage and configuration, 1 for a world that is
not as configured (a store that does not answer, a port another process holds), 70 for our own
bug: then, and only then, the traceback, with a line that says so and where it was written.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from bridge.cli._listen import BindError
from bridge.config import ConfigError, load_settings

__all__ = ["EXIT_BUG", "EXIT_ENVIRONMENT", "EXIT_USAGE", "run"]

EXIT_USAGE = 2        # usage and configuration (click's own code for a usage error)
EXIT_ENVIRONMENT = 1  # the store or a port is not as the configuration says
EXIT_BUG = 70         # EX_SOFTWARE (sysexits.h): an internal error

_DATABASE_HINT = "set database_url in the config file or BRIDGE_DATABASE_URL"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _config_file(argv: Sequence[str]) -> Path | None:
    """The --config/-c the command line names (the settings of the command that failed)."""
    for index, word in enumerate(argv):
        if word in ("--config", "-c") and index + 1 < len(argv):
            return Path(argv[index + 1])
        if word.startswith("--config="):
            return Path(word.removeprefix("--config="))
    return None


def _database_url(argv: Sequence[str]) -> str:
    """The configured store URL with its password masked (it is printed)."""
    try:
        url = load_settings(_config_file(argv)).database_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the store"


def _store_error(exc: Exception, argv: Sequence[str]) -> int:
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        _say(f"config: database_url: not a usable database URL; {_DATABASE_HINT}")
        return EXIT_USAGE
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = cause[0][:200] if cause else type(exc).__name__
    if isinstance(exc, ProgrammingError) or "no such table" in reason:   # PostgreSQL's UndefinedTable, SQLite's
        _say(f"store: database_url: {_database_url(argv)} is not migrated ({reason}); run `bridge db upgrade`")
    elif isinstance(exc, OperationalError):
        _say(f"store: database_url: {_database_url(argv)} cannot be used: {reason}; check that it runs and "
             f"accepts this user, or {_DATABASE_HINT}")
    else:
        _say(f"store: database_url: {_database_url(argv)}: {type(exc).__name__}: {reason}")
    return EXIT_ENVIRONMENT


def _file_error(exc: OSError) -> int:
    """A file the configuration names that cannot be read or written."""
    _say(f"config: {exc.filename}: {exc.strerror or exc}; check the setting that names it "
         "(`bridge check` lists them)")
    return EXIT_USAGE


def _bug(exc: BaseException) -> int:
    text = "".join(traceback.format_exception(exc))
    log = Path(tempfile.gettempdir()) / f"bridge-error-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}.log"
    try:
        log.write_text(text, encoding="utf-8")
        where = f"written to {log}"
    except OSError:
        where = "not written to a file"
    sys.stderr.write(text)
    _say(f"bridge: internal error ({type(exc).__name__}): a bug in the bridge, not in your configuration; "
         f"the traceback above is {where} -- please report it with that file")
    return EXIT_BUG


def _handled(exc: Exception, argv: Sequence[str]) -> int | None:
    """The exit code of a mistake this module explains, after saying it; None for our own bugs."""
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            _say(f"config: {problem}")
        return EXIT_USAGE
    if isinstance(exc, BindError):
        what = ("choose another with --port or BRIDGE_PORT (make run PORT=8081)" if exc.setting == "port" else
                "unset sandbox_base_port (BRIDGE_SANDBOX_BASE_PORT) to take free ports, or choose another")
        _say(f"{exc} -- another process listens there (another bridge?); stop it, or {what}")
        return EXIT_ENVIRONMENT
    if isinstance(exc, SQLAlchemyError):
        return _store_error(exc, argv)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError) \
            and exc.filename:
        return _file_error(exc)
    return None


def run(command: Callable[..., Any], argv: Sequence[str]) -> int:
    """Run the click/typer ``command`` on ``argv``; the exit code, every mistake said in a few lines."""
    try:
        command(args=list(argv), prog_name="bridge")
    except SystemExit as exc:   # click's own usage errors (exit 2, "Error: ..."), typer.Exit, --help
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        _say(str(code))
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        handled = _handled(exc, argv)
        return _bug(exc) if handled is None else handled
    return 0
