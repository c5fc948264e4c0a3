"""The report of bench_outbox.py: the Markdown section for docs/performance.md (the machine, what was
measured, one table row per scenario: rate, share of the direct ceiling, CPU per delivery, context
switches, load, the target) and the verdict line that explains the headline row by its CPU per delivery."""

from __future__ import annotations

import argparse
import os

from _outbox_types import Plan, Scenario
from _report import machine_line, median

PACKAGES = ("sqlalchemy", "psycopg", "httpx", "httpcore", "uvicorn", "uvloop", "fastapi")
TARGET = 1000  # deliveries per second, PostgreSQL, 2 cores, load generator and sandbox on the machine
CORES = os.cpu_count() or 1


def _spread(values: list[float]) -> str:
    return f"{min(values):,.0f}–{max(values):,.0f}"


def render(args: argparse.Namespace, found: list[Scenario], plan: Plan, info: dict[str, str], command: str,
           tree: str, store_name: str, profile_lines: list[str]) -> str:
    rates = {s.key: median(f.rate for f in s.runs) for s in found}
    head = args.workers[0]
    in_process = store_name.startswith("SQLite")
    out = [
        f"Run: {info['date']} · `{command}` · tree {tree}",
        "",
        f"{machine_line(info, PACKAGES)}. The sandbox ЕГИСЗ is a process of its own (`bridge sandbox`, egisz, "
        f"`log_level: WARNING`) answering at once on loopback; this script (the outbox workers or the direct "
        f"threads), the sandbox and {store_name} share the {CORES} cores with whatever else runs then: "
        "**load** = 1-minute load average at the start of the runs (median).",
        "",
        f"**Measured:** deliveries per second of {plan.count:,} ЕГИСЗ replies drained from {store_name.split()[0]} "
        f"by `Outbox.start(workers={head}, batch={args.batch})` through the production handler (`Replies.deliver` "
        "→ `POST …/fhir/$UpdateTaskStatus` with an Idempotency-Key through `Upstream`), each "
        "acknowledgement committed with the application's new status; **baseline**: the same calls (same "
        "tasks, bodies, keys) from as many threads straight through `Upstream`, no store, no outbox: the "
        "ceiling the sandbox and the HTTP path allow.",
        "",
        f"Set-up, not timed: the real intake of {plan.count:,} applications ({plan.intake_s:.1f} s), one reply "
        f"each queued by `Replies.submit` ({plan.count / plan.submit_s:,.0f}/s from one thread), "
        + ("then `ANALYZE`, as autovacuum would have done on tables in service (`--no-analyze` to skip)"
           if plan.analyzed else "tables **not** analysed after the burst") + ". "
        f"Median of {args.repeat} run{'s' if args.repeat != 1 else ''} (min–max), scenarios interleaved run by run, "
        "each on a fresh copy of "
        "the store and a sandbox reset to the same open tasks; every run checked (all delivered and marked, "
        "the applications updated, the sandbox applied each reply exactly once). CPU = CPU time per delivery "
        "(/proc/<pid>/stat)" + (" (SQLite runs inside this process)" if in_process else "")
        + f"; **{CORES} cores ÷ CPU** = the most these processes could deliver if the CPU were theirs alone.",
        "",
        "| scenario | deliveries/s | min–max | of the ceiling | CPU ms/delivery: this process "
        f"| sandbox | {store_name} | total | {CORES} cores ÷ CPU | context switches/delivery (this process) | load "
        f"| target ≥ {TARGET:,}/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in found:
        cpu = {name: median(f.cpu_ms[name] for f in s.runs) for name in ("bench", "sandbox", "store")}
        total = sum(cpu.values())
        ceiling = rates.get(f"direct:{s.workers}")
        share = f"{100 * rates[s.key] / ceiling:.0f}%" if ceiling and s.kind in ("outbox", "single") else ""
        target = ("" if s.kind != "outbox" else "**met**" if rates[s.key] >= TARGET else "**missed**")
        store_cpu = "—" if in_process else f"{cpu['store']:.2f}"
        out.append(
            f"| {s.label} | {rates[s.key]:,.0f} | {_spread([f.rate for f in s.runs])} | {share} | "
            f"{cpu['bench']:.2f} | {cpu['sandbox']:.2f} | {store_cpu} | "
            f"{total:.2f} | {1000 * CORES / total:,.0f}/s | {median(f.switches for f in s.runs):.1f} | "
            f"{median(f.load for f in s.runs):.1f} | {target} |")
    out += ["", verdict_line(args, found, rates, store_name)]
    if profile_lines:
        out += ["", "Profile of one more outbox drain (`--profile`):", "", "```", *profile_lines, "```"]
    return "\n".join(out)


def verdict_line(args: argparse.Namespace, found: list[Scenario], rates: dict[str, float], store_name: str) -> str:
    """The headline row against the target, and (when missed) the measured reason: CPU per delivery."""
    head = args.workers[0]
    rate, ceiling = rates[f"outbox:{head}"], rates[f"direct:{head}"]
    line = (f"**Verdict** (outbox, {head} workers, {store_name}): {rate:,.0f} deliveries/s, "
            f"{100 * rate / ceiling:.0f}% of the direct ceiling ({ceiling:,.0f}/s); target ≥ {TARGET:,}/s "
            + ("**met**." if rate >= TARGET else "**missed**."))
    best = max((s for s in found if s.kind == "outbox"), key=lambda s: rates[s.key])
    if best.workers != head:
        line += f" Best outbox row: {best.workers} workers, {rates[best.key]:,.0f}/s."
    single = rates.get(f"single:{head}")
    if single:
        line += (f" Writing the outcomes a group at a time: {rate:,.0f}/s against {single:,.0f}/s with each "
                 f"in a transaction of its own (×{rate / single:.2f}, same run).")
    cpu = {s.key: {name: median(f.cpu_ms[name] for f in s.runs) for name in ("bench", "sandbox", "store")}
           for s in found}
    outbox = cpu[f"outbox:{head}"]
    total = sum(outbox.values())
    store = ("" if store_name.startswith("SQLite") else f", {outbox['store']:.2f} ms in {store_name.split()[0]}")
    line += (f" CPU per delivery: {outbox['bench']:.2f} ms in the process running the outbox, "
             f"{outbox['sandbox']:.2f} ms in the sandbox{store}: "
             f"{total:.2f} ms in all, so {CORES} cores allow at most {1000 * CORES / total:,.0f}/s with nothing else "
             f"running, and one Python process (the GIL; a bridge runs its outbox in one process) at most "
             f"{1000 / outbox['bench']:,.0f}/s; during the drain that process was busy "
             f"{outbox['bench'] * rate / 1000:.2f} of a core.")
    if f"store:{head}" in cpu and f"bare:{head}" in cpu:
        http, bare = cpu[f"direct:{head}"]["bench"], cpu[f"bare:{head}"]["bench"]
        acknowledged = cpu[f"store:{head}"]["bench"] - bare
        rest = outbox["bench"] - http - acknowledged - bare
        line += (f" Of the {outbox['bench']:.2f} ms in-process: ~{http:.2f} ms the HTTP call (direct's figure), "
                 f"~{acknowledged:.2f} ms the application's update in `on_commit` (store only − outbox alone), "
                 f"~{bare:.2f} ms the outbox's own claim and mark (outbox alone), and ~{rest:.2f} ms more than "
                 "these parts add up to (with HTTP and the store mixed a delivery waits more often, see the "
                 "context switches: each wait hands the GIL over and comes back to colder caches).")
    return line
