"""The sandbox ЕСИА's people store: its accounts, one per SNILS (a UNIQUE column, as ЕСИА keeps it).

Both faces of the sandbox work on it: the reg_service kinds of information behind the sandbox СМЭВ
(``_reg_service``) and the control API (count, put, reset) that tests, the demo and the benchmark use.
Dates are kept as ISO ``yyyy-MM-dd``; ЕСИА's ``ДД.ММ.ГГГГ`` is converted at the face that speaks it.
Passwords are 8 digits and only their scrypt hash is kept.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from typing import Any

__all__ = ["ACCOUNT_FIELDS", "AccountStore", "DuplicateSnils", "new_password"]

ACCOUNT_FIELDS = ("snils", "lastName", "firstName", "middleName", "birthDate", "gender", "mobile",
                  "email", "docSeries", "docNumber")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    oid INTEGER PRIMARY KEY AUTOINCREMENT,
    snils TEXT NOT NULL UNIQUE,
    lastName TEXT NOT NULL, firstName TEXT NOT NULL, middleName TEXT,
    birthDate TEXT, gender TEXT, mobile TEXT, email TEXT, docSeries TEXT, docNumber TEXT,
    trusted INTEGER NOT NULL DEFAULT 1,
    password_hash TEXT NOT NULL, password_temporary INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL
);
INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('account', 1000000000);
"""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)
    return salt.hex() + ":" + digest.hex()


def new_password() -> str:
    return f"{secrets.randbelow(10**8):08d}"


class DuplicateSnils(Exception):
    """An account with this SNILS exists already: ЕСИА keeps one per person."""


class AccountStore:
    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()

    def by_snils(self, snils: str) -> dict[str, Any] | None:
        with self.lock:
            return _public(self._db.execute("SELECT * FROM account WHERE snils = ?", (snils,)).fetchone())

    def by_oid(self, oid: int) -> dict[str, Any] | None:
        with self.lock:
            return _public(self._db.execute("SELECT * FROM account WHERE oid = ?", (oid,)).fetchone())

    def search(self, column: str, value: str) -> list[dict[str, Any]]:
        if column not in ACCOUNT_FIELDS:
            raise ValueError(column)
        with self.lock:
            rows = self._db.execute(f"SELECT * FROM account WHERE {column} = ?", (value,)).fetchall()
        return [account for account in map(_public, rows) if account is not None]

    def create(self, account: dict[str, Any], password: str, trusted: bool = True) -> int:
        """A new account; :class:`DuplicateSnils` when the SNILS has one."""
        with self.lock:
            try:
                cursor = self._db.execute(
                    f"INSERT INTO account ({', '.join(ACCOUNT_FIELDS)}, trusted, password_hash, updated_at)"
                    f" VALUES ({', '.join('?' * len(ACCOUNT_FIELDS))}, ?, ?, ?)",
                    (*(account.get(f) for f in ACCOUNT_FIELDS), int(trusted), hash_password(password), time.time()),
                )
            except sqlite3.IntegrityError:
                raise DuplicateSnils() from None
            return int(cursor.lastrowid or 0)

    def update(self, oid: int, fields: dict[str, Any], trusted: bool | None = None) -> None:
        changes = {f: fields[f] for f in ACCOUNT_FIELDS if f in fields and f != "snils"}
        if trusted is not None:
            changes["trusted"] = int(trusted)
        with self.lock:
            self._db.execute(
                f"UPDATE account SET {''.join(f'{f} = ?, ' for f in changes)}updated_at = ? WHERE oid = ?",
                (*changes.values(), time.time(), oid),
            )

    def set_password(self, oid: int, password: str) -> None:
        with self.lock:
            self._db.execute("UPDATE account SET password_hash = ?, password_temporary = 1, updated_at = ?"
                             " WHERE oid = ?", (hash_password(password), time.time(), oid))

    def count(self, snils: str | None = None) -> int:
        with self.lock:
            if snils is None:
                return int(self._db.execute("SELECT count(*) FROM account").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM account WHERE snils = ?", (snils,)).fetchone()[0])

    def reset(self) -> None:
        with self.lock:
            self._db.execute("DELETE FROM account")


def _public(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    account = {f: row[f] for f in ACCOUNT_FIELDS if row[f] is not None}
    account["oid"] = row["oid"]
    account["trusted"] = bool(row["trusted"])
    return account
