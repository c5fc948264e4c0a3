"""Start-up: from ``bridge serve`` to /readyz answering, and the idle memory of the process tree.

    .venv/bin/python bench/bench_start.py [--workers 1,2,4] [--repeat 4] [--baseline REF] [--write]

For each worker count, this tree (and, with ``--baseline``, the tree of commit REF from ``git
archive``) is started ``--repeat`` times against one sandbox ЕСИА process, before and after
interleaved start by start. Ready = seconds from the process's start to the first /readyz 200
(``bench/_procs.start_bridge_from``). Memory, once every worker is up and idle: RSS of the largest
process and PSS of the whole tree (``/proc/<pid>/smaps_rollup``: shared pages counted once, which
is what forked workers share), and the private memory (USS) of the largest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import Bridge, SandboxProcess, export_tree, start_bridge_from, start_sandbox_from
from _report import DOC, ROOT, describe_tree, machine, machine_line, median, write_section

SECTION = "start"
TARGET_READY_S = 3.0
TARGET_WORKER_MB = 200


@dataclass
class Starts:
    ready: list[float] = field(default_factory=list)
    rss_max: list[float] = field(default_factory=list)
    pss_tree: list[float] = field(default_factory=list)
    uss_max: list[float] = field(default_factory=list)


def _rollup(pid: int) -> dict[str, float]:
    """PSS, private (USS) and RSS of one process in MB, from smaps_rollup."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            fields[parts[0][:-1]] = int(parts[1]) / 1024
    return {"pss": fields.get("Pss", 0.0), "rss": fields.get("Rss", 0.0),
            "uss": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0)}


def measure(bridge: Bridge, into: Starts) -> None:
    rollups = [_rollup(pid) for pid in bridge.pids()]
    into.ready.append(bridge.ready_s)
    into.rss_max.append(max(r["rss"] for r in rollups))
    into.pss_tree.append(sum(r["pss"] for r in rollups))
    into.uss_max.append(max(r["uss"] for r in rollups))


@contextmanager
def sandbox_process(work: Path) -> Iterator[SandboxProcess]:
    sandbox = start_sandbox_from(ROOT, work / "sandbox", ("esia",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def run(args: argparse.Namespace, work: Path) -> dict[tuple[str, int], Starts]:
    trees = {"after": ROOT}
    if args.baseline:
        trees = {"before": export_tree(args.baseline, work / "baseline"), **trees}
    results: dict[tuple[str, int], Starts] = {}
    with sandbox_process(work) as sandbox:
        for workers in args.workers:
            for attempt in range(args.repeat):
                for label, tree in trees.items():
                    bridge = start_bridge_from(tree, work / f"{label}-{workers}-{attempt}", label, sandbox,
                                               workers=workers)
                    try:
                        measure(bridge, results.setdefault((label, workers), Starts()))
                    finally:
                        bridge.stop()
                    time.sleep(0.5)
                print(f"workers {workers}: start {attempt + 1}/{args.repeat} done", flush=True)
    return results


def report(args: argparse.Namespace, results: dict[tuple[str, int], Starts]) -> str:
    info = machine()
    command = "python bench/bench_start.py " + " ".join(sys.argv[1:])
    out = [
        f"Run: {info['date']} · `{command.strip()}` · tree {describe_tree()}",
        "",
        machine_line(info, ["uvicorn", "prometheus-client"]),
        "",
        f"Median of {args.repeat} starts each (min–max), "
        + ("before and after interleaved start by start; " if args.baseline else "")
        + "memory once every worker is up and idle.",
        "",
        "| tree | workers | ready (s) | RSS largest process MB | PSS whole tree MB | private (USS) largest MB "
        f"| target: ready < {TARGET_READY_S:.0f} s, < {TARGET_WORKER_MB} MB per worker |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for (label, workers), starts in sorted(results.items(), key=lambda item: (item[0][1], item[0][0] != "before")):
        ready = median(starts.ready)
        met = ready < TARGET_READY_S and median(starts.rss_max) < TARGET_WORKER_MB
        tree = f"before (`{args.baseline}`)" if label == "before" else "this tree"
        out.append(
            f"| {tree} | {workers} | **{ready:.2f}** ({min(starts.ready):.2f}–{max(starts.ready):.2f}) | "
            f"{median(starts.rss_max):.0f} | {median(starts.pss_tree):.0f} | {median(starts.uss_max):.0f} | "
            f"{'met' if met else '**missed**'} |")
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", type=lambda v: [int(p) for p in v.split(",") if p.strip()],
                        help="worker counts to start (default 1,2,4)")
    parser.add_argument("--repeat", type=int, default=4, help="starts per tree and worker count")
    parser.add_argument("--baseline", default=None, help="a commit to start beside this tree (git archive)")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of --doc")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page to write")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        results = run(args, Path(tmp))
    text = report(args, results)
    print(text)
    if args.write:
        write_section(SECTION, text, args.doc)
        print(f"wrote the {SECTION} section of {args.doc}")


if __name__ == "__main__":
    main()
