"""The store as it grows: outbox enqueue and claim, and the operation journal, at up to 10⁶ rows.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_store_scale.py [--sizes 0,10000,100000,1000000] [--calls 300] [--write]

A scratch PostgreSQL database (``BRIDGE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``;
created, migrated, dropped at the end) is grown step by step to each size of ``--sizes``: the outbox
gets that many delivered messages (the history a busy instance accumulates between purges) and the
operation journal that many finished operations, written with ``INSERT … SELECT generate_series``
and followed by ``ANALYZE`` (as autovacuum would). At each size, timed one call after another from
this process, with the bridge's own code (``Outbox.enqueue``, the outbox's ``claim`` and ``finish``,
``OperationJournal.begin``/``finish``), each its own transaction:

- **enqueue**: one message added and committed;
- **claim + mark**: a batch of 20 due messages leased (``claim``), then marked delivered, committed;
- **journal begin / finish**: an operation started for a new subject, then finished.

"Flat" means the figures at 10⁶ rows stay within the run-to-run spread of those at 0.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _report import describe_tree, machine, machine_line, write_section  # noqa: E402
from _scratch_db import PostgresScratch  # noqa: E402

from bridge.outbox import Outbox  # noqa: E402
from bridge.outbox._claim import claim, finish  # noqa: E402
from bridge.outbox._types import DELIVERED  # noqa: E402
from bridge.store import OperationJournal, Store  # noqa: E402

SECTION = "store_scale"
PACKAGES = ("sqlalchemy", "psycopg")
KIND = "bench.scale"
FILL_OUTBOX = text(
    "INSERT INTO outbox_message (id, kind, aggregate, idempotency_key, payload, state, attempts, next_attempt_at, "
    "created_at, updated_at, delivered_at) SELECT gen_random_uuid()::text, :kind, 'patient-' || (g % 50000), "
    "'fill-' || g, '{\"task\": 1, \"status\": \"accepted\"}'::json, 'delivered', 1, now(), now(), now(), now() "
    "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"
)
FILL_JOURNAL = text(
    "INSERT INTO upstream_operation (id, upstream, kind, subject, idempotency_key, state, created_at, updated_at) "
    "SELECT gen_random_uuid()::text, 'esia', 'register', md5(g::text), gen_random_uuid()::text, 'succeeded', "
    "now(), now() FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"
)


def timed(calls: int, step: Callable[[int], None]) -> list[float]:
    out = []
    for n in range(calls):
        started = time.perf_counter()
        step(n)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(store: Store, outbox: Outbox, journal: OperationJournal, calls: int, size: int) -> dict[str, list[float]]:
    tag = f"{size}-{uuid.uuid4().hex[:6]}"

    def enqueue(n: int) -> None:
        with store.session() as session:
            outbox.enqueue(session, kind=KIND, payload={"n": n}, idempotency_key=f"e-{tag}-{n}",
                           aggregate=f"patient-{n % 997}")
            session.commit()

    def claim_and_mark(n: int) -> None:
        now = datetime.now(UTC)
        with store.session() as session:
            leased = claim(session, worker="bench", now=now, lease_seconds=30, kinds=[KIND], batch=20)
            for lease, _ in leased:
                finish(session, lease, now=now, state=DELIVERED)
            session.commit()
        assert leased, "nothing to claim"

    def begin_finish(n: int) -> None:
        operation = journal.begin("esia", "register", f"subject-{tag}-{n}")
        journal.finish(operation.id, True)

    enqueued = timed(calls, enqueue)
    batches = max(1, calls // 20)
    claimed = timed(batches, claim_and_mark)
    return {"enqueue": enqueued, "claim": claimed, "journal": timed(calls, begin_finish)}


def _q(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(values):.2f} / {p99:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="0,10000,100000,1000000", help="rows in each table, ascending")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation and size")
    parser.add_argument("--write", action="store_true", help="replace the store_scale section of the doc")
    args = parser.parse_args()
    command = " ".join(["python bench/bench_store_scale.py", shlex.join(sys.argv[1:])]).strip()
    sizes = [int(x) for x in args.sizes.split(",")]
    scratch = PostgresScratch(os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    rows = []
    started = time.monotonic()
    try:
        store = Store(scratch.template())
        store.upgrade()
        outbox, journal = Outbox(store), OperationJournal(store)
        measure(store, outbox, journal, 20, -1)  # warm-up, unrecorded: connections, statement caches
        filled = 0
        for size in sizes:
            fill_started = time.monotonic()
            if size > filled:
                with store.engine.begin() as connection:
                    connection.execute(FILL_OUTBOX, {"kind": KIND, "first": filled + 1, "last": size})
                    connection.execute(FILL_JOURNAL, {"first": filled + 1, "last": size})
                filled = size
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE outbox_message"))
                connection.execute(text("ANALYZE upstream_operation"))
            fill_s = time.monotonic() - fill_started
            load = os.getloadavg()[0]
            result = measure(store, outbox, journal, args.calls, size)
            rows.append((size, result, load, fill_s))
            print(f"  {size:>9,} rows: enqueue {_q(result['enqueue'])}  claim {_q(result['claim'])}  "
                  f"journal {_q(result['journal'])} ms (p50 / p99)  load {load:.1f}  (filled in {fill_s:.0f} s)",
                  flush=True)
        server = scratch.server()
        store.engine.dispose()
    finally:
        scratch.close()
    info = machine()
    out = [
        f"Run: {info['date']} · `{command}` · tree {describe_tree(ROOT)} · "
        f"whole run {time.monotonic() - started:.0f} s",
        "",
        f"{machine_line(info, PACKAGES)} · {server} on this machine (shared with the other engineers' tests: "
        "compare the rows of this run with each other). Each row: the outbox holds that many delivered messages "
        "and the operation journal that many finished operations, plus what the rows above added; "
        f"{args.calls} timed calls one after another (claims: {max(1, args.calls // 20)} batches of 20), "
        "each its own transaction, milliseconds of wall time, median / p99.",
        "",
        "| rows in each table | outbox enqueue ms | outbox claim 20 + mark delivered ms | journal begin + finish ms "
        "| load |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, result, load, _ in rows:
        out.append(f"| {size:,} | {_q(result['enqueue'])} | {_q(result['claim'])} | {_q(result['journal'])} | "
                   f"{load:.1f} |")
    first, last = rows[0][1], rows[-1][1]
    ratios = {k: statistics.median(last[k]) / statistics.median(first[k]) for k in first}
    out += ["", f"At {rows[-1][0]:,} rows against {rows[0][0]:,} (medians): enqueue ×{ratios['enqueue']:.2f}, "
            f"claim ×{ratios['claim']:.2f}, journal ×{ratios['journal']:.2f}."]
    section = "\n".join(out)
    print(f"\n{section}")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
