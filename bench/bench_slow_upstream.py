"""CheckPatient against a slow upstream: how many calls a worker and an instance hold at once.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_slow_upstream.py [--latency 2] [--levels 32,256,1000] [--workers 1,2] [--write]

The sandbox ЕСИА runs as its own process and answers every ``find_account`` after ``--latency``
seconds (``PUT /_sandbox/faults {"latency_seconds": …}``: an asynchronous wait, so the sandbox
itself holds any number of calls). For each bridge (``--workers`` 1 = one worker, 2 = one instance
on this 2-core host) and each level C, a fresh bridge is started and C МИС clients send one
CheckPatient each, all at once, each on its own connection, and wait up to ``--client-timeout``
seconds (a МИС's HTTP timeout). Reported per run:

- **held at once**: calls answered NOT_FOUND in less than twice the latency: a call that had to
  wait for a thread busy with another call cannot be answered that soon, so these were in flight
  together (the threads' peak says the same from the other side);
- what the others saw: answered later (queued), a SOAP fault (by faultcode), or no answer before
  the client's timeout;
- the bridge's RSS and PSS (all processes) sampled every 50 ms: growth over idle at the peak, and
  the PSS growth per call held; its threads at the peak.

The bridge is killed after each run (calls it still queues would otherwise run into the next).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _procs import Bridge, start_bridge_from, start_sandbox_from  # noqa: E402
from _report import describe_tree, machine, machine_line, write_section  # noqa: E402
from bench_check_patient import bench_patient, soap_envelope  # noqa: E402

SECTION = "slow_upstream"
PACKAGES = ("uvicorn", "uvloop", "httpx", "spyne")
TARGET_IN_FLIGHT, TARGET_KB_PER_CALL = 1000, 50


@dataclass
class Outcome:
    latency: float
    kind: str  # NOT_FOUND, a faultcode, "timeout", "connection: …"


@dataclass
class Level:
    workers: int
    clients: int
    outcomes: list[Outcome]
    rss_idle_mb: float
    rss_peak_mb: float
    pss_idle_mb: float
    pss_peak_mb: float
    threads_idle: int
    threads_peak: int
    load: float
    extra: dict[str, Any] = field(default_factory=dict)

    def held(self, latency: float) -> int:
        return sum(1 for o in self.outcomes if o.kind == "NOT_FOUND" and o.latency < 2 * latency)


async def _one(host: str, port: int, request: bytes, timeout: float) -> Outcome:
    started = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout - (time.monotonic() - started))
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        body = await asyncio.wait_for(reader.readexactly(length), timeout - (time.monotonic() - started))
    except TimeoutError:
        return Outcome(time.monotonic() - started, "timeout")
    except (OSError, asyncio.IncompleteReadError) as exc:
        return Outcome(time.monotonic() - started, f"connection: {type(exc).__name__}")
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.monotonic() - started
    found = re.search(rb"<(?:\w+:)?Result>(\w+)<", body) or re.search(rb"<faultcode>(?:\w+:)?([\w.]+)<", body)
    return Outcome(elapsed, found.group(1).decode() if found else f"HTTP {head.split()[1].decode()}")


async def _burst(url: str, clients: int, body: bytes, timeout: float) -> list[Outcome]:
    host, port = url.split("//", 1)[1].split(":")
    head = (f"POST /soap/esia-accounts HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml; charset=utf-8\r\n"
            f'SOAPAction: "CheckPatient"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n').encode()
    return list(await asyncio.gather(*(_one(host, int(port), head + body, timeout) for _ in range(clients))))


def pss_mb(bridge: Bridge) -> float:
    """Proportional set size of the bridge tree (pages shared by the forked workers counted once)."""
    total = 0
    for pid in bridge.pids():
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Sampler(threading.Thread):
    """The bridge tree's RSS and PSS (MB, summed) and threads, every 50 ms, keeping the peaks."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__(daemon=True)
        self.bridge, self.rss_peak, self.pss_peak, self.threads_peak = bridge, 0.0, 0.0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.rss_peak = max(self.rss_peak, self.bridge.rss_mb()[1])
            self.pss_peak = max(self.pss_peak, pss_mb(self.bridge))
            self.threads_peak = max(self.threads_peak, self.bridge.threads())


def run_level(args: argparse.Namespace, work: Path, sandbox: Any, workers: int, clients: int) -> Level:
    bridge = start_bridge_from(ROOT, work / f"w{workers}-c{clients}", f"×{workers}", sandbox, workers=workers,
                               extra=args.extra)
    try:
        body = soap_envelope(bench_patient())
        httpx.post(f"{bridge.url}/soap/esia-accounts", content=body, timeout=args.latency + 30,
                   headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"CheckPatient"'})
        time.sleep(0.5)
        idle, pss, threads = bridge.rss_mb()[1], pss_mb(bridge), bridge.threads()
        sampler = Sampler(bridge)
        sampler.start()
        load = os.getloadavg()[0]
        outcomes = asyncio.run(_burst(bridge.url, clients, body, args.client_timeout))
        sampler.stopped.set()
        sampler.join()
        return Level(workers, clients, outcomes, idle, sampler.rss_peak, pss, sampler.pss_peak, threads,
                     sampler.threads_peak, load)
    finally:
        tree = bridge.pids()  # the supervisor and its workers: a killed supervisor leaves its workers running
        for pid in reversed(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        bridge.process.wait(10)


def _kinds(level: Level, latency: float) -> str:
    counts = Counter(o.kind for o in level.outcomes)
    late = sum(1 for o in level.outcomes if o.kind == "NOT_FOUND" and o.latency >= 2 * latency)
    parts = [f"{late} answered late" if late else ""]
    parts += [f"{n} {kind}" for kind, n in counts.most_common() if kind != "NOT_FOUND"]
    return ", ".join(p for p in parts if p) or "—"


def render(args: argparse.Namespace, levels: list[Level], info: dict[str, str], command: str) -> str:
    out = [
        f"Run: {info['date']} · `{command}` · tree {describe_tree(ROOT)}", "",
        f"{machine_line(info, PACKAGES)}. The sandbox ЕСИА (its own process) answers every `find_account` "
        f"after **{args.latency:g} s**; each МИС client sends one CheckPatient on its own connection, all at "
        f"once, and waits up to {args.client_timeout:g} s. A fresh bridge per row (`log_level: WARNING`, SQLite); "
        f"settings on top of the defaults: `{args.extra or {}}`. **held** = answered NOT_FOUND within "
        f"{2 * args.latency:g} s, i.e. without waiting a whole upstream round for a thread (in flight together); "
        "RSS and PSS = all processes of the bridge (PSS counts the pages the forked workers share once), peak "
        "during the run minus idle before it. **load** = 1-minute load average at the start of the run.", "",
        "| bridge | МИС clients at once | held at once | the others saw | slowest answer s | RSS idle MB | "
        "RSS growth at peak MB | PSS growth at peak MB | KB per call held (PSS) | threads idle → peak | load |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        held = lv.held(args.latency)
        growth = lv.rss_peak_mb - lv.rss_idle_mb
        pss = lv.pss_peak_mb - lv.pss_idle_mb
        slowest = max((o.latency for o in lv.outcomes if o.kind != "timeout"), default=0.0)
        out.append(
            f"| `--workers {lv.workers}` | {lv.clients:,} | **{held:,}** | {_kinds(lv, args.latency)} | "
            f"{slowest:.1f} | {lv.rss_idle_mb:.0f} | {growth:.1f} | {pss:.1f} | "
            f"{1024 * pss / held if held else 0:.0f} | "
            f"{lv.threads_idle} → {lv.threads_peak} | {lv.load:.1f} |"
        )
    instance = [lv for lv in levels if lv.workers == max(args.workers)]
    best = max(instance, key=lambda lv: lv.held(args.latency))
    best_held = best.held(args.latency)
    kb = 1024 * (best.pss_peak_mb - best.pss_idle_mb) / best_held if best_held else float("inf")
    out += ["", f"**Goal** (one instance, `--workers {max(args.workers)}`): ≥ {TARGET_IN_FLIGHT:,} calls in flight "
            f"— {best_held:,}, {'met' if best_held >= TARGET_IN_FLIGHT else 'not met'}; memory (PSS) growth ≤ "
            f"{TARGET_KB_PER_CALL} KB per call in flight — {kb:.0f} KB, "
            f"{'met' if kb <= TARGET_KB_PER_CALL else 'not met'}."]
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the sandbox ЕСИА takes per call")
    parser.add_argument("--levels", default="32,256,1000", help="МИС clients at once, comma-separated")
    parser.add_argument("--workers", default="1,2", help="bridge worker counts, comma-separated")
    parser.add_argument("--client-timeout", type=float, default=30.0, help="a МИС's HTTP timeout, seconds")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                        help="a bridge setting on top of the defaults (repeatable), e.g. "
                             "'upstreams={esia-accounts: {max_connections: 600}}'")
    parser.add_argument("--write", action="store_true", help="replace the slow_upstream section of the doc")
    args = parser.parse_args()
    import yaml

    args.extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    args.levels = [int(x) for x in args.levels.split(",")]
    args.workers = [int(x) for x in args.workers.split(",")]
    return args


def main() -> None:
    args = parse_args()
    command = " ".join(["python bench/bench_slow_upstream.py", shlex.join(sys.argv[1:])]).strip()
    started = time.monotonic()
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="bench-slow-upstream-") as tmp:
        work = Path(tmp)
        sandbox = start_sandbox_from(ROOT, work / "sandbox", ("esia",))
        try:
            esia = sandbox.sandbox_urls["esia"]
            httpx.put(f"{esia}/_sandbox/faults", json={"rate": 0, "latency_seconds": args.latency},
                      timeout=10).raise_for_status()
            for workers in args.workers:
                for clients in args.levels:
                    level = run_level(args, work, sandbox, workers, clients)
                    levels.append(level)
                    print(f"  ×{workers} {clients:5} clients: held {level.held(args.latency):5}  "
                          f"{_kinds(level, args.latency)}  RSS +{level.rss_peak_mb - level.rss_idle_mb:.1f} MB  "
                          f"threads {level.threads_idle}→{level.threads_peak}  load {level.load:.1f}", flush=True)
        finally:
            sandbox.stop()
    section = render(args, levels, machine(), command)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s\n\n{section}")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
