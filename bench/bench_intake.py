"""Intake of 100,000 attachment applications: time and peak memory of the bridge side.

The sandbox ЕГИСЗ runs in its own process (`bridge sandbox`) and generates the applications
lazily; this process runs the real intake job (HTTP paging through the delivery path, YAML
mapping, upserts into the store) and samples its own RSS every 50 ms.

    python bench/bench_intake.py [--count 100000] [--page-size 500] [--database-url sqlite:///…|postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from adapters.egisz._applications import Applications  # noqa: E402
from adapters.egisz._intake import JOB, Intake  # noqa: E402
from adapters.egisz._upstream import RestAttachmentUpstream  # noqa: E402
from bridge.delivery import Timeouts, Upstream, UpstreamConfig  # noqa: E402
from bridge.mapping import MappingSet  # noqa: E402
from bridge.scheduling import Job, JobRuns, Scheduler  # noqa: E402
from bridge.store import Store  # noqa: E402
from tests.bridgeproc import start_sandbox  # noqa: E402

MO = "1.2.643.5.1.13.13.12.2.22.1234"


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    sandbox = start_sandbox(work / "sandbox")
    try:
        now = datetime.now(UTC)
        httpx.post(f"{sandbox.sandbox_urls['egisz']}/_sandbox/egisz/generate", timeout=120, json={
            "mo": [MO], "from": (now - timedelta(hours=23)).isoformat(), "to": (now - timedelta(minutes=1)).isoformat(),
            "count": args.count, "seed": 1}).raise_for_status()
        store = Store(args.database_url or f"sqlite:///{work / 'bridge.db'}")
        store.upgrade([ROOT / "adapters" / "egisz" / "migrations"])
        upstream = RestAttachmentUpstream(Upstream(UpstreamConfig(
            "egisz", sandbox.sandbox_urls["egisz"], timeouts=Timeouts(read=60))))
        intake = Intake(store, upstream, Applications(MappingSet.load(ROOT / "mappings")["egisz.application"]),
                        (MO,), page_size=args.page_size)
        scheduler = Scheduler(JobRuns(store, holder="bench"))
        scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))
        baseline = rss_mb()
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        run = scheduler.run_now(JOB, "bench", (now - timedelta(days=1), now))
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        assert run.state == "succeeded" and run.processed >= args.count, (run.state, run.processed)
        print(f"| intake of {args.count:,} applications ({store.dialect}, pages of {args.page_size}) "
              f"| {elapsed:.1f} s | {args.count / elapsed:,.0f}/s | peak RSS {peak[0]:.0f} MB "
              f"(+{peak[0] - baseline:.0f} MB over the idle {baseline:.0f} MB) |")
        store.dispose()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
