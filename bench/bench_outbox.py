"""Outbox throughput: deliveries per second drained from the store by worker threads.

Run from the repository root:  .venv/bin/python bench/bench_outbox.py [messages] [--workers N] [--sqlite]
Creates a scratch PostgreSQL database (BRIDGE_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres)
or a SQLite file, enqueues the messages (a tenth of them in aggregates, so ordering is exercised),
then drains them with a handler that answers at once. Every delivery is a claim share plus one
committed transaction marking the message delivered. The target is ≥ 1,000 deliveries/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.delivery import Delivered, Outbox, OutboxMessage, Outcome  # noqa: E402
from bridge.observability import configure_logging  # noqa: E402
from bridge.store import Store  # noqa: E402

PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _answer(message: OutboxMessage) -> Outcome:
    return Delivered()


def run(url: str, messages: int, workers: int, batch: int) -> float:
    store = Store(url)
    store.upgrade()
    outbox = Outbox(store)
    outbox.register("bench", _answer)
    started = time.perf_counter()
    with store.session() as session:
        for n in range(messages):
            outbox.enqueue(session, kind="bench", payload={"n": n, "text": "reply " * 20},
                           idempotency_key=f"bench-{n}", aggregate=f"app-{n % 50}" if n % 10 == 0 else None)
        session.commit()
    enqueued = time.perf_counter() - started
    started = time.perf_counter()
    pool = outbox.start(workers=workers, poll_interval=0.01, batch=batch)
    while outbox.stats().counts["delivered"] < messages:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    pool.stop(5)
    store.dispose()
    rate = messages / elapsed
    print(f"{store.dialect:<10} {rate:>8,.0f} deliveries/s  ({messages:,} messages, {workers} workers, batch {batch}, "
          f"drained in {elapsed:.2f} s; enqueued in one transaction at {messages / enqueued:,.0f}/s)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int, nargs="?", default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="SQLite (WAL) instead of PostgreSQL")
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
        run(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", args.messages, args.workers, args.batch)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
