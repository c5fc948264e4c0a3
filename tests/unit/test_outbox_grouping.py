"""The outbox writes the outcomes of a claimed batch a group at a time (bridge/outbox/_delivery.py):
one transaction for a group, the same result per message as one transaction each, on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from bridge.outbox import Delivered, Outbox, OutboxMessage, Outcome, Rejected, Retry
from bridge.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.upgrade()
    with store.engine.begin() as connection:  # what the handlers' on_commit change: one row per message
        connection.exec_driver_sql("CREATE TABLE applied (message VARCHAR(64) PRIMARY KEY)")
    yield store
    store.dispose()


def applied(message_id: str) -> Callable[[Session], None]:
    def on_commit(session: Session) -> None:
        session.execute(text("INSERT INTO applied (message) VALUES (:m)"), {"m": message_id})
    return on_commit


def applied_rows(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return {str(row[0]) for row in connection.exec_driver_sql("SELECT message FROM applied")}


def enqueue(outbox: Outbox, store: Store, count: int) -> list[str]:
    ids = []
    with store.session() as session:
        for n in range(count):
            ids.append(outbox.enqueue(session, kind="reply", payload={"n": n}, idempotency_key=f"k-{n}").id)
        session.commit()
    return ids


def states(outbox: Outbox) -> dict[str, tuple[str, str | None]]:
    return {m.id: (m.state, m.last_error_code) for m in outbox.list(limit=100)}


def count_commits(store: Store) -> list[int]:
    commits = [0]

    def on_commit(connection: Any) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", on_commit)
    return commits


@pytest.mark.parametrize(("window", "expected_commits"), [(10.0, 2), (0.0, 6)])
def test_a_batch_is_written_in_one_transaction_unless_the_window_is_zero(
        store: Store, window: float, expected_commits: int) -> None:
    outbox = Outbox(store, record_window=window)
    outbox.register("reply", lambda m: Delivered(on_commit=applied(m.id)))
    ids = enqueue(outbox, store, 5)
    commits = count_commits(store)
    assert outbox.run_once("w1", batch=10) == 5
    assert commits[0] == expected_commits  # the claim, then one group (or one per message)
    assert states(outbox) == {i: ("delivered", None) for i in ids}
    assert applied_rows(store) == set(ids)


def test_one_failing_on_commit_holds_no_other_message_back(store: Store) -> None:
    outbox = Outbox(store, record_window=10.0)
    ids = enqueue(outbox, store, 3)

    def broken(session: Session) -> None:
        applied(ids[1])(session)
        raise RuntimeError("Тарасенко 05462367360")

    outbox.register("reply", lambda m: Delivered(on_commit=broken if m.id == ids[1] else applied(m.id)))
    assert outbox.run_once("w1") == 3
    assert states(outbox) == {ids[0]: ("delivered", None), ids[1]: ("pending", "on_commit_failed"),
                              ids[2]: ("delivered", None)}
    assert applied_rows(store) == {ids[0], ids[2]}, "the failing on_commit's own change is rolled back"
    failed = outbox.get(ids[1])
    assert failed is not None and failed.last_error == "on_commit raised RuntimeError" and failed.locked_by is None


def test_a_group_mixes_outcomes_and_skips_a_lost_lease(store: Store) -> None:
    outbox = Outbox(store, record_window=10.0, max_attempts=5)
    ids = enqueue(outbox, store, 4)

    def handler(m: OutboxMessage) -> Outcome:
        if m.id == ids[1]:  # another worker took this one over while we were calling (its lease expired)
            with store.engine.begin() as connection:
                connection.execute(text("UPDATE outbox_message SET locked_by = 'other', attempts = attempts + 1 "
                                        "WHERE id = :id"), {"id": m.id})
            return Delivered(on_commit=applied(m.id))
        if m.id == ids[2]:
            return Rejected("E_STATUS", "статус не тот", on_commit=applied(m.id))
        if m.id == ids[3]:
            return Retry("ЕГИСЗ занята", code="busy")
        return Delivered(on_commit=applied(m.id))

    outbox.register("reply", handler)
    assert outbox.run_once("w1") == 4
    assert states(outbox) == {ids[0]: ("delivered", None), ids[1]: ("pending", None),
                              ids[2]: ("rejected", "E_STATUS"), ids[3]: ("pending", "busy")}
    assert applied_rows(store) == {ids[0], ids[2]}, "a lost lease's on_commit does not run"
    lost = outbox.get(ids[1])
    assert lost is not None and lost.locked_by == "other", "the new holder's lease is left alone"
    retried = outbox.get(ids[3])
    assert retried is not None and retried.locked_by is None and retried.attempts == 1


def test_a_slow_upstream_has_each_outcome_written_before_the_next_call(store: Store) -> None:
    outbox = Outbox(store, record_window=0.05)
    ids = enqueue(outbox, store, 3)
    seen_delivered: list[int] = []

    def handler(m: OutboxMessage) -> Outcome:
        with store.engine.connect() as connection:
            seen_delivered.append(int(connection.execute(
                text("SELECT count(*) FROM outbox_message WHERE state = 'delivered'")).scalar_one()))
        time.sleep(0.08)  # longer than the window
        return Delivered()

    outbox.register("reply", handler)
    assert outbox.run_once("w1") == 3
    assert seen_delivered == [0, 1, 2]
    assert {state for state, _ in states(outbox).values()} == {"delivered"} and len(ids) == 3


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_call_that_goes_slow_does_not_hold_back_the_outcomes_answered_before_it(store: Store) -> None:
    outbox = Outbox(store, record_window=0.05)
    ids = enqueue(outbox, store, 4)
    release = threading.Event()

    def handler(m: OutboxMessage) -> Outcome:
        if m.id == ids[3]:
            release.wait(20)           # an upstream retrying within its budget
        return Delivered(on_commit=applied(m.id))

    outbox.register("reply", handler)
    worker = threading.Thread(target=outbox.run_once, args=("w1",))
    worker.start()
    try:
        # The first three were answered at once: written while the fourth call is still running.
        assert wait_for(lambda: applied_rows(store) == set(ids[:3])), states(outbox)
        assert states(outbox)[ids[3]] == ("pending", None)
    finally:
        release.set()
        worker.join(20)
    assert states(outbox) == {i: ("delivered", None) for i in ids}
    assert applied_rows(store) == set(ids)


def test_stopping_lets_the_call_under_way_finish_writes_everything_answered_and_hands_back_the_rest(
        store: Store) -> None:
    outbox = Outbox(store, record_window=10.0)      # nothing written before the batch ends, but for the stop
    ids = enqueue(outbox, store, 10)
    in_call, release = threading.Event(), threading.Event()

    def handler(m: OutboxMessage) -> Outcome:
        if m.id == ids[4]:
            in_call.set()
            release.wait(20)
        return Delivered(on_commit=applied(m.id))

    outbox.register("reply", handler)
    pool = outbox.start(workers=1, poll_interval=0.02, batch=10)
    assert in_call.wait(10)
    stopping = threading.Thread(target=pool.stop, kwargs={"deadline_seconds": 20})
    stopping.start()
    time.sleep(0.1)
    release.set()
    stopping.join(20)
    assert not pool.running
    # A generous deadline does not keep the leaving worker at its batch: the five it had not started
    # are back in the store, unleased and not counted as an attempt, for another instance to take.
    assert applied_rows(store) == set(ids[:5])
    rest = {m.id: m for m in outbox.list(state="pending")}
    assert set(rest) == set(ids[5:])
    assert all(m.locked_by is None and m.attempts == 0 for m in rest.values())


@pytest.mark.parametrize(("window", "calls"), [(10.0, [3]), (0.0, [1, 1, 1])])
def test_prepare_is_called_once_per_group_with_the_messages_whose_on_commit_runs(
        store: Store, window: float, calls: list[int]) -> None:
    outbox = Outbox(store, record_window=window)
    ids = enqueue(outbox, store, 5)
    prepared: list[list[str]] = []

    def handler(m: OutboxMessage) -> Outcome:
        if m.id == ids[1]:
            return Retry("busy")                      # no on_commit runs: not prepared
        if m.id == ids[3]:
            return Delivered()                        # no on_commit: not prepared
        return Delivered(on_commit=applied(m.id))

    outbox.register("reply", handler, prepare=lambda session, messages: prepared.append([m.id for m in messages]))
    assert outbox.run_once("w1") == 5
    assert [len(group) for group in prepared] == calls
    assert [i for group in prepared for i in group] == [ids[0], ids[2], ids[4]]
    assert applied_rows(store) == {ids[0], ids[2], ids[4]}


def test_a_failing_prepare_falls_back_to_one_by_one_and_retries_only_its_messages(store: Store) -> None:
    outbox = Outbox(store, record_window=10.0)
    ids = enqueue(outbox, store, 3)

    def prepare(session: Session, messages: list[OutboxMessage]) -> None:
        if any(m.id == ids[1] for m in messages):
            raise RuntimeError("Тарасенко")

    outbox.register("reply", lambda m: Delivered(on_commit=applied(m.id)), prepare=prepare)
    assert outbox.run_once("w1") == 3
    assert states(outbox) == {ids[0]: ("delivered", None), ids[1]: ("pending", "on_commit_failed"),
                              ids[2]: ("delivered", None)}
    assert applied_rows(store) == {ids[0], ids[2]}
