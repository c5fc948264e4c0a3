"""A py-spy profile of the bridge under load, summarised by area and by frame."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from _load import LUA, Scenario


def profile(pid: int, bridged: Scenario, args: argparse.Namespace, work: Path) -> list[str]:
    """One py-spy record (GIL holder only) of one bridge process under bridged wrk load; top frames."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return ["py-spy is not installed (.venv/bin/pip install py-spy); no profile taken."]
    out = work / "profile.txt"
    env = {
        **os.environ, "BENCH_METHOD": bridged.method, "BENCH_BODY_FILE": str(work / "bridged.body"),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in bridged.headers.items()),
        "BENCH_EXPECT": bridged.expect, "BENCH_IDEMPOTENCY": "", "BENCH_VARY_SNILS": bridged.vary_snils,
    }
    (work / "bridged.body").write_bytes(bridged.body or b"")
    wrk = subprocess.Popen(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.profile + 3:g}s", "-s", str(LUA), bridged.url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    spy = subprocess.run(
        [py_spy, "record", "--pid", str(pid), "--duration", str(int(args.profile)), "--rate", "250",
         "--gil", "--format", "raw", "--output", str(out), "--nonblocking"],
        capture_output=True, text=True,
    )
    wrk.wait()
    if spy.returncode != 0 or not out.exists():
        return [f"py-spy could not profile the bridge: {(spy.stderr or spy.stdout).strip()[:300]}"]
    return summarise_profile(out.read_text())


def _frame_name(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    function, path = m.groups()
    for marker in ("site-packages/", "/work/main/", "/work/wt/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} ({path})"


def _area(stack: list[str]) -> str:
    """Which part of the bridge a sample belongs to, by the innermost recognisable frame."""
    rules = [
        ("bridge/signing", "signatures: GOST R 34.10/34.11 (bridge/signing)"),
        ("bridge/smev/_xmldsig", "signatures: XMLDSig, c14n, СМЭВ transform"),
        ("bridge/smev/_c14n", "signatures: XMLDSig, c14n, СМЭВ transform"),
        ("bridge/smev/_transform", "signatures: XMLDSig, c14n, СМЭВ transform"),
        ("MethodContext.close", "spyne: gc.collect() forced once a second (MethodContext.close)"),
        ("spyne/protocol/soap", "spyne: SOAP parse/serialise"), ("lxml", "spyne: SOAP parse/serialise"),
        ("spyne/", "spyne: other"), ("adapters/esia/sandbox", "sandbox ЕСИА (in-process peer)"),
        ("httpx", "httpx client (call to ЕСИА)"), ("httpcore", "httpx client (call to ЕСИА)"),
        ("tenacity", "delivery: retry/breaker"), ("pybreaker", "delivery: retry/breaker"),
        ("structlog", "logging"), ("logging/", "logging"), ("prometheus_client", "metrics"),
        ("bridge/mapping", "mapping"), ("a2wsgi", "ASGI→WSGI thread hop"),
        ("bridge/soap/_asgi", "ASGI→WSGI thread hop"),
        ("sqlalchemy", "store (outbox polling, journal)"),
        ("uvicorn", "uvicorn/h11 HTTP server"), ("h11", "uvicorn/h11 HTTP server"),
        ("starlette", "starlette/fastapi routing"), ("fastapi", "starlette/fastapi routing"),
        ("pydantic", "starlette/fastapi routing"), ("asyncio", "asyncio event loop"),
        ("concurrent/futures", "thread pool handoffs"), ("threading.py", "thread pool handoffs"),
    ]
    for frame in reversed(stack):
        for needle, area in rules:
            if needle in frame:
                return area
    return "other"


def raw_samples(raw: str) -> Iterator[tuple[list[str], int]]:
    """py-spy's raw format, a line per stack: ``frame;frame;… count`` → (frames outermost first, count)."""
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if stack_text and count_text.isdigit():
            yield stack_text.split(";"), int(count_text)


def summarise_profile(raw: str, top: int = 12) -> list[str]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for stack, count in raw_samples(raw):
        total += count
        self_time[_frame_name(stack[-1])] += count
        for name in {_frame_name(f) for f in stack}:
            inclusive[name] += count
        areas[_area(stack)] += count
    if not total:
        return ["py-spy recorded no samples."]
    lines = [f"{total} samples with the GIL held; by area (innermost recognisable frame):"]
    lines += [f"  {100 * n / total:5.1f}%  {area}" for area, n in areas.most_common()]
    lines.append("top self time:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    lines.append("top inclusive time (bridge, spyne and httpx frames):")
    interesting = [
        (name, n) for name, n in inclusive.most_common()
        if any(k in name for k in ("bridge/", "adapters/", "spyne/", "httpx/", "a2wsgi"))
        and "bridge/cli/" not in name and "bridge/__main__" not in name
    ]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in interesting[:top]]
    return lines
