"""Outbox throughput: ЕГИСЗ replies drained from PostgreSQL to the sandbox ЕГИСЗ over HTTP, vs. the same calls direct.

Run from the repository root (``make bench`` should run it with ``--write``)::

    .venv/bin/python bench/bench_outbox.py [--messages 5000] [--repeat 3] [--workers 4] [--batch 20]
                                           [--no-analyze] [--no-store-only] [--sqlite] [--profile SECONDS]
                                           [--write [--doc PATH]]

The sandbox ЕГИСЗ runs as a process of its own (``bridge sandbox``, egisz only, ``log_level: WARNING``),
answering at once on loopback. Set-up, not timed: the sandbox generates ``--messages`` choices of MO;
the real intake (``Intake`` through the scheduler: HTTP paging, YAML mapping, upserts) takes them into
a scratch PostgreSQL database (created and dropped here; BRIDGE_TEST_PG_URL, default
postgresql://postgres@127.0.0.1:5432/postgres); one reply «Услуга оказана» per application is
submitted with ``Replies.submit`` (what the МИС's ReplyToApplication does: rules checked, the message
queued in the outbox in the transaction that marks the application); then the whole database is
ANALYZEd, as autovacuum would have done on tables in service (``--no-analyze``: fresh tables whose
statistics lag behind the burst, see docs/outbox.md). That database is the template; every timed run
gets a copy of it (``CREATE DATABASE … TEMPLATE``; with ``--sqlite``, a copy of the file).

Scenarios, interleaved run by run (run 1 of each, then run 2 …), each on a fresh copy of the store
and, when the sandbox is called, a sandbox reset to the same tasks in progress
(``POST /_sandbox/egisz/reset`` and the same generate: a task takes one reply only):

- **direct** (the baseline: the ceiling the sandbox and the HTTP path allow): the calls the outbox
  holds (same tasks, bodies and Idempotency-Keys) through ``RestAttachmentUpstream.send_reply`` on
  one ``Upstream`` (a bridge's settings for this sandbox) from as many threads as the outbox has
  workers: no store, no outbox.
- **outbox**: ``Outbox.start(workers, batch)`` drains the copy with the production handler
  ``Replies.deliver`` → ``RestAttachmentUpstream.send_reply`` → ``Upstream`` →
  ``POST /api/AttachMO/fhir/$UpdateTaskStatus`` (Idempotency-Key); each acknowledgement is
  marked together with the application's new status and history (``on_commit``) in one transaction.
  Timed from ``start`` until the last message is delivered and its mark committed (``WorkerPool.stop``).
- **store only** (skipped with ``--no-store-only``): the same drain with the upstream answered
  in-process (``send_reply`` returns at once, no HTTP): the store's and ``on_commit``'s share.
- **outbox alone** (skipped with ``--no-store-only``): a handler that returns ``Delivered()`` and
  touches nothing (the old version of this benchmark): the outbox's own claim and mark.

Every run is checked before it counts: every handler outcome ``Delivered``; the outbox's counts
(N delivered, nothing else); N applications «Услуга оказана» in the store; the sandbox's own record of
applied replies (exactly the expected tasks, once each, ``SERVICE_PROVIDED``); in direct, every
answer's task ``completed``. Any failure aborts the benchmark. CPU per delivery is read from
/proc/<pid>/stat: this process (the outbox workers or the direct threads), the sandbox, and the
PostgreSQL backends serving the copy.

``--workers`` (default 4) takes a list (``2,4,8``): direct and outbox rows for each, the first is the
headline. 4 is the default by measurement (2026-11-22, 3,000 replies, median of 3: outbox 287/s with
2 workers, 319/s with 4, 331/s with 8, within the noise of one another, since the drain is CPU-bound in
one process; direct peaked at 4 threads, 2,021/s vs 1,758/s with 2 and 1,678/s with 8).
``--profile SECONDS`` adds a py-spy profile of one more outbox drain: this process with ``--gil`` (its CPU,
by step of a delivery and by library) and the sandbox (its CPU, by area).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _egisz_sandbox import MO, EgiszSandbox, cpu_seconds  # noqa: E402
from _outbox_profile import profile  # noqa: E402
from _outbox_report import render  # noqa: E402
from _outbox_types import Figure, Plan, Scenario  # noqa: E402
from _report import DOC, describe_tree, machine, write_section  # noqa: E402
from _scratch_db import PostgresScratch, Scratch, SqliteScratch  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from adapters.egisz._applications import Applications  # noqa: E402
from adapters.egisz._client import AttachmentUpstream, Page, RestAttachmentUpstream  # noqa: E402
from adapters.egisz._intake import JOB, Intake  # noqa: E402
from adapters.egisz._model import SENT, SERVICE_PROVIDED, ApplicationType, Outcome  # noqa: E402
from adapters.egisz._replies import KIND, Doctor, Replies, Reply  # noqa: E402
from adapters.egisz._schema import Application  # noqa: E402
from bridge.config import UpstreamSettings  # noqa: E402
from bridge.delivery import Upstream  # noqa: E402
from bridge.mapping import MappingSet  # noqa: E402
from bridge.observability import configure_logging  # noqa: E402
from bridge.outbox import Delivered, Outbox, OutboxMessage  # noqa: E402
from bridge.outbox import Outcome as DeliveryOutcome  # noqa: E402
from bridge.outbox._claim import TABLE as OUTBOX_TABLE  # noqa: E402
from bridge.scheduling import Job, JobRuns, Scheduler  # noqa: E402
from bridge.store import Store  # noqa: E402

SECTION = "outbox"
PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIGRATIONS = ROOT / "adapters" / "egisz" / "migrations"
SEED = 7


# --- set-up (not timed) ---------------------------------------------------------------------


def upstream(sandbox: EgiszSandbox) -> Upstream:
    """The egisz upstream as a bridge configured for this sandbox builds it (production defaults)."""
    return Upstream(UpstreamSettings(**sandbox.upstream_settings).to_upstream_config("egisz"))


def applications() -> Applications:
    return Applications(MappingSet.load(ROOT / "mappings")["egisz.application"])


def fresh_tasks(sandbox: EgiszSandbox, plan: Plan | None, count: int, window: tuple[datetime, datetime]) -> None:
    """The sandbox as at the start: the batch's tasks, every one in progress, no reply recorded."""
    sandbox.reset()
    created = sandbox.generate_choices(count, SEED, *window)
    if not created.get("created") or created.get("count") != count:
        raise SystemExit(f"the sandbox did not generate the batch afresh: {created}")
    if plan is not None and sandbox.task(plan.calls[0][0]).get("status") != "in-progress":
        raise SystemExit("after reset + generate the first task is not in progress")


def prepare(args: argparse.Namespace, sandbox: EgiszSandbox, scratch: Scratch) -> Plan:
    """Intake ``--messages`` applications into the template, submit one reply to each, ANALYZE."""
    now = datetime.now(UTC).replace(microsecond=0)
    window = (now - timedelta(hours=23), now - timedelta(minutes=1))
    fresh_tasks(sandbox, None, args.messages, window)
    store = Store(scratch.template())
    store.upgrade([MIGRATIONS])
    egisz = upstream(sandbox)
    rest = RestAttachmentUpstream(egisz)
    apps = applications()
    intake = Intake(store, rest, apps, (MO,), page_size=500)
    scheduler = Scheduler(JobRuns(store, holder="bench"))
    scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))
    started = time.perf_counter()
    run = scheduler.run_now(JOB, "bench", (now - timedelta(days=1), now))
    intake_s = time.perf_counter() - started
    if run.state != "succeeded" or run.processed != args.messages:
        raise SystemExit(f"intake: {run.state}, {run.processed} of {args.messages} ({run.error})")
    with store.session() as session:
        ids = list(session.scalars(select(Application.id).where(
            Application.type == ApplicationType.CHOICE.value, Application.status == SENT).order_by(Application.id)))
    if len(ids) != args.messages:
        raise SystemExit(f"intake left {len(ids)} choices awaiting a reply, not {args.messages}")
    replies = Replies(store, Outbox(store), apps, rest)
    started = time.perf_counter()
    for application_id in ids:
        receipt = replies.submit((MO,), application_id, Reply(
            Outcome.SERVICE_PROVIDED, comment="Прикреплён к участку", district="7",
            doctor=Doctor("Иванова", "Анна", "Петровна", "11223344595", "врач-терапевт участковый"),
            employee="Сидорова В. В.", idempotency_key=f"bench-{application_id}"))
        if receipt.duplicate:
            raise SystemExit(f"reply to {application_id} was a duplicate")
    submit_s = time.perf_counter() - started
    analyzed = not args.no_analyze and store.dialect == "postgresql"
    if analyzed:  # every table, as autovacuum would have on a database in service
        with store.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    with store.session() as session:
        rows = session.execute(select(OUTBOX_TABLE.c.payload, OUTBOX_TABLE.c.idempotency_key)
                               .where(OUTBOX_TABLE.c.kind == KIND).order_by(OUTBOX_TABLE.c.seq)).all()
    calls = [(str(payload["task_id"]), dict(payload["reply"]), str(key)) for payload, key in rows]
    if len(calls) != args.messages:
        raise SystemExit(f"the outbox holds {len(calls)} replies, not {args.messages}")
    egisz.close()
    store.dispose()
    print(f"set-up: intake of {args.messages:,} applications in {intake_s:.1f} s; "
          f"{args.messages:,} replies submitted in {submit_s:.1f} s ({args.messages / submit_s:,.0f}/s, one thread)"
          + ("; ANALYZE" if analyzed else ""), flush=True)
    return Plan(args.messages, window, calls, intake_s, submit_s, analyzed)


# --- the runs -------------------------------------------------------------------------------


class _AnsweredAtOnce:
    """An AttachmentUpstream that acknowledges every reply in-process (the store-only scenario)."""

    def fetch_page(self, mo_oid: str, since: datetime, until: datetime, cursor: str | None, limit: int) -> Page:
        raise AssertionError("the store-only scenario delivers replies; it never takes pages")

    def send_reply(self, task_id: str, reply: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return {"id": task_id, "status": "completed"}


class _Tally:
    """Counts the handler's outcomes; ``done`` is set at the N-th Delivered or at the first failure."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.delivered = 0
        self.failures: list[str] = []
        self.done = threading.Event()
        self._lock = threading.Lock()

    def wrap(self, handler: Callable[[OutboxMessage], DeliveryOutcome]) -> Callable[[OutboxMessage], DeliveryOutcome]:
        def deliver(message: OutboxMessage) -> DeliveryOutcome:
            try:
                outcome = handler(message)
            except BaseException as exc:
                self._fail(f"{type(exc).__name__}: {exc}")
                raise
            if isinstance(outcome, Delivered):
                self._delivered()
            else:
                self._fail(f"{type(outcome).__name__} {outcome.code}: {outcome.reason}")
            return outcome

        return deliver

    def upstream(self, inner: AttachmentUpstream) -> AttachmentUpstream:
        """``inner``, counting each reply it accepts as delivered and anything it raises as a failure."""
        tally = self

        class Tallied:
            def fetch_page(self, mo_oid: str, since: datetime, until: datetime, cursor: str | None,
                           limit: int) -> Page:
                return inner.fetch_page(mo_oid, since, until, cursor, limit)

            def send_reply(self, task_id: str, reply: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
                try:
                    answer = inner.send_reply(task_id, reply, idempotency_key)
                except BaseException as exc:
                    tally._fail(f"{type(exc).__name__}: {exc}")
                    raise
                tally._delivered()
                return answer

        return Tallied()

    def _delivered(self) -> None:
        with self._lock:
            self.delivered += 1
            if self.delivered == self.expected:
                self.done.set()

    def _fail(self, what: str) -> None:
        with self._lock:
            self.failures.append(what)
        self.done.set()


class _Cpu:
    """CPU seconds of this process, the sandbox and the store's backends, from a start to now."""

    def __init__(self, sandbox: EgiszSandbox | None, backends: Callable[[], list[int]]) -> None:
        self._sandbox = sandbox
        self._backends = backends
        self._start = self._read()
        self._usage = resource.getrusage(resource.RUSAGE_SELF)

    def switches(self, count: int) -> float:
        """Context switches of this process per delivery (voluntary + involuntary): every wait for
        PostgreSQL, the sandbox or the GIL is one."""
        now = resource.getrusage(resource.RUSAGE_SELF)
        return (now.ru_nvcsw - self._usage.ru_nvcsw + now.ru_nivcsw - self._usage.ru_nivcsw) / count

    def _read(self) -> tuple[float, float, dict[int, float]]:
        pids = self._backends()
        return (time.process_time(), self._sandbox.cpu_seconds() if self._sandbox else 0.0,
                {pid: cpu_seconds([pid]) for pid in pids})

    def per_delivery_ms(self, count: int) -> dict[str, float]:
        bench, sandbox, backends = self._read()
        store = sum(cpu - self._start[2].get(pid, 0.0) for pid, cpu in backends.items())
        spent = {"bench": bench - self._start[0], "sandbox": sandbox - self._start[1], "store": store}
        return {name: 1000 * seconds / count for name, seconds in spent.items()}


def load_average() -> float:
    return os.getloadavg()[0]


def drain(args: argparse.Namespace, plan: Plan, scratch: Scratch, sandbox: EgiszSandbox, workers: int,
          mode: str, on_start: Callable[[], None] | None = None) -> Figure:
    """One outbox drain of a fresh copy of the template; checked, or SystemExit.

    ``mode``: outbox (Replies.deliver to the sandbox over HTTP), single (the same, each outcome
    written in a transaction of its own: record_window 0, as before grouping), store
    (Replies.deliver, the upstream answered in-process), bare (a handler that returns Delivered()
    and touches nothing else)."""
    http = mode in ("outbox", "single")
    if http:
        fresh_tasks(sandbox, plan, plan.count, plan.window)
    url = scratch.copy()
    store = Store(url)
    egisz = upstream(sandbox) if http else None
    try:
        outbox = Outbox(store, record_window=0.0) if mode == "single" else Outbox(store)
        tally = _Tally(plan.count)
        # Replies registers its handler (and the prepare that loads a group's applications) as in
        # production; the tally watches the upstream's answers underneath it.
        Replies(store, outbox, applications(),
                tally.upstream(RestAttachmentUpstream(egisz) if egisz else _AnsweredAtOnce()))
        if mode == "bare":
            outbox.register(KIND, tally.wrap(lambda message: Delivered()))
        load = load_average()
        cpu = _Cpu(sandbox if http else None, lambda: scratch.backends(url))
        started = time.perf_counter()
        pool = outbox.start(workers=workers, batch=args.batch)
        if on_start is not None:
            on_start()
        finished = tally.done.wait(max(300.0, plan.count / 20))
        stopped = pool.stop(30)  # the last marks are committed when the workers have ended
        elapsed = time.perf_counter() - started
        cpu_ms, switches = cpu.per_delivery_ms(plan.count), cpu.switches(plan.count)
        if tally.failures or not finished or not stopped:
            raise SystemExit(f"{mode} run failed: {tally.delivered} delivered, finished={finished}, "
                             f"stopped={stopped}, failures: {tally.failures[:5]}\n"
                             + (sandbox.log_tail() if http else ""))
        check_store(outbox, store, plan.count, applications_too=mode != "bare")
        if http:
            check_sandbox(sandbox, plan)
        return Figure(plan.count / elapsed, elapsed, cpu_ms, load, switches)
    finally:
        if egisz is not None:
            egisz.close()
        store.dispose()
        scratch.drop(url)


def check_store(outbox: Outbox, store: Store, count: int, applications_too: bool) -> None:
    counts = {state: n for state, n in outbox.stats().counts.items() if n}
    if counts != {"delivered": count}:
        raise SystemExit(f"outbox counts after the drain: {counts}, expected {{'delivered': {count}}}")
    if not applications_too:
        return
    with store.session() as session:
        provided = session.scalar(select(func.count()).select_from(Application).where(
            Application.status == SERVICE_PROVIDED, Application.reply_pending.is_(None)))
    if provided != count:
        raise SystemExit(f"{provided} applications «Услуга оказана» in the store, expected {count}")


def check_sandbox(sandbox: EgiszSandbox, plan: Plan) -> None:
    """The sandbox's own record: each expected task answered exactly once, SERVICE_PROVIDED."""
    applied = sandbox.replies()
    tasks = Counter(reply["task_id"] for reply in applied)
    expected = {task_id for task_id, _, _ in plan.calls}
    outcomes = Counter(reply["outcome"] for reply in applied)
    if set(tasks) != expected or any(n != 1 for n in tasks.values()) or outcomes != {"SERVICE_PROVIDED": plan.count}:
        raise SystemExit(f"the sandbox applied {len(applied)} replies to {len(tasks)} tasks "
                         f"({dict(outcomes)}), expected {plan.count} once each")


def direct(plan: Plan, sandbox: EgiszSandbox, threads: int) -> Figure:
    """The same calls from ``threads`` threads through one Upstream: no store, no outbox."""
    fresh_tasks(sandbox, plan, plan.count, plan.window)
    egisz = upstream(sandbox)
    rest = RestAttachmentUpstream(egisz)
    calls = iter(plan.calls)
    lock = threading.Lock()
    failures: list[str] = []

    def work() -> None:
        while not failures:
            with lock:
                call = next(calls, None)
            if call is None:
                return
            try:
                task = rest.send_reply(*call)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            if task.get("status") != "completed":
                failures.append(f"task {call[0]} answered with status {task.get('status')}")

    load = load_average()
    cpu = _Cpu(sandbox, list)
    started = time.perf_counter()
    pool = [threading.Thread(target=work, name=f"direct-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_ms, switches = cpu.per_delivery_ms(plan.count), cpu.switches(plan.count)
    egisz.close()
    if failures:
        raise SystemExit(f"direct run failed: {failures[:5]}\n{sandbox.log_tail()}")
    check_sandbox(sandbox, plan)
    return Figure(plan.count / elapsed, elapsed, cpu_ms, load, switches)


def scenarios(args: argparse.Namespace, store: str) -> list[Scenario]:
    found: list[Scenario] = []
    for workers in args.workers:
        found += [
            Scenario(f"direct:{workers}", f"direct: `$UpdateTaskStatus` → sandbox, {workers} threads (ceiling)",
                     "direct", workers),
            Scenario(f"outbox:{workers}", f"outbox: {store} → `Replies.deliver` → sandbox, {workers} workers",
                     "outbox", workers),
            Scenario(f"single:{workers}", f"the same, each outcome in a transaction of its own "
                     f"(`record_window=0`, as before grouping), {workers} workers", "single", workers),
        ]
    if args.store_only:
        workers = args.workers[0]
        found += [
            Scenario(f"store:{workers}", f"outbox: {store} → `Replies.deliver`, upstream answered in-process "
                     f"(no HTTP), {workers} workers", "store", workers),
            Scenario(f"bare:{workers}", f"outbox alone: {store}, handler returns `Delivered()` (no HTTP, "
                     f"no application update), {workers} workers", "bare", workers),
        ]
    return found


def run_one(args: argparse.Namespace, scenario: Scenario, plan: Plan, scratch: Scratch,
            sandbox: EgiszSandbox) -> Figure:
    if scenario.kind == "direct":
        return direct(plan, sandbox, scenario.workers)
    return drain(args, plan, scratch, sandbox, scenario.workers, scenario.kind)


# --- main -----------------------------------------------------------------------------------


def _workers(value: str) -> list[int]:
    counts = [int(part) for part in value.split(",") if part.strip()]
    if not counts or any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("workers: positive integers, comma-separated")
    return counts


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="replies per run (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every scenario; the median is reported")
    parser.add_argument("--workers", type=_workers, default=[4],
                        help="outbox workers (and direct threads); a list such as 2,4,8 measures each (default 4)")
    parser.add_argument("--batch", type=int, default=20, help="messages per claim (default 20, as in production)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="do not ANALYZE after the bulk load (a burst larger than the table's statistics know)")
    parser.add_argument("--no-store-only", dest="store_only", action="store_false",
                        help="skip the store-only scenarios (upstream answered in-process; handler alone)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite (WAL) instead of PostgreSQL")
    parser.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                        help="py-spy the workers and the sandbox during one extra drain")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of --doc")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the page to write (default {DOC.relative_to(ROOT)})")
    return parser.parse_args()


@contextlib.contextmanager
def environment(args: argparse.Namespace, work: Path) -> Iterator[tuple[EgiszSandbox, Scratch]]:
    sandbox = EgiszSandbox(work / "sandbox")
    try:
        scratch: Scratch = SqliteScratch(work) if args.sqlite else PostgresScratch(PG_ADMIN_URL)
        try:
            yield sandbox, scratch
        finally:
            scratch.close()
    finally:
        sandbox.stop()


def main() -> None:
    args = parse_args()
    command = " ".join(["python bench/bench_outbox.py", shlex.join(sys.argv[1:])]).strip()
    configure_logging("WARNING")  # as the bridges in docs/performance.md: no line per delivery
    work = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    try:
        with environment(args, work) as (sandbox, scratch):
            store_name = scratch.server()
            plan = prepare(args, sandbox, scratch)
            found = scenarios(args, store_name.split()[0])
            for index in range(args.repeat):
                for scenario in found:
                    figure = run_one(args, scenario, plan, scratch, sandbox)
                    scenario.runs.append(figure)
                    cpu = " ".join(f"{k} {v:.2f}" for k, v in figure.cpu_ms.items())
                    cpu += f"; switches {figure.switches:.1f}"
                    print(f"run {index + 1}/{args.repeat} {scenario.key:<10} {figure.rate:>7,.0f}/s "
                          f"({figure.seconds:.2f} s; CPU ms/delivery: {cpu}; load {figure.load:.1f})", flush=True)
            profile_lines = profile(args, plan, scratch, sandbox, work, drain) if args.profile > 0 else []
            info = machine()
            info["store"] = store_name
            section = render(args, found, plan, info, command, describe_tree(), store_name, profile_lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(section)
    if args.write:
        write_section(SECTION, section, args.doc)
        print(f"\nwritten to {args.doc} (section {SECTION})")


if __name__ == "__main__":
    main()
