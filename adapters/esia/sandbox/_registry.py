"""The sandbox ЕСИА's own store of accounts and account-operation requests.

It behaves as our model of ЕСИА's registration service (docs/esia-accounts.md):
writes are asynchronous (VALIDATING, then SUCCEEDED or a failure status), SNILS is
unique, temporary passwords are 8 digits and only their hash is kept on the account,
and a repeated Idempotency-Key returns the original request instead of a new one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from adapters.esia.sandbox._accounts import AccountStore, DuplicateSnils, new_password
from adapters.esia.sandbox._rules import ERRORS, RequestInvalid, validate_request

TERMINAL = frozenset({"SUCCEEDED", "VALIDATION_FAILED", "CONFIRMATION_FAILED", "FAULT"})
ACCOUNT_FIELDS = ("snils", "lastName", "firstName", "middleName", "birthDate", "gender", "mobile")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS request (
    id TEXT PRIMARY KEY, operation TEXT NOT NULL, idempotency_key TEXT UNIQUE,
    fingerprint TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
    result TEXT, errors TEXT, ready_at REAL NOT NULL
);
"""


class IdempotencyConflict(Exception):
    pass


class AccountRegistry:
    def __init__(
        self,
        path: str = ":memory:",
        validating_seconds: float = 0.2,
        unconfirmable_snils: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
        accounts: AccountStore | None = None,
    ) -> None:
        self.accounts = accounts or AccountStore()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        self._lock = self.accounts.lock
        self.validating_seconds = validating_seconds
        self.unconfirmable_snils = unconfirmable_snils
        self._clock = clock

    # --- requests -------------------------------------------------------------------------

    def submit(self, operation: str, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        """Accept a request (raises RequestInvalid for a malformed one) and return its state."""
        validate_request(operation, body)
        if operation == "find_account":
            # A read: answered at once and not kept (a repeat simply reads again).
            with self._lock:
                status, result, errors = self._execute(operation, body)
            return {"requestId": str(uuid.uuid4()), "status": status, "errorStatusInfo": errors,
                    **({"result": result} if result is not None else {})}
        fingerprint = hashlib.sha256(
            (operation + json.dumps(body, sort_keys=True, ensure_ascii=False)).encode()
        ).hexdigest()
        with self._lock:
            if idempotency_key is not None:
                row = self._db.execute(
                    "SELECT * FROM request WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    if row["fingerprint"] != fingerprint or row["operation"] != operation:
                        raise IdempotencyConflict(idempotency_key)
                    return self._advance(row["id"])
            request_id = str(uuid.uuid4())
            synchronous = operation == "find_account"
            self._db.execute(
                "INSERT INTO request (id, operation, idempotency_key, fingerprint, body, status, ready_at)"
                " VALUES (?, ?, ?, ?, ?, 'VALIDATING', ?)",
                (request_id, operation, idempotency_key, fingerprint, json.dumps(body, ensure_ascii=False),
                 self._clock() + (0 if synchronous else self.validating_seconds)),
            )
            return self._advance(request_id)

    def status(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT id FROM request WHERE id = ?", (request_id,)).fetchone()
            return None if row is None else self._advance(request_id)

    def _advance(self, request_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM request WHERE id = ?", (request_id,)).fetchone()
        if row["status"] not in TERMINAL and self._clock() >= row["ready_at"]:
            status, result, errors = self._execute(row["operation"], json.loads(row["body"]))
            self._db.execute(
                "UPDATE request SET status = ?, result = ?, errors = ? WHERE id = ?",
                (status, json.dumps(result, ensure_ascii=False) if result is not None else None,
                 json.dumps(errors, ensure_ascii=False), request_id),
            )
            row = self._db.execute("SELECT * FROM request WHERE id = ?", (request_id,)).fetchone()
        answer: dict[str, Any] = {"requestId": row["id"], "status": row["status"], "errorStatusInfo": []}
        if row["errors"]:
            answer["errorStatusInfo"] = json.loads(row["errors"])
        if row["result"]:
            answer["result"] = json.loads(row["result"])
        return answer

    # --- operations -----------------------------------------------------------------------

    def _execute(self, operation: str, body: dict[str, Any]) -> tuple[str, Any, list[dict[str, str]]]:
        handler = getattr(self, f"_op_{operation}")
        try:
            result = handler(body)
        except _Failed as failure:
            return failure.status, None, [{"Code": failure.code, "Message": ERRORS[failure.code]}]
        return "SUCCEEDED", result, []

    def _op_find_account(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self.accounts.by_snils(body["snils"])
        return {"account": None if account is None else _public(account)}

    def _op_register(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.accounts.by_snils(body["snils"]) is not None:
            raise _Failed("VALIDATION_FAILED", "REG-010")
        if body["snils"] in self.unconfirmable_snils:
            raise _Failed("CONFIRMATION_FAILED", "REG-020")
        password = new_password()
        try:
            oid = self.accounts.create({f: body.get(f) for f in ACCOUNT_FIELDS}, password)
        except DuplicateSnils:
            raise _Failed("VALIDATION_FAILED", "REG-010") from None
        return {"oid": oid, "login": body["snils"], "temporaryPassword": password}

    def _owned_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """The account ``oid`` names, which must carry the request's SNILS."""
        row = self.accounts.by_oid(body["oid"])
        if row is None:
            raise _Failed("VALIDATION_FAILED", "REG-011")
        if row["snils"] != body["snils"]:
            raise _Failed("VALIDATION_FAILED", "REG-012")
        return row

    def _op_update_account(self, body: dict[str, Any]) -> dict[str, Any]:
        self._owned_account(body)
        self.accounts.update(body["oid"], {f: body[f] for f in ACCOUNT_FIELDS if f in body})
        return {"oid": body["oid"]}

    def _op_recover(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._owned_account(body)
        password = new_password()
        self.accounts.set_password(body["oid"], password)
        return {"oid": body["oid"], "login": row["snils"], "temporaryPassword": password}

    # --- control API helpers ----------------------------------------------------------------

    def count_accounts(self, snils: str | None = None) -> int:
        return self.accounts.count(snils)

    def put_account(self, account: dict[str, Any], password: str = "00000000") -> int:
        """Create an account directly (fixtures for demos and tests)."""
        return self.accounts.create(account, password, trusted=bool(account.get("trusted", True)))

    def reset(self) -> None:
        with self._lock:
            self.accounts.reset()
            self._db.execute("DELETE FROM request")


class _Failed(Exception):
    def __init__(self, status: str, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _public(account: dict[str, Any]) -> dict[str, Any]:
    """The REST model's view: its own fields, the oid and the trusted flag."""
    return {f: v for f, v in account.items() if f in (*ACCOUNT_FIELDS, "oid", "trusted")}


__all__ = ["AccountRegistry", "IdempotencyConflict", "RequestInvalid"]
