"""The figures bench_outbox.py passes between its modules: ``Plan`` (what every run replays, from the
untimed set-up), ``Figure`` (one timed run: rate, CPU per delivery, load, context switches) and
``Scenario`` (one row of the report, with its runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Plan:
    """What every run replays: the sandbox's batch, and the calls the outbox holds."""

    count: int
    window: tuple[datetime, datetime]
    calls: list[tuple[str, dict[str, Any], str]]   # (task id, reply body, idempotency key), queue order
    intake_s: float
    submit_s: float
    analyzed: bool


@dataclass
class Figure:
    rate: float
    seconds: float
    cpu_ms: dict[str, float]   # per delivery: bench (this process), sandbox, store (PostgreSQL backends)
    load: float
    switches: float            # context switches of this process per delivery


@dataclass
class Scenario:
    key: str
    label: str
    kind: str            # outbox | direct | store
    workers: int
    runs: list[Figure] = field(default_factory=list)
