"""The sandbox ЕГИСЗ «Прикрепление онлайн» for the benchmarks: its own process, and its control API.

``bridge sandbox`` with only the egisz adapter and ``log_level: WARNING`` runs as a process of its
own (``_procs.start_sandbox_from``), so that what it spends is measured apart from the process under
test. The control calls are those of adapters/egisz/sandbox/_app.py (``/_sandbox/egisz/…``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _procs import process_tree, start_sandbox_from  # noqa: E402

__all__ = ["MO", "EgiszSandbox", "cpu_seconds"]

#: The MO the sandbox serves from the start (adapters/egisz/_adapter.py: SANDBOX_MO).
MO = "1.2.643.5.1.13.13.12.2.22.1234"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (all their threads), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


class EgiszSandbox:
    """A running sandbox ЕГИСЗ and a client for its control API."""

    def __init__(self, work: Path) -> None:
        self.process = start_sandbox_from(ROOT, work, ("egisz",))
        #: What a bridge's ``upstreams.egisz`` would say (base_url, …): UpstreamSettings(**this).
        self.upstream_settings: dict[str, Any] = dict(self.process.bridge_config["upstreams"]["egisz"])
        self.url: str = self.upstream_settings["base_url"]
        self._control = httpx.Client(base_url=self.url, timeout=300)

    @property
    def pid(self) -> int:
        return self.process.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(process_tree(self.pid))

    def reset(self) -> None:
        """Forget every task, batch and reply (``POST /_sandbox/egisz/reset``)."""
        answer = self._control.post("/_sandbox/egisz/reset")
        answer.raise_for_status()

    def generate_choices(self, count: int, seed: int, start: datetime, end: datetime) -> dict[str, Any]:
        """``count`` choices of MO (order_type 1, in progress) for ``MO`` in [start, end).

        The same arguments give the same tasks (ids, dates, patients), so after ``reset`` the same
        batch can be answered once more."""
        answer = self._control.post("/_sandbox/egisz/generate", json={
            "mo": [MO], "from": start.isoformat(), "to": end.isoformat(), "count": count, "seed": seed,
            "cancellation_share": 0.0, "detachment_share": 0.0})
        answer.raise_for_status()
        created: dict[str, Any] = answer.json()
        return created

    def replies(self) -> list[dict[str, Any]]:
        """Every reply the sandbox applied: id, task_id, idempotency_key, outcome, status, applied_at."""
        answer = self._control.get("/_sandbox/egisz/replies")
        answer.raise_for_status()
        applied: list[dict[str, Any]] = answer.json()
        return applied

    def task(self, task_id: str) -> dict[str, Any]:
        answer = self._control.get(f"/api/AttachMO/v1/tasks/{task_id}")
        answer.raise_for_status()
        task: dict[str, Any] = answer.json()
        return task

    def log_tail(self, chars: int = 3000) -> str:
        return self.process.logs()[-chars:]

    def stop(self) -> None:
        self._control.close()
        self.process.stop()
