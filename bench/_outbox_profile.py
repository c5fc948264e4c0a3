"""The ``--profile`` part of bench_outbox.py: py-spy records this process (``--gil``) and the sandbox
during one more outbox drain (``drain`` is bench_outbox's, passed in), and the raw stacks are summarised:
this process's CPU by step of a delivery and by library, the sandbox's by area."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _egisz_sandbox import EgiszSandbox
from _outbox_types import Figure, Plan
from _profile import raw_samples
from _scratch_db import Scratch


def profile(args: argparse.Namespace, plan: Plan, scratch: Scratch, sandbox: EgiszSandbox, work: Path,
            drain: Callable[..., Figure]) -> list[str]:
    """py-spy during one more outbox drain: this process (the thread holding the GIL: its CPU), the sandbox (CPU)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return ["py-spy is not installed (.venv/bin/pip install py-spy); no profile taken."]
    own, peer, log = work / "profile-bench.txt", work / "profile-sandbox.txt", work / "py-spy.log"
    spies: list[subprocess.Popen[bytes]] = []

    def record() -> None:
        with log.open("ab") as errors:
            for pid, out, extra in ((os.getpid(), own, ["--gil"]), (sandbox.pid, peer, [])):
                spies.append(subprocess.Popen(
                    [py_spy, "record", "--pid", str(pid), "--duration", str(int(args.profile)), "--rate", "200",
                     "--format", "raw", "--output", str(out), "--nonblocking", *extra],
                    stdout=subprocess.DEVNULL, stderr=errors))

    figure = drain(args, plan, scratch, sandbox, args.workers[0], "outbox", on_start=record)
    for spy in spies:
        spy.wait()
    lines = [f"profiled drain: {figure.rate:,.0f} deliveries/s, {figure.cpu_ms['bench']:.2f} ms CPU per delivery "
             f"in this process; py-spy for {args.profile:g} s from its start (the drain took {figure.seconds:.1f} s)"]
    if own.exists():
        lines += summarise_workers(own.read_text())
    if peer.exists():
        lines += summarise_sandbox(peer.read_text())
    if not own.exists() and log.exists():
        lines.append(f"py-spy: {log.read_text(errors='replace').strip()[:300]}")
    return lines


#: Steps of a delivery: the first rule any frame of the stack matches (py-spy frames: "function (path:line)").
_STEPS = (
    ("claim (SELECT … FOR UPDATE SKIP LOCKED, UPDATE … RETURNING, commit)", ("claim (",)),
    ("handler: the HTTP call (Replies.deliver → Upstream → httpx)", ("Outbox._call (",)),
    ("mark: the application's update, on_commit (ORM get, then flushed at commit)",
     ("Replies._acknowledged", "Session._flush (", "Session.flush (")),
    ("mark: the group's outcomes (one UPDATE … RETURNING, per-row finish for the rest)",
     ("_mark_delivered (", "_outbox_claim.py")),
    ("mark: the group's commit, its session, the log line and metrics", ("Recorder.",)),
    ("per batch: connection check-out (pre-ping), the loop", ("Outbox._run (",)),
)
#: Where the CPU is spent, by the innermost recognisable frame.
_LIBRARIES = (
    ("psycopg (driver)", ("psycopg/",)),
    ("SQLAlchemy ORM", ("sqlalchemy/orm/",)),
    ("SQLAlchemy Core (statements, compile cache, results)", ("sqlalchemy/",)),
    ("httpx / httpcore / h11 (HTTP client)", ("httpx/", "httpcore/", "h11/")),
    ("bridge.delivery (Upstream, outbox, breaker)", ("bridge/delivery/",)),
    ("adapters.egisz", ("adapters/egisz/",)),
    ("json", ("json/",)),
    ("logging and metrics", ("structlog/", "logging/", "prometheus_client/")),
    ("threading, queue", ("threading.py",)),
)


def _first_rule(stack: list[str], rules: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The first rule (in the rules' order) that any frame of the stack matches."""
    for name, needles in rules:
        if any(needle in frame for frame in stack for needle in needles):
            return name
    return "other"


def _innermost(stack: list[str], rules: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    for frame in reversed(stack):
        for name, needles in rules:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarise_workers(raw: str) -> list[str]:
    """Where this process's CPU goes during the drain (py-spy ``--gil``: the thread holding the GIL)."""
    steps: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    for stack, count in raw_samples(raw):
        total += count
        steps[_first_rule(stack, _STEPS) if any("Outbox._run (" in f for f in stack)
              else "unattributed (a stack read while it changed: py-spy --nonblocking)"] += count
        libraries[_innermost(stack, _LIBRARIES)] += count
    if not total:
        return ["py-spy recorded no samples of this process."]
    lines = [f"this process, {total} samples with the GIL held (its CPU), by step of a delivery:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in steps.most_common()]
    lines.append("the same samples by library (innermost recognisable frame):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in libraries.most_common()]
    return lines


def summarise_sandbox(raw: str, top: int = 8) -> list[str]:
    own: Counter[str] = Counter()
    total = 0
    for stack, count in raw_samples(raw):
        total += count
        area = next((("sandbox: " + part.split("sandbox/", 1)[1].split(".py")[0]) for f in reversed(stack)
                     for part in [f] if "egisz/sandbox/" in f), None) or next(
            (name for f in reversed(stack) for needle, name in (
                ("uvicorn", "uvicorn / httptools"), ("starlette", "starlette / fastapi"),
                ("fastapi", "starlette / fastapi"), ("bridge/sandbox", "fault injector"),
                ("asyncio", "asyncio / uvloop")) if needle in f), "other")
        own[area] += count
    if not total:
        return ["py-spy: no samples of the sandbox (it was idle?)."]
    lines = [f"sandbox process, {total} samples on CPU: by innermost recognisable frame:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return lines
