"""Intake of 100,000 ЕГИСЗ attachment applications: time and peak memory, on SQLite and PostgreSQL,
beside the ceiling (the same pages taken over HTTP and thrown away).

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_intake.py [--count 100000] [--repeat 3] [--page-size 500]
        [--stores sqlite,postgresql] [--write] [--doc PATH]

One run starts the sandbox ЕГИСЗ as its own process (``bridge sandbox --write-config``,
``log_level: WARNING``) and asks it once to generate ``--count`` applications for one MO (seed 1,
a fixed window): a lazy batch, each page generated when it is asked for. Generating the same spec
again creates nothing (the batch is keyed by its spec), so the data is made once and every run
reads the same applications. Then, ``--repeat`` times, interleaved run by run so that a busy
machine slows them all alike:

- **ceiling** (the baseline): ``GET /api/AttachMO/v1/tasks`` page after page, ``--page-size`` a
  page, through the same ``RestAttachmentUpstream`` over ``bridge.delivery.Upstream`` the intake
  uses, nothing mapped or stored — the fastest any intake could be against this sandbox;
- **intake** on each store of ``--stores``: the real job (``Scheduler.run_now`` → ``Intake.run``):
  the same pages, each mapped through ``mappings/`` (``egisz.application``) and upserted in one
  transaction, the cursor recorded after every page — into a fresh database every run (a new
  SQLite file; a scratch PostgreSQL database created before and dropped after), so that every
  upsert is an insert as in a real first intake.

Every run is a fresh Python process (this script with ``--child``): it imports, opens and migrates
the store, collects garbage, then reads its idle RSS and resets the kernel's high-water mark
(``/proc/self/clear_refs``) right before the timed part; a thread samples VmRSS every 50 ms while
it runs. So the peak and the peak over idle are the intake's (or the paging's) and nothing else's —
not the imports, not an earlier run's heap. In the intake the time spent inside ``fetch_page`` is
measured too, which splits the intake's time into the upstream's paging and the bridge's mapping +
store. Each figure is the median over the runs, min–max beside it; ``--write`` replaces the section
between the ``bench:intake`` markers of docs/performance.md (or of ``--doc``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from _report import DOC, describe_tree, machine, machine_line, median, write_section  # noqa: E402

SECTION = "intake"
PACKAGES = ("sqlalchemy", "psycopg", "alembic", "httpx", "PyYAML", "fastapi", "uvicorn")
PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: An MO of its own: the sandbox seeds 40 demo applications for its default MO (…22.1234), not for this one.
MO = "1.2.643.5.1.13.13.12.2.22.7700"
TARGET_PEAK_MB = 300
TARGET_COUNT = 100_000
STORE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


# --- one run, in its own process --------------------------------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_high_water() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


class _TimedUpstream:
    """The intake's upstream with a stopwatch around ``fetch_page``: the paging share of its time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.pages = 0

    def fetch_page(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.fetch_page(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.pages += 1

    def send_reply(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.send_reply(*args, **kwargs)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run: ``spec`` names the scenario, the sandbox, the window, the store's URL."""
    from adapters.egisz._applications import Applications
    from adapters.egisz._client import RestAttachmentUpstream
    from adapters.egisz._intake import JOB, Intake
    from bridge.delivery import Timeouts, Upstream, UpstreamConfig
    from bridge.mapping import MappingSet
    from bridge.observability import configure_logging
    from bridge.scheduling import Job, JobRuns, Scheduler
    from bridge.store import Store

    configure_logging("WARNING")
    since, until = datetime.fromisoformat(spec["since"]), datetime.fromisoformat(spec["until"])
    page_size, count = int(spec["page_size"]), int(spec["count"])
    upstream = RestAttachmentUpstream(Upstream(UpstreamConfig("egisz", spec["sandbox"], timeouts=Timeouts(read=60))))
    store = None
    if spec["scenario"] == "ceiling":
        timed = _TimedUpstream(upstream)

        def work() -> int:
            cursor, items = None, 0
            while True:
                page = timed.fetch_page(MO, since, until, cursor, page_size)
                items += len(page.items)
                cursor = page.next_cursor
                if not cursor:
                    return items
    else:
        store = Store(spec["url"])
        store.upgrade([ROOT / "adapters" / "egisz" / "migrations"])
        timed = _TimedUpstream(upstream)
        intake = Intake(store, timed, Applications(MappingSet.load(ROOT / "mappings")["egisz.application"]),
                        (MO,), page_size=page_size)
        scheduler = Scheduler(JobRuns(store, holder="bench"))
        scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))

        def work() -> int:
            run = scheduler.run_now(JOB, "bench", (since, until))
            if run.state != "succeeded":
                raise SystemExit(f"intake run ended {run.state}: {run.error}")
            return int(run.processed)

    gc.collect()
    idle = _status_mb("VmRSS")
    exact = _reset_high_water()
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _status_mb("VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    items = work()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _status_mb("VmRSS"))
    result = {"seconds": seconds, "paging_seconds": timed.seconds, "pages": timed.pages, "items": items,
              "idle_mb": idle, "peak_mb": peak[0], "hwm_mb": _status_mb("VmHWM") if exact else None}
    if items != count:
        raise SystemExit(f"{spec['scenario']}: took {items} applications, expected {count}")
    if store is not None:
        from sqlalchemy import text

        with store.engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM egisz_application")).scalar_one()
        store.dispose()
        if stored != count:
            raise SystemExit(f"{spec['scenario']}: {stored} applications in the store, expected {count}")
    return result


# --- the parent: sandbox, scratch stores, the runs ----------------------------------------------


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          cwd=ROOT, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{spec['scenario']} run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextlib.contextmanager
def scratch_store(kind: str, work: Path, n: int) -> Any:
    """A fresh, empty database for one run: a new SQLite file, or a PostgreSQL database dropped after."""
    if kind == "sqlite":
        path = work / f"intake-{n}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = f"bridge_bench_intake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from _procs import start_sandbox_from

    sandbox = start_sandbox_from(ROOT, work / "sandbox", ("egisz",))
    try:
        url = sandbox.sandbox_urls["egisz"]
        now = datetime.now(UTC).replace(microsecond=0)
        since, until = now - timedelta(days=1), now
        generate = {"mo": [MO], "from": (now - timedelta(hours=23)).isoformat(),
                    "to": (now - timedelta(minutes=1)).isoformat(), "count": args.count, "seed": 1}
        made = httpx.post(f"{url}/_sandbox/egisz/generate", json=generate, timeout=120)
        made.raise_for_status()
        again = httpx.post(f"{url}/_sandbox/egisz/generate", json=generate, timeout=120).json()
        held = httpx.get(f"{url}/_sandbox/egisz/tasks/count", params={"mo": MO}, timeout=30).json()["count"]
        if again.get("created") or held != args.count:
            raise SystemExit(f"the sandbox holds {held} tasks after generating {args.count} twice: {again}")
        print(f"sandbox: {held:,} applications ({'lazy' if made.json()['lazy'] else 'rows'}), "
              "generated once (the same spec again creates nothing)", flush=True)
        base = {"sandbox": url, "since": since.isoformat(), "until": until.isoformat(),
                "page_size": args.page_size, "count": args.count}
        order = ["ceiling", *args.stores]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
        loads: list[float] = []
        for i in range(args.repeat):
            for name in order:
                load = os.getloadavg()[0]
                loads.append(load)
                if name == "ceiling":
                    result = run_child({**base, "scenario": name})
                else:
                    with scratch_store(name, work, i) as store_url:
                        result = run_child({**base, "scenario": name, "url": store_url})
                result["load"] = load
                runs[name].append(result)
                print(f"  {name:10} run {i + 1}: {result['seconds']:7.1f} s  {args.count / result['seconds']:7,.0f}/s"
                      f"  paging {result['paging_seconds']:6.1f} s  peak RSS {result['peak_mb']:5.0f} MB"
                      f" (+{result['peak_mb'] - result['idle_mb']:.0f} over idle {result['idle_mb']:.0f};"
                      f" VmHWM {result['hwm_mb'] or 0:.0f})  load {load:.1f}", flush=True)
        return {"runs": runs, "loads": loads, "tree": describe_tree(), "sandbox_lazy": made.json()["lazy"]}
    finally:
        sandbox.stop()


# --- report -------------------------------------------------------------------------------------


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def render(args: argparse.Namespace, run: dict[str, Any], info: dict[str, str], command: str,
           whole_s: float) -> str:
    runs: dict[str, list[dict[str, Any]]] = run["runs"]
    n, count = args.repeat, args.count
    ceiling = median([r["seconds"] for r in runs["ceiling"]])
    stores = " and ".join(STORE_NAMES[s] for s in args.stores)
    hwm_gap = max((abs((r["hwm_mb"] or r["peak_mb"]) - r["peak_mb"]) for rs in runs.values() for r in rs), default=0)
    out = [
        f"Run: {info['date']} · `{command}` · tree {run['tree']} · whole run {whole_s / 60:.1f} min",
        "",
        f"{machine_line(info, PACKAGES)}. The sandbox ЕГИСЗ is one process of its own (`log_level: WARNING`) "
        f"holding {count:,} applications of one MO, generated once{', lazily' if run['sandbox_lazy'] else ''} "
        "(seed 1); "
        "the store is a SQLite file on local disk (WAL, `synchronous=NORMAL`) or a scratch PostgreSQL database "
        "on this machine, fresh for every run. 1-minute load "
        f"average at the start of the runs: {_spread(run['loads'])} — above ~2 the machine was busy with other work.",
        "",
        f"Measured: the bridge's real intake job taking {count:,} applications (pages of {args.page_size} over HTTP "
        f"through `bridge.delivery.Upstream`, each mapped through YAML and upserted into {stores}), against the "
        "baseline **ceiling** — the same `GET /api/AttachMO/v1/tasks` pages through the same `Upstream` from the "
        f"same sandbox, nothing mapped or stored; median of {n} run{'s' if n > 1 else ''} (min–max), "
        "scenarios interleaved run by run, "
        "each run a fresh process whose RSS is sampled every 50 ms from right before the timed part "
        f"(idle = after imports and the store's migrations; the kernel's VmHWM agrees within {hwm_gap:.0f} MB); "
        "*of which paging* is the time spent inside the upstream's `fetch_page` during that run.",
        "",
        "| scenario | store | time s median (min–max) | applications/s | of which paging s | of which mapping + "
        f"store s | peak RSS MB (over idle) | target <{TARGET_PEAK_MB} MB |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for name, results in runs.items():
        seconds = [r["seconds"] for r in results]
        paging = median([r["paging_seconds"] for r in results])
        peaks = [r["peak_mb"] for r in results]
        over = median([r["peak_mb"] - r["idle_mb"] for r in results])
        peak = f"{median(peaks):.0f} (+{over:.0f})"
        if name == "ceiling":
            out.append(f"| ceiling: paging only (baseline) | — | {_spread(seconds)} | {count / median(seconds):,.0f} | "
                       f"{paging:.1f} | — | {peak} | — (baseline) |")
            continue
        rest = median([r["seconds"] - r["paging_seconds"] for r in results])
        met = max(peaks) < TARGET_PEAK_MB
        share = 100 * rest / median(seconds)
        out.append(f"| intake (the real job) | {STORE_NAMES[name]} | {_spread(seconds)} | "
                   f"{count / median(seconds):,.0f} | {paging:.1f} | {rest:.1f} ({share:.0f}%) | {peak} | "
                   f"{'met' if met else '**not met**'} (max {max(peaks):.0f}) |")
        verdicts.append(f"{STORE_NAMES[name]} {median(seconds):.1f} s ({count / median(seconds):,.0f}/s, "
                        f"{median(seconds) / ceiling:.1f}× the ceiling, {share:.0f}% of it the bridge's mapping + "
                        f"store), peak {max(peaks):.0f} MB — {'met' if met else 'NOT met'}")
    scale = "" if count == TARGET_COUNT else f" (at {count:,} applications; the target is for {TARGET_COUNT:,})"
    out += ["", f"**Verdict**{scale}: ceiling {ceiling:.1f} s ({count / ceiling:,.0f}/s); intake "
            + "; ".join(verdicts) + f" against the target of under {TARGET_PEAK_MB} MB peak."]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="applications the sandbox holds")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median reported)")
    parser.add_argument("--page-size", type=int, default=500, help="tasks per page (the intake's default)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--write", action="store_true", help="replace the bench:intake section of --doc")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the page --write writes (default {DOC.name})")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not args.stores or any(s not in STORE_NAMES for s in args.stores):
        parser.error("--stores takes sqlite and/or postgresql")
    if args.repeat < 1 or args.count < 1:
        parser.error("--repeat and --count must be positive")
    return args


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    command = " ".join(["python bench/bench_intake.py", shlex.join(sys.argv[1:])]).strip()
    info = machine()
    if "postgresql" in args.stores:
        info["postgresql"] = postgres_version()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        run = measure(args, Path(tmp))
    section = render(args, run, info, command, time.monotonic() - started)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s\n")
    print(section)
    if args.write:
        write_section(SECTION, section, args.doc)
        print(f"\nwrote {args.doc}")


if __name__ == "__main__":
    main()
