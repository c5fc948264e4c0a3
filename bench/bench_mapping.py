"""Records per second per core through the YAML mapping engine, against hand-written functions.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_mapping.py [--repeat 5] [--records N] [--write [--doc PATH]]

Measured, on one thread, in every direction of each mapping:

- ``esia.person`` (mappings/esia/person.yaml): the ЕСИА person → the МИС ``EsiaPerson``
  (``to_mis`` is what the ЕСИА login calls);
- ``egisz.application`` (mappings/egisz/application.yaml): the ЕГИСЗ task → the attachment card
  (``to_mis`` is what the intake calls);
- ``esia.account`` (mappings/esia/account.yaml): the МИС patient ↔ the ЕСИА account (CheckPatient
  and the other patient operations call both).

The record is the mapping's own first example (``examples[0]``), the same dict converted again and
again. The **baseline** is the ceiling: a plain Python function per mapping and direction, written by
hand with the same rules (absent and empty values skipped, required values enforced, the same format
checks and SNILS check digits, the same value tables). Before anything is timed, each is checked to
give exactly the engine's output for the record, and for every variant of it with one value removed
or emptied (and to fail where the engine fails).

Engine and baseline runs are interleaved run by run (alternating which goes first), ``--repeat``
times; every figure is a median with min–max. "Per core" is records per second of the process's CPU
time (``time.process_time``); the wall-clock rate and the share of wall time the thread spent on a
CPU (below ~90% = the process was starved by other work) are reported beside it. Each run converts
``--records`` records, or by default as many as take ≈ 0.5 s of CPU for that function.
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _mapping_baselines import (  # noqa: E402
    account_to_mis,
    account_to_upstream,
    application_to_mis,
    application_to_upstream,
    person_to_mis,
    person_to_upstream,
)
from _report import DOC, describe_tree, machine, machine_line, median, write_section  # noqa: E402

from bridge.mapping import TO_MIS, TO_UPSTREAM, Mapping, MappingValueError, load_mapping  # noqa: E402

SECTION = "mapping"
#: The engine converts with the standard library only; PyYAML reads the mapping files.
PACKAGES = ("pyyaml",)
TARGET = 100_000
RUN_SECONDS = 0.5          # --records 0: records per run chosen so that one run takes about this much CPU
MIN_RUN_SECONDS = 0.3
ON_CPU_WARN = 0.9

Record = dict[str, Any]
Convert = Callable[[Record], Record]


# --- the cases --------------------------------------------------------------------------------


@dataclass
class Case:
    label: str                 # what the issue calls it
    file: str                  # under mappings/
    direction: str
    hand: Convert
    used_by: str               # the bridge code that calls this direction ("" = none)
    mapping: Mapping = field(init=False)
    record: Record = field(init=False)
    fields: int = field(init=False)       # fields of the mapping that apply in this direction
    present: int = field(init=False)      # of those, with a value in the record
    records: dict[str, int] = field(default_factory=dict)     # records per run, by "engine"/"hand"
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"engine": [], "hand": []})

    def load(self) -> None:
        self.mapping = load_mapping(ROOT / "mappings" / self.file)
        example = self.mapping.examples[0]
        self.record = copy.deepcopy(dict(example.mis if self.direction == TO_UPSTREAM else example.upstream))
        applying = [fm for fm in self.mapping.fields if fm.applies_to(self.direction)]
        source = [fm.mis if self.direction == TO_UPSTREAM else fm.upstream for fm in applying]
        self.fields = len(applying)
        self.present = sum(_get(self.record, path) not in (None, "") for path in source)

    @property
    def engine(self) -> Convert:
        return self.mapping.to_upstream if self.direction == TO_UPSTREAM else self.mapping.to_mis

    def convert(self, which: str) -> Convert:
        return self.engine if which == "engine" else self.hand


CASES = (
    Case("ЕСИА person", "esia/person.yaml", TO_MIS, person_to_mis, "ЕСИА login (CompleteEsiaLogin)"),
    Case("ЕСИА person", "esia/person.yaml", TO_UPSTREAM, person_to_upstream, ""),
    Case("attachment card", "egisz/application.yaml", TO_MIS, application_to_mis, "ЕГИСЗ intake"),
    Case("attachment card", "egisz/application.yaml", TO_UPSTREAM, application_to_upstream, ""),
    Case("ЕСИА account", "esia/account.yaml", TO_UPSTREAM, account_to_upstream, "CheckPatient and the patient calls"),
    Case("ЕСИА account", "esia/account.yaml", TO_MIS, account_to_mis, "CheckPatient (comparison)"),
)


# --- the baseline is honest: same output, same failures ----------------------------------------


def _get(record: Record, path: str) -> Any:
    node: Any = record
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _leaves(record: Record, prefix: str = "") -> Iterator[str]:
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _variants(record: Record) -> Iterator[tuple[str, Record]]:
    """The record, then the record with each value removed, then with each value "" (one at a time)."""
    yield "as is", record
    for path in _leaves(record):
        *parents, last = path.split(".")
        for what in ("removed", "emptied"):
            variant = copy.deepcopy(record)
            node = variant
            for key in parents:
                node = node[key]
            if what == "removed":
                del node[last]
            else:
                node[last] = ""
            yield f"{path} {what}", variant


def _outcome(convert: Convert, record: Record) -> Record | str:
    try:
        return convert(record)
    except (MappingValueError, ValueError, KeyError, TypeError) as exc:
        return f"error ({type(exc).__name__})"


def check_baseline(case: Case) -> None:
    """Abort unless the hand-written function gives exactly the engine's output (or fails where it fails)."""
    example = case.mapping.examples[0]
    expected = dict(example.upstream if case.direction == TO_UPSTREAM else example.mis)
    if case.engine(case.record) != expected:
        raise SystemExit(f"{case.mapping.name} {case.direction}: the engine does not reproduce the example")
    for what, variant in _variants(case.record):
        engine, hand = _outcome(case.engine, variant), _outcome(case.hand, variant)
        if isinstance(engine, str) != isinstance(hand, str) or (isinstance(engine, dict) and engine != hand):
            raise SystemExit(f"{case.mapping.name} {case.direction}, record {what}: the hand-written function "
                             f"gives {hand!r}, the engine {engine!r}")


# --- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    records: int
    wall: float
    cpu: float

    @property
    def per_core(self) -> float:
        return self.records / self.cpu

    @property
    def per_wall(self) -> float:
        return self.records / self.wall

    @property
    def on_cpu(self) -> float:
        return self.cpu / self.wall


def timed(convert: Convert, record: Record, records: int) -> Run:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(records):
        convert(record)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Run(records, wall, cpu)


def calibrate(convert: Convert, record: Record) -> int:
    """Records per run so that one run takes about RUN_SECONDS of CPU (a multiple of 10,000); also a warm-up.

    The faster of two short runs is used, so a run takes at least about that long in wall time.
    """
    n = 1_000
    while timed(convert, record, n).wall < 0.05:
        n *= 2
    rate = max(timed(convert, record, n).per_core for _ in range(2))
    return max(10_000, math.ceil(RUN_SECONDS * rate / 10_000) * 10_000)


def measure(args: argparse.Namespace) -> None:
    for case in CASES:
        for which in ("engine", "hand"):
            convert = case.convert(which)
            case.records[which] = args.records or calibrate(convert, case.record)
            if args.records:
                timed(convert, case.record, min(args.records, 10_000))      # warm-up
    for repeat in range(args.repeat):
        for case in CASES:
            for which in ("engine", "hand") if repeat % 2 == 0 else ("hand", "engine"):
                case.runs[which].append(timed(case.convert(which), case.record, case.records[which]))
        print(f"run {repeat + 1}/{args.repeat} done", file=sys.stderr)


# --- report -----------------------------------------------------------------------------------


def _spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def ratios(case: Case) -> list[float]:
    """Engine ÷ hand-written of each run (the two measured back to back)."""
    return [e.per_core / h.per_core for e, h in zip(case.runs["engine"], case.runs["hand"], strict=True)]


def render(args: argparse.Namespace, info: dict[str, str], command: str, tree: str, load: float) -> str:
    counts = sorted({n for case in CASES for n in case.records.values()})
    per_run = (f"{args.records:,} records per run" if args.records else
               f"{counts[0]:,}–{counts[-1]:,} records per run (as many as take ≈ {RUN_SECONDS:g} s of CPU "
               "for that function)")
    shortest = min(run.wall for case in CASES for runs in case.runs.values() for run in runs)
    out = [
        f"Run: {info['date']} · `{command}` · tree {tree}",
        "",
        f"{machine_line(info, PACKAGES)}. The engine converts with the standard library only (PyYAML "
        f"reads the files). Load (1-minute average) at the start: {load:.1f}.",
        "",
        "**Measured**: records converted per second by the mapping engine (`Mapping.to_mis` / `to_upstream`, "
        "as the adapters call them), on one thread, converting the mapping's own example record "
        "(`examples[0]`) again and again. **Baseline** (the ceiling): a hand-written plain Python function per "
        "mapping and direction with the same rules (empty values skipped, required values, the same format and "
        "check-digit checks, the same tables), checked before timing to give exactly the engine's output for "
        "the record and for every variant of it with one value removed or emptied. "
        f"Median of {args.repeat} runs, engine and baseline interleaved run by run, {per_run}; shortest run "
        f"{shortest:.2f} s. **Per core** = records per second of the process's CPU time (`time.process_time`); "
        "\"wall\" is per second of elapsed time, and \"on CPU\" the lowest share of a run's elapsed time the "
        "thread was running (below ~90%: other work on the machine took the core).",
        "",
        "| mapping | direction | used by | fields (with a value) | engine rec/s per core, median (min–max) "
        "| engine rec/s wall | hand-written rec/s per core, median (min–max) | engine ÷ hand-written, run by run "
        f"| on CPU | target ≥ {TARGET:,}/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in CASES:
        engine = [r.per_core for r in case.runs["engine"]]
        hand = [r.per_core for r in case.runs["hand"]]
        on_cpu = min(r.on_cpu for runs in case.runs.values() for r in runs)
        verdict = "met" if median(engine) >= TARGET else "**not met**"
        out.append(
            f"| {case.label} `{case.mapping.name}` | {case.direction} | {case.used_by or '—'} | "
            f"{case.fields} ({case.present}) | **{_spread(engine)}** | "
            f"{median([r.per_wall for r in case.runs['engine']]):,.0f} | {_spread(hand)} | "
            f"{_spread(ratios(case), '.2f')} | {on_cpu:.0%}{' ⚠' if on_cpu < ON_CPU_WARN else ''} | {verdict} |"
        )
    out += ["", f"**Target** — mapping at least {TARGET:,} records per second per core:", ""]
    for label in dict.fromkeys(case.label for case in CASES):
        cases = [case for case in CASES if case.label == label]
        figures = "; ".join(
            f"{case.direction} {median([r.per_core for r in case.runs['engine']]):,.0f}/s" for case in cases
        )
        missed = [case for case in cases if median([r.per_core for r in case.runs["engine"]]) < TARGET]
        if not missed:
            verdict = "**met**"
        else:
            reasons = []
            for case in missed:
                hand = median([r.per_core for r in case.runs["hand"]])
                why = ("even the hand-written function reaches only" if hand < TARGET
                       else f"the engine is at {median(ratios(case)):.2f}× of the hand-written")
                reasons.append(f"{case.direction}: {why} {hand:,.0f}/s")
            verdict = "**not met** (" + "; ".join(reasons) + ")"
        out.append(f"- {label} (`{cases[0].mapping.name}`): {figures} — {verdict}.")
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--records", type=int, default=0,
                        help=f"records per run (default: as many as take ≈ {RUN_SECONDS:g} s of CPU per function)")
    parser.add_argument("--write", action="store_true", help="replace the bench:mapping section of --doc")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the document --write writes (default {DOC})")
    args = parser.parse_args()
    if args.repeat < 1 or args.records < 0:
        parser.error("--repeat must be ≥ 1 and --records ≥ 0")
    return args


def main() -> None:
    args = parse_args()
    command = " ".join(["python bench/bench_mapping.py", shlex.join(sys.argv[1:])]).strip()
    info = machine()
    tree = describe_tree()
    load = os.getloadavg()[0]
    for case in CASES:
        case.load()
        check_baseline(case)
    measure(args)
    text = render(args, info, command, tree, load)
    shortest = min(run.wall for case in CASES for runs in case.runs.values() for run in runs)
    if shortest < MIN_RUN_SECONDS:
        print(f"warning: the shortest run took {shortest:.2f} s (< {MIN_RUN_SECONDS} s): raise --records",
              file=sys.stderr)
    print(text)
    if args.write:
        write_section(SECTION, text, args.doc)
        print(f"\nwrote the {SECTION} section of {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
