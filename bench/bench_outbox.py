"""Outbox throughput: deliveries per second drained from the store by worker threads.

Run from the repository root:  .venv/bin/python bench/bench_outbox.py [messages] [--workers N] [--analyze] [--sqlite]
Creates a scratch PostgreSQL database (BRIDGE_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres)
or a SQLite file, enqueues the messages (a tenth of them in aggregates, so ordering is exercised),
then drains them with a handler that answers at once. Every delivery is a share of a batch claim
plus one committed transaction marking the message delivered. The target is ≥ 1,000 deliveries/s
on PostgreSQL. The table is fresh, without statistics, unless --analyze: a burst much larger than
the table was at its last ANALYZE is planned worse until autovacuum analyses it (docs/outbox.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bridge.delivery import Delivered, Outbox, OutboxMessage, Outcome  # noqa: E402
from bridge.observability import configure_logging  # noqa: E402
from bridge.store import Store  # noqa: E402

PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run(url: str, messages: int, workers: int, batch: int, analyze: bool = False) -> float:
    store = Store(url)
    store.upgrade()
    outbox = Outbox(store)
    answered = 0
    all_answered = threading.Event()
    lock = threading.Lock()

    def answer(message: OutboxMessage) -> Outcome:
        nonlocal answered
        with lock:
            answered += 1
            if answered == messages:
                all_answered.set()
        return Delivered()

    outbox.register("bench", answer)
    started = time.perf_counter()
    with store.session() as session:
        for n in range(messages):
            outbox.enqueue(session, kind="bench", payload={"n": n, "text": "reply " * 20},
                           idempotency_key=f"bench-{n}", aggregate=f"app-{n % 50}" if n % 10 == 0 else None)
        session.commit()
    enqueued = time.perf_counter() - started
    if analyze and store.dialect == "postgresql":  # as autovacuum would have done on a table in service
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE outbox_message"))
    started = time.perf_counter()
    pool = outbox.start(workers=workers, poll_interval=0.01, batch=batch)
    all_answered.wait()
    pool.stop(30)  # the last messages' marks are committed when stop returns
    elapsed = time.perf_counter() - started
    delivered = outbox.stats().counts["delivered"]
    store.dispose()
    if delivered != messages:
        raise SystemExit(f"only {delivered} of {messages} messages were marked delivered")
    rate = messages / elapsed
    label = store.dialect + (" analysed" if analyze and store.dialect == "postgresql" else "")
    print(f"{label:<19} {rate:>8,.0f} deliveries/s  ({messages:,} messages, {workers} workers, batch {batch}, "
          f"drained in {elapsed:.2f} s; enqueued in one transaction at {messages / enqueued:,.0f}/s)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int, nargs="?", default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="SQLite (WAL) instead of PostgreSQL")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE the table after enqueueing (statistics as on a table in service)")
    args = parser.parse_args()
    configure_logging("WARNING")  # one line per delivery would time the terminal
    if args.sqlite:
        with tempfile.TemporaryDirectory() as scratch:
            run(f"sqlite:///{scratch}/bench.db", args.messages, args.workers, args.batch)
        return
    import psycopg

    name = f"bridge_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        run(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", args.messages, args.workers, args.batch, args.analyze)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
