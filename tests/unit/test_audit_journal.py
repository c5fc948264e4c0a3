"""The audit journal's writer: one transaction per flush window, nothing lost on a stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bridge.store import AuditJournal, Store, _audit


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
    store.upgrade()
    yield store
    store.dispose()


def _count_commits(store: Store) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    sa.event.listen(store.engine, "commit", on_commit)
    return commits


def _record(journal: AuditJournal, n: int) -> None:
    journal.record(client="mis-1", face="soap", service="esia-accounts", operation="CheckPatient",
                   outcome="ok", objects=f"id-{n}", request_id=f"r{n}")


def test_entries_arriving_apart_share_one_transaction(store: Store) -> None:
    journal = AuditJournal(store, flush_seconds=0.3)
    commits = _count_commits(store)
    try:
        for n in range(10):
            _record(journal, n)
            time.sleep(0.01)  # calls one by one, as at a low rate: no two queued together
        deadline = time.monotonic() + 5
        while len(journal.search(limit=100)) < 10:
            assert time.monotonic() < deadline, "the entries were not written within the flush window"
            time.sleep(0.05)
        assert commits[0] == 1, f"{commits[0]} transactions for 10 entries inside one flush window"
    finally:
        journal.close()


def test_a_stop_writes_everything_queued(store: Store) -> None:
    journal = AuditJournal(store, flush_seconds=0.5)
    for n in range(25):
        _record(journal, n)
    journal.close()
    entries = journal.search(limit=100)
    assert sorted(e.objects or "" for e in entries) == sorted(f"id-{n}" for n in range(25))
    assert {e.request_id for e in entries} == {f"r{n}" for n in range(25)}


def test_a_large_backlog_is_written_in_bounded_statements(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_audit, "_BATCH", 7)
    journal = AuditJournal(store, flush_seconds=0.2)
    commits = _count_commits(store)
    for n in range(30):
        _record(journal, n)
    journal.close()
    assert len(journal.search(limit=100)) == 30
    assert commits[0] == 5, "30 entries in statements of at most 7"
