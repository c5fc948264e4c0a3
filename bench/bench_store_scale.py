"""The store as it grows: outbox, operation journal and СМЭВ exchange journal, at up to 10⁶ rows each.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_store_scale.py [--sizes 0,10000,100000,1000000] [--calls 300] [--write]

A scratch PostgreSQL database (``BRIDGE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``;
created, migrated, dropped at the end) is grown step by step to each size of ``--sizes``: the outbox
gets that many delivered messages (the history a busy instance accumulates between purges), the
operation journal that many finished operations, and the СМЭВ exchange journal that many acknowledged
exchanges (each the current one of its business key, its contents dropped, and its received answer:
the ``purge_after_days`` of CheckPatients a region keeps), written with ``INSERT … SELECT
generate_series`` and followed by ``ANALYZE`` (as autovacuum would). At each size, timed one call after another from
this process, with the bridge's own code (``Outbox.enqueue``, the outbox's ``claim`` and ``finish``,
``OperationJournal.begin``/``finish``), each its own transaction:

- **enqueue**: one message added and committed;
- **claim + mark**: a batch of 20 due messages leased (``claim``), then marked delivered, committed;
- **journal begin / finish**: an operation started for a new subject, then finished;
- **СМЭВ exchange**: what one CheckPatient does to the exchange journal (``bridge.smev.Journal``):
  ``open`` for a new business key, ``claim``, ``sent``, the answer ``store``d, ``acknowledged``, and
  the parked callers' ``settled`` read — six transactions;
- **scrape**: the store reads of one Prometheus scrape (``Outbox.stats`` and ``Journal.stats`` as the
  collectors call them: the ``bridge_outbox_*`` and ``bridge_smev_*`` gauges), 30 calls.

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
from datetime import UTC, datetime, timedelta
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
from bridge.smev import Journal  # noqa: E402
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
FILL_EXCHANGES = text(
    "INSERT INTO smev_exchange (id, kind, business_key, message_id, state, answer_message_id, attempts, wait_until, "
    "created_at, sent_at, answered_at, acknowledged_at, updated_at) SELECT md5('x' || g)::uuid::text, :kind, "
    "'fill:' || md5(g::text), md5('m' || g)::uuid::text, 'acknowledged', md5('a' || g)::uuid::text, 1, "
    "now() - interval '2 days', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days', "
    "now() - interval '2 days', now() - interval '2 days' "
    "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"
)
FILL_RECEIVED = text(
    "INSERT INTO smev_received (message_id, exchange_id, kind, outcome, accepted, received_at, acknowledged_at, "
    "deliveries) SELECT md5('a' || g)::uuid::text, md5('x' || g)::uuid::text, :kind, 'answer', true, "
    "now() - interval '2 days', now() - interval '2 days', 1 "
    "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"
)
SMEV_KIND = "urn://bench/find_account"


def timed(calls: int, step: Callable[[int], None]) -> list[float]:
    out = []
    for n in range(calls):
        started = time.perf_counter()
        step(n)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(store: Store, outbox: Outbox, journal: OperationJournal, exchanges: Journal, calls: int,
            size: int) -> dict[str, list[float]]:
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

    request, answer = os.urandom(2048), os.urandom(1024)  # sealed contents: incompressible

    def exchange(n: int) -> None:
        now = datetime.now(UTC)
        record, created = exchanges.open(kind=SMEV_KIND, business_key=f"bench:{tag}:{n}", request=request,
                                         message_id=str(uuid.uuid1()), now=now, wait_until=now + timedelta(seconds=20),
                                         keep=timedelta(hours=1))
        assert created and exchanges.claim(record.id, now, timedelta(seconds=30)) is not None
        exchanges.sent(record.id, now, None)
        answer_id = str(uuid.uuid1())
        stored = exchanges.store(message_id=answer_id, original_message_id=record.message_id, kind=SMEV_KIND, now=now,
                                 answer=answer, status=None, final=True)
        assert stored.outcome == "answer", stored
        exchanges.acknowledged(answer_id, now)
        assert exchanges.settled([record.id]) == [record.id]

    def scrape(n: int) -> None:  # what the collectors ask (bridge/outbox/_outbox.py, bridge/smev/_wiring.py)
        outbox.stats(delivered=False)
        exchanges.stats(datetime.now(UTC), acknowledged=False)

    enqueued = timed(calls, enqueue)
    batches = max(1, calls // 20)
    claimed = timed(batches, claim_and_mark)
    return {"enqueue": enqueued, "claim": claimed, "journal": timed(calls, begin_finish),
            "smev": timed(calls, exchange), "scrape": timed(30, scrape)}


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
        outbox, journal, exchanges = Outbox(store), OperationJournal(store), Journal(store)
        measure(store, outbox, journal, exchanges, 20, -1)  # warm-up, unrecorded: connections, statement caches
        filled = 0
        for size in sizes:
            fill_started = time.monotonic()
            if size > filled:
                with store.engine.begin() as connection:
                    connection.execute(FILL_OUTBOX, {"kind": KIND, "first": filled + 1, "last": size})
                    connection.execute(FILL_JOURNAL, {"first": filled + 1, "last": size})
                    connection.execute(FILL_EXCHANGES, {"kind": SMEV_KIND, "first": filled + 1, "last": size})
                    connection.execute(FILL_RECEIVED, {"kind": SMEV_KIND, "first": filled + 1, "last": size})
                filled = size
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE outbox_message"))
                connection.execute(text("ANALYZE upstream_operation"))
                connection.execute(text("ANALYZE smev_exchange"))
                connection.execute(text("ANALYZE smev_received"))
            fill_s = time.monotonic() - fill_started
            load = os.getloadavg()[0]
            result = measure(store, outbox, journal, exchanges, args.calls, size)
            rows.append((size, result, load, fill_s))
            print(f"  {size:>9,} rows: enqueue {_q(result['enqueue'])}  claim {_q(result['claim'])}  "
                  f"journal {_q(result['journal'])}  smev {_q(result['smev'])}  scrape {_q(result['scrape'])} "
                  f"ms (p50 / p99)  load {load:.1f}  (filled in {fill_s:.0f} s)", flush=True)
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
        "compare the rows of this run with each other). Each row: the outbox holds that many delivered messages, "
        "the operation journal that many finished operations and the СМЭВ journal that many acknowledged "
        f"exchanges (with their received answers), plus what the rows above added; {args.calls} timed calls one "
        f"after another (claims: {max(1, args.calls // 20)} batches of 20; scrapes: 30), each step its own "
        "transaction, milliseconds of wall time, median / p99.",
        "",
        "| rows in each table | outbox enqueue ms | outbox claim 20 + mark delivered ms | journal begin + finish ms "
        "| СМЭВ exchange (6 steps) ms | scrape: outbox + СМЭВ stats ms | load |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, result, load, _ in rows:
        out.append(f"| {size:,} | {_q(result['enqueue'])} | {_q(result['claim'])} | {_q(result['journal'])} | "
                   f"{_q(result['smev'])} | {_q(result['scrape'])} | {load:.1f} |")
    first, last = rows[0][1], rows[-1][1]
    ratios = {k: statistics.median(last[k]) / statistics.median(first[k]) for k in first}
    out += ["", f"At {rows[-1][0]:,} rows against {rows[0][0]:,} (medians): enqueue ×{ratios['enqueue']:.2f}, "
            f"claim ×{ratios['claim']:.2f}, journal ×{ratios['journal']:.2f}, СМЭВ exchange ×{ratios['smev']:.2f}, "
            f"scrape ×{ratios['scrape']:.2f}."]
    section = "\n".join(out)
    print(f"\n{section}")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
