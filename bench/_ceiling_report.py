"""Bridge ÷ ceiling for bench_check_patient.py: the ratio line and the bridge's deliberate extras."""

from __future__ import annotations

import argparse
import re
from typing import Any

from _load import WrkResult
from _report import median


def ceiling_line(args: argparse.Namespace, run: dict[str, Any], info: dict[str, str]) -> str:
    """Bridge ÷ ceiling, run by run (the runs are interleaved, so a busy machine slows both alike)."""
    sat: dict[str, list[WrkResult]] = run["sat"]
    bridge, ceiling = sat[f"bridged:{run['after']}"], sat["bridged:ceiling"]
    rps = [b.rps / c.rps for b, c in zip(bridge, ceiling, strict=True)]
    cpu = [b.cpu_ms_per_req["bridge"] / c.cpu_ms_per_req["bridge"] for b, c in zip(bridge, ceiling, strict=True)]
    line = (
        f"**Bridge ÷ ceiling** (after ×{args.workers} against the ceiling with as many workers, run by run, "
        f"median (min–max)): throughput **{median(rps):.2f}** ({min(rps):.2f}–{max(rps):.2f}), i.e. the bridge "
        f"serves {100 * median(rps):.0f}% of what the least possible work allows; bridge CPU per CheckPatient "
        f"**{median(cpu):.2f}×** the ceiling's ({min(cpu):.2f}–{max(cpu):.2f}; "
        f"{median([b.cpu_ms_per_req['bridge'] for b in bridge]):.2f} against "
        f"{median([c.cpu_ms_per_req['bridge'] for c in ceiling]):.2f} ms). Reference loop {info['reference']} ms, "
        f"load {median([r.load for r in bridge + ceiling]):.1f}."
    )
    shares = profile_shares(run.get("profile") or [])
    if shares:
        line += (" Of the bridge's own CPU, what it adds on purpose and the ceiling does not (from the profile "
                 f"below, GIL-holder samples): {shares}.")
    return line


def profile_shares(lines: list[str]) -> str:
    """The areas of the profile summary that are the bridge's deliberate extras."""
    wanted = {"metrics": "metrics", "logging": "logging", "store (outbox polling, journal)":
              "store (audit journal, outbox polling)"}
    found = []
    for line in lines:
        match = re.match(r"^\s+([\d.]+)%\s+(.+)$", line)
        if match and match.group(2) in wanted:
            found.append(f"{wanted[match.group(2)]} {match.group(1)}%")
        if line.startswith("top self time"):
            break
    return ", ".join(found)


def signature_share(lines: list[str]) -> float | None:
    """Percent of the profile's samples in the signature areas (bench/_profile.py's ``signatures:`` areas)."""
    total, seen = 0.0, False
    for line in lines:
        if line.startswith("top self time"):
            break
        match = re.match(r"^\s+([\d.]+)%\s+(.+)$", line)
        if match:
            seen = True
            if match.group(2).startswith("signatures:"):
                total += float(match.group(1))
    return total if seen else None
