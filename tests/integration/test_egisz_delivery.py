"""Replies are never lost and never delivered twice: a SIGKILL mid-delivery, two instances on one PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bridgeproc import BridgeProcess, SandboxProcess, start_bridge, start_sandbox
from tests.integration.egisz_helpers import (
    applied_replies,
    generate,
    intake,
    outbox_stats,
    reply_all,
    search,
    set_faults,
    wait_drained,
)

FAST_RETRIES: dict[str, Any] = {
    "adapters": ["egisz"], "outbox_workers": 2, "outbox_backoff_initial": 0.05, "outbox_backoff_max": 0.5,
    "outbox_max_attempts": 100, "log_level": "WARNING",
}


def bridge_on(tmp: Path, sandbox: SandboxProcess, database_url: str, **extra: Any) -> BridgeProcess:
    config = {**FAST_RETRIES, **sandbox.bridge_config, **extra}
    config.setdefault("upstreams", {}).setdefault("egisz", {}).update({"read_timeout": 0.3, "max_attempts": 2})
    return start_bridge(tmp, config=config, database_url=database_url, sandbox=False)


def sigkill_while_delivering(tmp: Path, database_url: str) -> None:
    sandbox = start_sandbox(tmp / "sandbox")
    try:
        generate(sandbox, 1000, seed=11, cancellation_share=0.0, detachment_share=0.0)
        first = bridge_on(tmp / "first", sandbox, database_url)
        assert intake(first) >= 1000
        ids = [row["Id"] for row in search(first, ApplicationType="CHOICE", Status=21)]
        assert len(ids) >= 1000
        ids = ids[:1000]
        # The upstream fails half the calls, some of them after applying the reply (answer lost).
        set_faults(sandbox, 0.5, ["http_503", "drop", "stall_after", "drop_after"])
        reply_all([first.url], ids)
        time.sleep(1.0)
        pending_at_kill = outbox_stats(first)["counts"].get("pending", 0)
        first.kill()
        assert pending_at_kill > 0, "the kill must land while replies are still queued"
        set_faults(sandbox, 0.0)
        second = bridge_on(tmp / "second", sandbox, database_url)
        try:
            stats = wait_drained(second)
            assert stats["counts"].get("dead", 0) == 0 and stats["counts"].get("delivered", 0) >= 1000
            applied = applied_replies(sandbox)
            assert all(applied[task] == 1 for task in ids), "a reply was applied twice or never"
            assert sum(applied.values()) == 1000
            provided = search(second, ApplicationType="CHOICE", Status=3)
            assert len(provided) == 1000
        finally:
            second.stop()
    finally:
        sandbox.stop()


def test_sigkill_with_1000_queued_replies_on_sqlite(tmp_path: Path) -> None:
    sigkill_while_delivering(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}")


@pytest.mark.postgres
def test_sigkill_with_1000_queued_replies_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    sigkill_while_delivering(tmp_path, pg_url)


@pytest.mark.postgres
def test_two_instances_run_the_daily_job_once_and_deliver_once(tmp_path: Path, pg_url: str) -> None:
    sandbox = start_sandbox(tmp_path / "sandbox")
    every_minute = {"adapter_settings": {"egisz": {"intake_cron": "* * * * *"}}}
    try:
        generate(sandbox, 300, seed=21, cancellation_share=0.0, detachment_share=0.0)
        config = {**sandbox.bridge_config}
        config["adapter_settings"] = {"egisz": {**sandbox.bridge_config["adapter_settings"]["egisz"],
                                                **every_minute["adapter_settings"]["egisz"]}}
        one = bridge_on(tmp_path / "one", SandboxProcess(**{**sandbox.__dict__, "bridge_config": config}), pg_url)
        two = bridge_on(tmp_path / "two", SandboxProcess(**{**sandbox.__dict__, "bridge_config": config}), pg_url)
        try:
            runs = _scheduled_runs(one, minimum=1, seconds=75)
            time.sleep(3)
            runs = _scheduled_runs(one, minimum=1, seconds=1)
            slots: dict[str, int] = {}
            for run in runs:
                slots[run["slot"]] = slots.get(run["slot"], 0) + 1
            assert all(count == 1 for count in slots.values()), slots
            holders = {run["holder"] for run in runs}
            ids = [row["Id"] for row in search(one, ApplicationType="CHOICE", Status=21)][:300]
            assert len(ids) >= 250
            set_faults(sandbox, 0.3, ["http_503", "drop_after"])
            reply_all([one.url, two.url], ids)
            set_faults(sandbox, 0.0)
            wait_drained(one)
            wait_drained(two)
            applied = applied_replies(sandbox)
            assert all(applied[task] == 1 for task in ids)
            assert len(holders) == 1
        finally:
            one.stop()
            two.stop()
    finally:
        sandbox.stop()


def _scheduled_runs(bridge: BridgeProcess, minimum: int, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = [r for r in httpx.get(f"{bridge.url}/admin/jobs/egisz.intake/runs", timeout=10).json()
                if r["trigger"] == "schedule"]
        if len(runs) >= minimum and all(r["state"] != "running" for r in runs):
            return runs
        time.sleep(1)
    return runs
