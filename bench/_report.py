"""What every benchmark writes beside its figures: the machine, the versions, the tree, and its
section of docs/performance.md (between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"

__all__ = ["DOC", "ROOT", "describe_tree", "machine", "machine_line", "median", "reference_loop_ms", "versions",
           "write_section"]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def machine(tools: Iterable[str] = ()) -> dict[str, str]:
    """CPU, kernel, Python, the date, and the first line of ``TOOL -v`` for each tool named."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "reference": f"{reference_loop_ms():.1f}",
    }
    for tool in tools:
        done = subprocess.run([tool, "-v"], capture_output=True, text=True)
        first = ((done.stdout + done.stderr).splitlines() or ["?"])[0]
        info[tool] = first.split(" Copyright")[0].strip()
    return info


def reference_loop_ms() -> float:
    """CPU time of a fixed pure-Python loop (best of 5), printed beside every result.

    On this shared VM the same code has taken 1.5× more CPU per request in one hour than in the
    next, with no steal time shown; this figure, taken when the benchmark starts, tells a slow
    hour from a slow change: compare it between runs before comparing their figures.
    """
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for n in range(300_000):
            total += n % 7
        best = min(best, time.process_time() - started)
    return best * 1000


def versions(packages: Iterable[str]) -> str:
    found = []
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


def machine_line(info: dict[str, str], packages: Iterable[str]) -> str:
    """``Machine: 2 CPU × AMD EPYC · Linux … · Python … · <packages>``."""
    skip = ("nproc", "cpu", "python", "kernel", "date", "reference")
    tools = "".join(f" · {info[k]}" for k in info if k not in skip)
    return (f"Machine: {info['nproc']} CPU × {info['cpu']} · Linux {info['kernel']} · Python {info['python']}"
            f"{tools} · {versions(packages)} · reference loop {info['reference']} ms of CPU (lower = a faster hour "
            f"of this shared VM)")


def describe_tree(tree: Path = ROOT) -> str:
    """The commit of ``tree`` (`abc1234`, + uncommitted changes), or its path outside git."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
    if head.returncode != 0:
        return str(tree)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=tree,
                           capture_output=True, text=True).stdout.strip()
    return f"`{head.stdout.strip()}`" + (" + uncommitted changes" if dirty else "")


def write_section(name: str, text: str, doc: Path = DOC) -> None:
    """Replace what is between the section's markers in ``doc``; nothing else there changes."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    content = doc.read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise SystemExit(f"{doc} has no {start} … {end} section")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{text.strip()}\n{end}{tail}", encoding="utf-8")
