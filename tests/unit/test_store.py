"""The operation journal on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from bridge.store import OperationJournal, Pseudonymizer, Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    sqlite = f"sqlite:///{tmp_path / 'store.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.upgrade()
    yield store
    store.dispose()


def test_migrations_are_repeatable(store: Store) -> None:
    store.upgrade()
    assert "upstream_operation" in inspect(store.engine).get_table_names()
    assert store.ping()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_pending_operation_is_reused_and_finished_one_is_not(store: Store) -> None:
    journal = OperationJournal(store)
    first = journal.begin("esia", "register", "subject-1")
    again = journal.begin("esia", "register", "subject-1")
    assert not first.reused and again.reused
    assert again.idempotency_key == first.idempotency_key
    other = journal.begin("esia", "recover", "subject-1")
    assert other.idempotency_key != first.idempotency_key
    journal.finish(first.id, succeeded=True)
    assert journal.state_of(first.id) == "succeeded"
    fresh = journal.begin("esia", "register", "subject-1")
    assert not fresh.reused and fresh.idempotency_key != first.idempotency_key


def test_stale_pending_operation_is_abandoned(store: Store) -> None:
    journal = OperationJournal(store, reuse_window=timedelta(seconds=0))
    first = journal.begin("esia", "register", "subject-2")
    second = journal.begin("esia", "register", "subject-2")
    assert not second.reused
    assert journal.state_of(first.id) == "failed"


def test_racing_callers_share_one_pending_operation(store: Store) -> None:
    journal = OperationJournal(store)
    keys: list[str] = []
    lock = threading.Lock()

    def begin() -> None:
        record = journal.begin("esia", "register", "subject-race")
        with lock:
            keys.append(record.idempotency_key)

    threads = [threading.Thread(target=begin) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1


def test_pseudonyms_are_keyed_and_stable() -> None:
    a, b = Pseudonymizer(b"k" * 32), Pseudonymizer(b"z" * 32)
    assert a("snils", "05462367360") == a("snils", "05462367360")
    assert a("snils", "05462367360") != b("snils", "05462367360")
    assert "05462367360" not in a("snils", "05462367360")
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")


def test_one_time_token_is_consumed_once(store: Store) -> None:
    from bridge.store import OneTimeTokens, TokenRejected

    tokens = OneTimeTokens(store, b"secret-0123456789abcdef")
    token = tokens.issue("state", {"return": "https://portal/ok", "name": "Ольга"}, timedelta(minutes=5), "b1")
    with store.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT token_hash, payload FROM one_time_token").all()
    assert token not in str(raw) and "Ольга".encode() not in bytes(raw[0][1])
    assert tokens.consume("state", token, "b1") == {"return": "https://portal/ok", "name": "Ольга"}
    with pytest.raises(TokenRejected) as again:
        tokens.consume("state", token, "b1")
    assert again.value.reason == "used"
    with pytest.raises(TokenRejected) as unknown:
        tokens.consume("state", "forged", "b1")
    assert unknown.value.reason == "unknown"


def test_one_time_token_expires_and_is_bound(store: Store) -> None:
    from bridge.store import OneTimeTokens, TokenRejected

    tokens = OneTimeTokens(store, b"secret-0123456789abcdef")
    expired = tokens.issue("ticket", {}, timedelta(seconds=-1))
    with pytest.raises(TokenRejected) as info:
        tokens.consume("ticket", expired)
    assert info.value.reason == "expired"
    bound = tokens.issue("state", {}, timedelta(minutes=1), binding="browser-1")
    with pytest.raises(TokenRejected) as mismatch:
        tokens.consume("state", bound, binding="browser-2")
    assert mismatch.value.reason == "mismatch"
    with pytest.raises(TokenRejected):
        tokens.consume("state", bound, binding="browser-1")  # a mismatch burns it
    assert tokens.purge(older_than=timedelta(0)) >= 1


def test_a_scrapes_counts_read_indexes_not_the_history(tmp_path: Path) -> None:
    """The gauges read at every scrape must not scan the outbox's or the СМЭВ journal's history (10⁶ rows:
    docs/performance.md, "Cost as the work grows"): SQLite's plan names an index for each of them."""
    from bridge.outbox import Outbox
    from bridge.smev import Journal

    store = Store(f"sqlite:///{tmp_path / 'plans.db'}")
    store.upgrade()
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "count(" in statement.lower():
            statements.append(statement)

    from sqlalchemy import event

    event.listen(store.engine, "before_cursor_execute", record)
    Outbox(store).stats(delivered=False)
    Journal(store).stats(datetime.now(UTC), acknowledged=False)
    event.remove(store.engine, "before_cursor_execute", record)
    assert len(statements) >= 4
    with store.engine.connect() as connection:
        for statement in statements:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, tuple([None] * statement.count("?"))))
            assert "USING" in plan and "INDEX" in plan, (statement, plan)
