"""The scratch databases of bench_outbox.py: a template database prepared once (intake, replies
submitted, ANALYZE), and a fresh copy of it for every timed run, in PostgreSQL (``CREATE DATABASE …
TEMPLATE``, dropped at the end) or in SQLite (a copy of the file); with the PostgreSQL backends serving
a copy, whose CPU is counted as the store's."""

from __future__ import annotations

import abc
import contextlib
import shutil
import uuid
from pathlib import Path


class Scratch(abc.ABC):
    """A template database prepared once, and a fresh copy of it for every timed run."""

    @abc.abstractmethod
    def template(self) -> str: ...

    @abc.abstractmethod
    def copy(self) -> str: ...

    @abc.abstractmethod
    def drop(self, url: str) -> None: ...

    def backends(self, url: str) -> list[int]:
        """Server processes working for ``url`` (their CPU is the store's), none for SQLite."""
        return []

    def server(self) -> str:
        return ""

    @abc.abstractmethod
    def close(self) -> None: ...


class PostgresScratch(Scratch):
    def __init__(self, admin_url: str) -> None:
        import psycopg

        self._admin = psycopg.connect(admin_url, autocommit=True)
        self._base = admin_url.rsplit("/", 1)[0]
        self._prefix = f"bridge_bench_{uuid.uuid4().hex[:8]}"
        self._names: list[str] = []
        self._copies = 0
        self._template = self._create(f"{self._prefix}_t")

    def _create(self, name: str, template: str | None = None) -> str:
        # WAL_LOG (the default from PostgreSQL 15): no checkpoint per copy; the template is small.
        self._admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self._names.append(name)
        return f"{self._base}/{name}"

    def template(self) -> str:
        return self._template

    def copy(self) -> str:
        self._copies += 1
        return self._create(f"{self._prefix}_{self._copies}", template=f"{self._prefix}_t")

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._names.remove(name)

    def backends(self, url: str) -> list[int]:
        name = url.rsplit("/", 1)[1]
        rows = self._admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
        return [int(row[0]) for row in rows]

    def server(self) -> str:
        row = self._admin.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {str(row[0]).split()[0]}" if row else "PostgreSQL"

    def close(self) -> None:
        for name in list(self._names):
            with contextlib.suppress(Exception):
                self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.close()


class SqliteScratch(Scratch):
    def __init__(self, work: Path) -> None:
        self._work = work
        self._count = 0

    def template(self) -> str:
        return f"sqlite:///{self._work / 'template.db'}"

    def copy(self) -> str:
        self._count += 1
        target = self._work / f"run-{self._count}.db"
        shutil.copyfile(self._work / "template.db", target)  # the template's engine is disposed: WAL checkpointed
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    def server(self) -> str:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        """Nothing to close: each copy is a file in the run's temporary directory."""
