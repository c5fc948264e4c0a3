"""What the ЕСИА-over-СМЭВ integration tests read as evidence: the sandbox node's counts, the bridge's
exchange journal (its SQLite store, opened read-only), ЕСИА's accounts; and waiting on a condition with a
deadline (never a fixed sleep as the proof)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

REGISTER = "urn://mincomsvyaz/esia/reg_service/register/1.4.1"
FIND_ACCOUNT = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"

_T = TypeVar("_T")


def wait_for(condition: Callable[[], _T], what: str, timeout: float = 20.0, every: float = 0.1) -> _T:
    """Poll ``condition`` until it returns something true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(every)


def node_stats(smev_url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{smev_url}/_sandbox/smev/stats", timeout=10).json())


def node_count(stats: dict[str, Any], kind: str, what: str) -> int:
    return int(stats["by_kind"].get(kind, {}).get(what, 0))


def node_grew(smev_url: str, before: dict[str, Any], kind: str, what: str) -> bool:
    """Has the node counted ``what`` for ``kind`` since ``before`` (its stats then)?"""
    return node_count(node_stats(smev_url), kind, what) > node_count(before, kind, what)


def set_node_faults(smev_url: str, **plan: Any) -> None:
    httpx.put(f"{smev_url}/_sandbox/faults", json={"rate": 0.0, **plan}, timeout=10).raise_for_status()


def dashed(snils: str) -> str:
    return f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"


def accounts_with(esia_url: str, snils: str) -> int:
    answer = httpx.get(f"{esia_url}/_sandbox/accounts/count", params={"snils": dashed(snils)}, timeout=10)
    return int(answer.json()["count"])


def journal(db: Path, kind: str) -> list[dict[str, Any]]:
    """The bridge's exchanges of ``kind`` (oldest first), each with its received messages, read-only."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        connection.row_factory = sqlite3.Row
        exchanges = [dict(row) for row in connection.execute(
            "SELECT id, message_id, state, attempts, answer_message_id, acknowledged_at FROM smev_exchange"
            " WHERE kind = ? ORDER BY created_at", (kind,))]
        for exchange in exchanges:
            exchange["received"] = [dict(row) for row in connection.execute(
                "SELECT message_id, outcome, accepted, deliveries, acknowledged_at FROM smev_received"
                " WHERE exchange_id = ?", (exchange["id"],))]
    return exchanges


def assert_no_personal_data(logs: str, patient: dict[str, Any]) -> None:
    """What test_esia_accounts_smev checks: no SNILS (either way written), phone, name or passport number."""
    values = [patient["Snils"], dashed(patient["Snils"]), patient["MobilePhone"][-7:], patient["LastName"],
              patient["FirstName"]]
    if patient.get("PassportNumber"):
        values.append(patient["PassportNumber"])
    for value in values:
        assert value not in logs, "personal data in the bridge's log"
