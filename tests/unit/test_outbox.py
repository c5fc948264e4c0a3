"""The outbox on SQLite and PostgreSQL: enqueue in the caller's transaction, delivery, retries,
ordering per aggregate, claiming across workers and instances, leases, ops tools."""

from __future__ import annotations

import io
import json
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridge.cli._outbox import app as outbox_cli
from bridge.delivery import UpstreamServerError
from bridge.observability import configure_logging
from bridge.outbox import Delivered, Enqueued, Outbox, OutboxMessage, Outcome, Rejected, Retry, admin_routes
from bridge.outbox._claim import claim, finish
from bridge.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def to(self, when: datetime) -> None:
        self.now = max(self.now, when)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    sqlite = f"sqlite:///{tmp_path / 'store.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.upgrade()
    with store.engine.begin() as connection:  # the caller's own table: an application and its status
        connection.exec_driver_sql("CREATE TABLE application (id VARCHAR(16) PRIMARY KEY, status VARCHAR(16))")
        connection.exec_driver_sql("INSERT INTO application VALUES ('app-1', 'new')")
    yield store
    store.dispose()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store, max_attempts=3, backoff_initial=1.0, backoff_max=10.0, lease_seconds=30.0, clock=clock)


def add(outbox: Outbox, store: Store, key: str, kind: str = "reply", aggregate: str | None = None,
        payload: dict[str, object] | None = None) -> str:
    with store.session() as session:
        queued = outbox.enqueue(session, kind=kind, payload=payload or {"key": key}, idempotency_key=key,
                                aggregate=aggregate)
        session.commit()
    return queued.id


def status_of(store: Store) -> str:
    with store.engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT status FROM application WHERE id = 'app-1'").scalar())


def set_status(status: str) -> Callable[[Session], None]:
    def on_commit(session: Session) -> None:
        session.execute(text("UPDATE application SET status = :s WHERE id = 'app-1'"), {"s": status})
    return on_commit


def message(outbox: Outbox, message_id: str) -> OutboxMessage:
    found = outbox.get(message_id)
    assert found is not None
    return found


# -- adding --------------------------------------------------------------------------------------


def test_enqueue_belongs_to_the_callers_transaction(outbox: Outbox, store: Store) -> None:
    with store.session() as session:
        session.execute(text("UPDATE application SET status = 'replied' WHERE id = 'app-1'"))
        queued = outbox.enqueue(session, kind="reply", payload={"a": 1}, idempotency_key="k-1")
        session.rollback()
    assert outbox.get(queued.id) is None and outbox.list() == [] and status_of(store) == "new"

    with store.session() as session:
        session.execute(text("UPDATE application SET status = 'replied' WHERE id = 'app-1'"))
        queued = outbox.enqueue(session, kind="reply", payload={"name": "Ольга"}, idempotency_key="k-1",
                                aggregate="app-1")
        session.commit()
    stored = message(outbox, queued.id)
    assert (stored.state, stored.attempts, stored.aggregate) == ("pending", 0, "app-1")
    assert stored.payload == {"name": "Ольга"}
    assert status_of(store) == "replied"


def test_same_idempotency_key_is_queued_once_even_when_racing(outbox: Outbox, store: Store) -> None:
    first = add(outbox, store, "dup")
    with store.session() as session:
        again = outbox.enqueue(session, kind="reply", payload={"other": True}, idempotency_key="dup")
        session.commit()
    assert again == Enqueued(first, duplicate=True)

    results: list[Enqueued] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def racer() -> None:
        barrier.wait()
        with store.session() as session:
            queued = outbox.enqueue(session, kind="reply", payload={}, idempotency_key="race")
            time.sleep(0.02)  # hold the transaction open a little
            session.commit()
        with lock:
            results.append(queued)

    threads = [threading.Thread(target=racer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.id for r in results}) == 1 and sum(not r.duplicate for r in results) == 1
    assert len(outbox.list()) == 2


def test_enqueue_refuses_what_it_cannot_store(outbox: Outbox, store: Store) -> None:
    with store.session() as session:
        with pytest.raises(TypeError):
            outbox.enqueue(session, kind="reply", payload={"when": datetime.now()}, idempotency_key="x")
        with pytest.raises(ValueError):
            outbox.enqueue(session, kind="reply", payload={}, idempotency_key="k" * 129)
        with pytest.raises(ValueError):
            outbox.enqueue(session, kind="", payload={}, idempotency_key="y")


# -- delivering ----------------------------------------------------------------------------------


def test_delivered_moves_the_callers_state_in_the_same_transaction(outbox: Outbox, store: Store) -> None:
    seen: list[OutboxMessage] = []

    def handler(m: OutboxMessage) -> Outcome:
        seen.append(m)
        return Delivered(on_commit=set_status("sent"))

    outbox.register("reply", handler)
    message_id = add(outbox, store, "k-1", payload={"answer": 42})
    assert outbox.run_once("w1") == 1
    assert seen[0].payload == {"answer": 42} and seen[0].idempotency_key == "k-1" and seen[0].attempts == 1
    delivered = message(outbox, message_id)
    assert delivered.state == "delivered" and delivered.delivered_at is not None and delivered.locked_by is None
    assert status_of(store) == "sent"
    assert outbox.run_once("w1") == 0


def test_failing_on_commit_leaves_the_message_pending(outbox: Outbox, store: Store, clock: Clock) -> None:
    def broken(session: Session) -> None:
        set_status("sent")(session)
        raise RuntimeError("Тарасенко 05462367360")

    outcomes: list[Outcome] = [Delivered(on_commit=broken), Delivered(on_commit=set_status("sent"))]
    outbox.register("reply", lambda m: outcomes.pop(0))
    message_id = add(outbox, store, "k-1")
    outbox.run_once("w1")
    failed = message(outbox, message_id)
    assert (failed.state, failed.attempts, failed.last_error_code) == ("pending", 1, "on_commit_failed")
    assert failed.last_error == "on_commit raised RuntimeError" and status_of(store) == "new"
    clock.to(failed.next_attempt_at)
    outbox.run_once("w1")
    assert message(outbox, message_id).state == "delivered" and status_of(store) == "sent"


def test_retries_back_off_and_end_dead(outbox: Outbox, store: Store, clock: Clock) -> None:
    outbox.register("reply", lambda m: Retry("upstream busy"))
    message_id = add(outbox, store, "k-1")
    before = REGISTRY.get_sample_value("bridge_outbox_deliveries_total", {"kind": "reply", "outcome": "dead"}) or 0
    delays = []
    for attempt in (1, 2):
        started = clock.now
        assert outbox.run_once("w1") == 1
        waiting = message(outbox, message_id)
        assert (waiting.state, waiting.attempts, waiting.last_error) == ("pending", attempt, "upstream busy")
        delays.append((waiting.next_attempt_at - started).total_seconds())
        assert outbox.run_once("w1") == 0  # not due yet
        clock.to(waiting.next_attempt_at)
    assert 0.75 <= delays[0] <= 1.0 and 1.5 <= delays[1] <= 2.0
    outbox.run_once("w1")
    dead = message(outbox, message_id)
    assert (dead.state, dead.attempts, dead.last_error_code) == ("dead", 3, "retry")
    clock.advance(3600)
    assert outbox.run_once("w1") == 0
    after = REGISTRY.get_sample_value("bridge_outbox_deliveries_total", {"kind": "reply", "outcome": "dead"})
    assert after == before + 1


def test_backoff_doubles_up_to_the_cap(store: Store) -> None:
    outbox = Outbox(store, backoff_initial=1.0, backoff_max=300.0)
    for attempts in range(1, 15):
        base = min(300.0, 2.0 ** (attempts - 1))
        assert 0.75 * base <= outbox.backoff(attempts) <= base


def test_a_poison_message_does_not_block_the_queue(store: Store, clock: Clock) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    outbox = Outbox(store, max_attempts=2, backoff_initial=0, backoff_max=0, clock=clock)

    def handler(m: OutboxMessage) -> Outcome:
        if m.payload.get("poison"):
            raise ValueError(f"bad record for {m.payload['snils']}")
        if m.payload.get("unavailable"):
            raise UpstreamServerError("egisz", "/documents/{id}", 503)
        return Delivered()

    outbox.register("reply", handler)
    poison = add(outbox, store, "p", payload={"poison": True, "snils": "05462367360"})
    others = [add(outbox, store, f"ok-{i}") for i in range(3)]
    flaky = add(outbox, store, "u", payload={"unavailable": True})
    assert outbox.run_once("w1") == 5
    first = message(outbox, poison)
    assert (first.state, first.last_error_code, first.last_error) == ("pending", "ValueError", "ValueError")
    assert message(outbox, flaky).last_error == "egisz /documents/{id}: HTTP 503 after retries"
    assert all(message(outbox, i).state == "delivered" for i in others)
    outbox.run_once("w1")
    assert message(outbox, poison).state == "dead" and message(outbox, flaky).state == "dead"
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if "outbox.delivery" in line]
    assert len(logged) == 7 and {"id", "kind", "attempt", "outcome", "elapsed_ms"} <= set(logged[0])
    assert "05462367360" not in stream.getvalue() and "poison" not in stream.getvalue()


def test_rejected_keeps_its_reason_and_is_not_retried(outbox: Outbox, store: Store, clock: Clock) -> None:
    outbox.register("reply", lambda m: Rejected("DUPLICATE", "already registered " + "x" * 600,
                                                on_commit=set_status("refused")))
    message_id = add(outbox, store, "k-1")
    outbox.run_once("w1")
    rejected = message(outbox, message_id)
    assert (rejected.state, rejected.last_error_code, rejected.attempts) == ("rejected", "DUPLICATE", 1)
    assert rejected.last_error is not None and rejected.last_error.startswith("already registered")
    assert len(rejected.last_error) == 500 and rejected.delivered_at is None
    assert status_of(store) == "refused"
    clock.advance(3600)
    assert outbox.run_once("w1") == 0


def test_kinds_without_a_handler_are_not_claimed(outbox: Outbox, store: Store) -> None:
    other = add(outbox, store, "k-1", kind="somebody.else")
    assert outbox.run_once("w1") == 0
    outbox.register("reply", lambda m: Delivered())
    assert outbox.run_once("w1") == 0 and message(outbox, other).attempts == 0


def test_one_aggregate_goes_out_in_order_others_are_not_held(outbox: Outbox, store: Store, clock: Clock) -> None:
    order: list[str] = []
    failed_once: set[str] = set()

    def handler(m: OutboxMessage) -> Outcome:
        key = m.idempotency_key
        if key == "a1" and key not in failed_once:
            failed_once.add(key)
            return Retry("later")
        order.append(key)
        return Delivered()

    outbox.register("reply", handler)
    for key, aggregate in (("a1", "app-1"), ("a2", "app-1"), ("b1", "app-2"), ("a3", "app-1"), ("n1", None)):
        add(outbox, store, key, aggregate=aggregate)
    assert outbox.run_once("w1") == 3          # a1 (fails), b1, n1; a2 and a3 wait behind a1
    assert order == ["b1", "n1"]
    assert outbox.run_once("w1") == 0          # a1 is not due, and it holds a2 back
    clock.to(message(outbox, outbox.list(state="pending")[0].id).next_attempt_at)
    while outbox.run_once("w1"):
        pass
    assert order == ["b1", "n1", "a1", "a2", "a3"]


def test_a_dead_message_no_longer_holds_its_aggregate(store: Store, clock: Clock) -> None:
    outbox = Outbox(store, max_attempts=1, clock=clock)
    outbox.register("reply", lambda m: Retry("no") if m.idempotency_key == "a1" else Delivered())
    first, second = add(outbox, store, "a1", aggregate="app-1"), add(outbox, store, "a2", aggregate="app-1")
    outbox.run_once("w1")
    assert message(outbox, first).state == "dead"
    outbox.run_once("w1")
    assert message(outbox, second).state == "delivered"


def test_concurrent_workers_of_two_instances_deliver_each_message_once(store: Store) -> None:
    twin = Store(str(store.url.render_as_string(hide_password=False)))  # another bridge instance
    calls: Counter[str] = Counter()
    order: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()

    def handler(m: OutboxMessage) -> Outcome:
        with lock:
            calls[m.id] += 1
            if m.aggregate:
                order[m.aggregate].append(int(m.payload["n"]))
        return Delivered()

    outboxes = [Outbox(store), Outbox(twin)]
    for o in outboxes:
        o.register("reply", handler)
    with store.session() as session:
        for n in range(300):
            outboxes[0].enqueue(session, kind="reply", payload={"n": n}, idempotency_key=f"k-{n}",
                                aggregate=f"app-{n % 10}" if n % 3 else None)
        session.commit()

    errors: list[BaseException] = []

    def work(o: Outbox, worker: str) -> None:
        deadline = time.monotonic() + 30
        try:
            idle = 0
            while idle < 3 and time.monotonic() < deadline:
                processed = o.run_once(worker, batch=7)
                assert processed <= 7
                idle = idle + 1 if processed == 0 else 0
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(outboxes[i % 2], f"w{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    twin.dispose()
    assert not errors
    assert len(calls) == 300 and set(calls.values()) == {1}
    assert outboxes[0].stats().counts["delivered"] == 300
    for sequence in order.values():
        assert sequence == sorted(sequence)


def test_an_expired_lease_is_claimed_again_and_the_late_worker_loses(outbox: Outbox, store: Store,
                                                                     clock: Clock) -> None:
    outbox.register("reply", lambda m: Delivered())
    message_id = add(outbox, store, "k-1")
    with store.session() as session:  # a worker claims it and is killed before finishing
        [(lease, _)] = claim(session, worker="killed", now=clock.now, lease_seconds=30, kinds=["reply"], batch=10)
        session.commit()
    assert message(outbox, message_id).locked_by == "killed"
    assert outbox.run_once("w2") == 0
    clock.advance(31)
    assert outbox.run_once("w2") == 1
    done = message(outbox, message_id)
    assert (done.state, done.attempts) == ("delivered", 2)
    with store.session() as session:
        assert not finish(session, lease, now=clock.now, state="dead", code="late", error="late")
        session.commit()
    assert message(outbox, message_id).state == "delivered"


def test_a_message_whose_last_worker_died_ends_dead(store: Store, clock: Clock) -> None:
    outbox = Outbox(store, max_attempts=1, lease_seconds=30, clock=clock)
    called: list[str] = []
    outbox.register("reply", lambda m: called.append(m.id) or Delivered())
    message_id = add(outbox, store, "k-1")
    with store.session() as session:
        claim(session, worker="killed", now=clock.now, lease_seconds=30, kinds=["reply"], batch=10)
        session.commit()
    clock.advance(31)
    assert outbox.run_once("w2") == 1 and called == []
    dead = message(outbox, message_id)
    assert (dead.state, dead.attempts, dead.last_error_code) == ("dead", 2, "lease_expired")


def test_worker_pool_drains_then_stops(store: Store) -> None:
    outbox = Outbox(store)
    outbox.register("reply", lambda m: Delivered())
    for n in range(40):
        add(outbox, store, f"k-{n}")
    pool = outbox.start(workers=2, poll_interval=0.02)
    deadline = time.monotonic() + 10
    while outbox.stats().counts["delivered"] < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.stop(deadline_seconds=2) and not pool.running
    assert outbox.stats().counts["delivered"] == 40


def test_stopping_hands_back_what_was_not_started(store: Store) -> None:
    outbox = Outbox(store)

    def slow(m: OutboxMessage) -> Outcome:
        time.sleep(0.05)
        return Delivered()

    outbox.register("reply", slow)
    for n in range(30):
        add(outbox, store, f"k-{n}")
    pool = outbox.start(workers=1, poll_interval=0.02, batch=30)
    deadline = time.monotonic() + 10
    while not outbox.list(state="delivered") and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.stop(deadline_seconds=0.3)  # 30 × 0.05 s would take 1.5 s
    # The message in hand at the deadline may still be finishing (a loaded machine's commit): wait for it.
    stopped_by = time.monotonic() + 2.0
    while pool.running and time.monotonic() < stopped_by:
        time.sleep(0.01)
    assert not pool.running
    pending = outbox.list(state="pending")
    assert 0 < len(pending) < 30 and len(outbox.list(state="delivered")) == 30 - len(pending)
    assert all(m.locked_by is None and m.attempts == 0 for m in pending)


# -- ops -----------------------------------------------------------------------------------------


def make_dead(outbox: Outbox, store: Store, keys: list[str], kind: str = "reply") -> list[str]:
    ids = [add(outbox, store, key, kind=kind) for key in keys]
    outbox.register(kind, lambda m: Retry("down"))
    while outbox.run_once("w1"):
        pass
    return ids


def test_replay_and_drop_only_dead_or_rejected(store: Store, clock: Clock) -> None:
    outbox = Outbox(store, max_attempts=1, clock=clock)
    [dead] = make_dead(outbox, store, ["d1"])
    pending = add(outbox, store, "p1", kind="unhandled")
    assert not outbox.replay(pending) and not outbox.drop(pending) and not outbox.replay("nope")
    assert outbox.replay(dead)
    again = message(outbox, dead)
    assert (again.state, again.attempts, again.locked_by) == ("pending", 0, None)
    assert not outbox.replay(dead)
    outbox.register("reply", lambda m: Rejected("BAD", "refused"))
    outbox.run_once("w1")
    assert message(outbox, dead).state == "rejected"
    assert outbox.drop(dead) and outbox.get(dead) is None and not outbox.drop(dead)


def test_replay_many_by_state_and_kind_with_progress(store: Store, clock: Clock) -> None:
    outbox = Outbox(store, max_attempts=1, clock=clock)
    make_dead(outbox, store, [f"a-{n}" for n in range(5)], kind="a")
    make_dead(outbox, store, ["b-1", "b-2"], kind="b")
    seen: list[tuple[int, int]] = []
    assert outbox.replay_many(kind="a", progress=lambda done, total: seen.append((done, total)), chunk=2) == 5
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)
    assert [m.kind for m in outbox.list(state="dead")] == ["b", "b"]
    assert outbox.replay_many() == 2 and outbox.replay_many() == 0
    with pytest.raises(ValueError):
        outbox.replay_many(state="pending")


def test_stats_and_metrics(outbox: Outbox, store: Store, clock: Clock) -> None:
    outbox.register("reply", lambda m: Delivered())
    add(outbox, store, "k-1")
    outbox.run_once("w1")
    add(outbox, store, "k-2")
    add(outbox, store, "k-3", kind="other")
    clock.advance(30)
    with store.session() as session:
        claim(session, worker="w9", now=clock.now, lease_seconds=30, kinds=["other"], batch=1)
        session.commit()
    stats = outbox.stats()
    assert stats.counts == {"pending": 2, "delivered": 1, "rejected": 0, "dead": 0} and stats.leased == 1
    assert stats.oldest_pending_age_seconds == pytest.approx(30)

    outbox.register_metrics()
    outbox.register_metrics()  # a second registration replaces the first
    try:
        assert REGISTRY.get_sample_value("bridge_outbox_messages", {"state": "pending"}) == 2
        assert REGISTRY.get_sample_value("bridge_outbox_messages", {"state": "dead"}) == 0
        # delivered messages only grow until the purge: a scrape does not count them (10⁶ rows each time)
        assert REGISTRY.get_sample_value("bridge_outbox_messages", {"state": "delivered"}) is None
        assert REGISTRY.get_sample_value("bridge_outbox_oldest_pending_age_seconds") == pytest.approx(30)
    finally:
        Outbox.unregister_metrics()
    assert REGISTRY.get_sample_value("bridge_outbox_messages", {"state": "pending"}) is None


def test_purge_deletes_old_delivered_messages(outbox: Outbox, store: Store, clock: Clock) -> None:
    outbox.register("reply", lambda m: Delivered())
    delivered = add(outbox, store, "k-1")
    outbox.run_once("w1")
    waiting = add(outbox, store, "k-2", kind="other")
    clock.advance(86_400 * 2)
    assert outbox.purge(timedelta(days=1)) == 1
    assert outbox.get(delivered) is None and outbox.get(waiting) is not None


def test_admin_routes(store: Store, clock: Clock) -> None:
    outbox = Outbox(store, max_attempts=1, clock=clock)
    dead = make_dead(outbox, store, ["d1", "d2", "d3"])
    pending = add(outbox, store, "p1", kind="unhandled", payload={"name": "Ольга"})
    app = FastAPI()
    app.include_router(admin_routes(outbox))
    client = TestClient(app)

    listed = client.get("/admin/outbox", params={"state": "dead"}).json()["messages"]
    assert [m["id"] for m in listed] == dead and "payload" not in listed[0]
    assert client.get("/admin/outbox", params={"state": "bogus"}).status_code == 422
    assert client.get("/admin/outbox/stats").json()["counts"]["dead"] == 3
    assert client.get(f"/admin/outbox/{pending}").json()["payload"] == {"name": "Ольга"}
    missing = client.get("/admin/outbox/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"

    conflict = client.post(f"/admin/outbox/{pending}/replay")
    assert conflict.status_code == 409 and conflict.json()["state"] == "pending"
    assert client.post("/admin/outbox/nope/replay").status_code == 404
    assert client.post(f"/admin/outbox/{dead[0]}/replay").json() == {"replayed": dead[0], "state": "pending"}
    assert client.post("/admin/outbox/replay", params={"kind": "other"}).json() == {"replayed": 0}
    assert client.post("/admin/outbox/replay", params={"state": "pending"}).status_code == 422
    assert client.post("/admin/outbox/replay").json() == {"replayed": 2}

    outbox.register("reply", lambda m: Rejected("BAD", "refused"))
    outbox.run_once("w1")
    assert client.delete(f"/admin/outbox/{pending}").status_code == 409
    assert client.delete(f"/admin/outbox/{dead[1]}").status_code == 204
    assert client.delete(f"/admin/outbox/{dead[1]}").status_code == 404


def test_cli(store: Store, clock: Clock, tmp_path: Path) -> None:
    outbox = Outbox(store, max_attempts=1, clock=clock)
    dead = make_dead(outbox, store, ["d1", "d2", "d3"])
    pending = add(outbox, store, "p1", kind="unhandled", payload={"name": "Ольга"})
    config = tmp_path / "bridge.yaml"
    config.write_text(f"database_url: {store.url.render_as_string(hide_password=False)}\n")
    runner = CliRunner()

    def run(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(outbox_cli, [*args, "--config", str(config)], input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    listed = run("list", "--state", "dead")
    assert all(i in listed for i in dead) and "down" in listed and "3 message(s)" in listed
    run("list", "--state", "bogus", code=2)
    shown = run("show", pending)
    assert '"name": "Ольга"' in shown and "idempotency_key:  p1" in shown
    run("show", "nope", code=1)
    assert "replayed" in run("replay", dead[0])
    run("replay", pending, code=1)
    run("replay", code=2)
    assert "replayed 2 dead message(s)" in run("replay", "--all", "--state", "dead")
    clock.to(datetime.now(UTC) + timedelta(seconds=1))  # the command line runs on the real clock
    outbox.register("reply", lambda m: Rejected("BAD", "refused"))
    outbox.run_once("w1")
    run("drop", pending, "--yes", code=1)
    run("drop", dead[0], stdin="n\n", code=1)
    assert outbox.get(dead[0]) is not None
    assert "dropped" in run("drop", dead[0], "--yes")
    stats = run("stats")
    assert "rejected:  2" in stats and "pending:   1" in stats
    assert "purged 0" in run("purge", "--days", "1")
