"""`bridge serve --workers 2`: one socket, two worker processes, one answer on /metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.bridgeproc import ROOT, SandboxProcess, free_port, start_sandbox
from tests.conftest import make_patient
from tests.soapcall import call, envelope

WORKERS = 2


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("sandbox"), adapters=("esia",))
    yield process
    process.stop()


_BRIDGE = ["-m", "bridge"]  # bridge.cli.main, as the `bridge` script
_NOT_THROUGH_MAIN = ["-c", "import sys; sys.argv[0] = 'bridge'; from bridge.cli._main import app; app()"]


def _serve(tmp: Path, sandbox: SandboxProcess, command: list[str] = _BRIDGE, extra: dict[str, Any] | None = None,
           **environ: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    config = {"port": port, "database_url": f"sqlite:///{tmp / 'bridge.db'}", "adapters": ["esia"],
              "pseudonym_key": "integration-test-pseudonym-key-0123456789", "sandbox_dir": str(tmp / "sandbox"),
              **sandbox.bridge_config, **(extra or {})}
    (tmp / "bridge.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_MULTIPROC"))}
    env.update(environ)
    log = tmp / "bridge.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *command, "serve", "--config", str(tmp / "bridge.yaml"), "--workers", str(WORKERS)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log


def _logged(log: Path, event: str) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if f'"{event}"' in line]


def _workers_started(log: Path) -> list[dict[str, Any]]:
    return _logged(log, "bridge.worker")


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, started: int = WORKERS) -> None:
    """Until ``started`` workers have logged their start and /readyz answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if len(_workers_started(log)) >= started:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    pytest.fail(f"not ready:\n{log.read_text()}")


def _live_workers(supervisor: int) -> list[int]:
    return [int(pid) for pid in subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True,
                                               text=True).stdout.split()]


def _restart_all(process: subprocess.Popen[bytes], url: str, log: Path, started: int) -> None:
    """SIGHUP, then until every worker has been replaced and ``started`` workers have logged their start."""
    before = set(_live_workers(process.pid))
    os.kill(process.pid, signal.SIGHUP)  # uvicorn replaces every worker, one after the other
    deadline = time.monotonic() + 60
    while set(_live_workers(process.pid)) & before or len(_live_workers(process.pid)) < WORKERS:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    _wait_ready(process, url, log, started=started)


def _background_workers(process: subprocess.Popen[bytes], log: Path) -> set[int]:
    """The live workers running background work: one got the lock as it started, or took it over later."""
    running = {worker["pid"] for worker in _workers_started(log) if worker["background"]}
    running |= {taken["pid"] for taken in _logged(log, "bridge.background_taken")}
    return running & set(_live_workers(process.pid))


def _one_background_worker(process: subprocess.Popen[bytes], log: Path) -> int:
    """The one live worker running background work, once there is one (a waiting worker polls the lock).
    To be asked once no replaced or dead worker is alive (or unreaped): it may still hold the lock."""
    deadline = time.monotonic() + 10
    while len(running := _background_workers(process, log)) != 1:
        assert len(running) < 2, f"background work in workers {running}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, \
            f"no live worker runs background work (live: {_live_workers(process.pid)}):\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    return running.pop()


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _assert_forked(supervisor: int, workers: list[int]) -> None:
    """Forked from the supervisor, not spawned: a spawned worker runs `python -c ...spawn_main...`."""
    assert workers and all(_cmdline(pid) == _cmdline(supervisor) for pid in workers), \
        [_cmdline(pid) for pid in workers]


def _check_patients(url: str, calls: int) -> None:
    for _ in range(calls):  # a new connection each time: the kernel spreads them over the workers
        answer = call(f"{url}/soap/esia-accounts", "CheckPatient", envelope("CheckPatient", make_patient()),
                      soap_action='"CheckPatient"')
        assert answer.status == 200, answer.body


_CHECKED = re.compile(r'^bridge_soap_requests_total\{operation="CheckPatient",outcome="ok",'
                      r'service="esia-accounts"\} (\S+)$', re.M)


def test_workers_share_the_socket_the_metrics_and_one_set_of_background_work(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    process, url, log = _serve(tmp_path, sandbox)
    try:
        _wait_ready(process, url, log)
        started = _workers_started(log)
        assert len({worker["pid"] for worker in started}) == WORKERS
        assert [worker["background"] for worker in started].count(True) == 1, started
        _assert_forked(process.pid, [worker["pid"] for worker in started])
        [listening] = _logged(log, "bridge.listening")
        assert listening["start"] == "fork"
        run_dir = Path(listening["run_dir"])
        assert run_dir.is_dir()

        calls = 20
        _check_patients(url, calls)
        for _ in range(6):  # whichever worker answers the scrape, it answers for both
            scraped = httpx.get(f"{url}/metrics", timeout=5).text
            assert [float(v) for v in _CHECKED.findall(scraped)] == [calls], scraped[:3000]
            assert "bridge_outbox_messages{" in scraped  # computed from the store, once
            assert len(re.findall(r"^# TYPE bridge_outbox_messages gauge$", scraped, re.M)) == 1
        wsdl = httpx.get(f"{url}/soap/esia-accounts?wsdl", timeout=5)
        assert wsdl.status_code == 200 and b"</wsdl:definitions>" in wsdl.content
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-3000:]
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert children == []
    assert not run_dir.exists()  # made for this run


def test_replaced_workers_are_forked_too_and_their_counts_stay(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A dead worker's replacement and SIGHUP's are forked like the first ones; the background work
    passes to one live worker when the worker that ran it dies (the kernel drops its lock: the other
    worker, waiting for it, or the replacement as it starts takes it); what the gone workers counted
    still counts.
    A given PROMETHEUS_MULTIPROC_DIR is emptied of earlier counts, used, and kept."""
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_999999.db").write_bytes(b"an earlier run's")
    process, url, log = _serve(tmp_path, sandbox, PROMETHEUS_MULTIPROC_DIR=str(given))
    try:
        _wait_ready(process, url, log)
        assert not (given / "counter_999999.db").exists()
        _check_patients(url, 4)
        [background] = [worker["pid"] for worker in _workers_started(log) if worker["background"]]
        os.kill(background, signal.SIGKILL)
        _wait_ready(process, url, log, started=WORKERS + 1)
        replacement = _workers_started(log)[-1]
        _assert_forked(process.pid, [replacement["pid"]])
        assert _one_background_worker(process, log) != background
        _check_patients(url, 4)

        _restart_all(process, url, log, started=2 * WORKERS + 1)
        _assert_forked(process.pid, _live_workers(process.pid))
        _one_background_worker(process, log)
        _check_patients(url, 4)
        scraped = httpx.get(f"{url}/metrics", timeout=5).text
        assert [float(v) for v in _CHECKED.findall(scraped)] == [12], scraped[:3000]
        assert not list(given.glob(f"*_{process.pid}.db"))  # the supervisor counts nothing itself
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert given.is_dir()


def _clock_at(clock: Path, moment: datetime) -> None:
    """The bridge's test clock shows ``moment`` now (its file holds an offset from the system time)."""
    clock.write_text(f"{(moment - datetime.now(UTC)).total_seconds():.3f}", encoding="ascii")


def _scheduled_purges(database: Path, count: int) -> list[tuple[str, int]]:
    """(slot, pid of the worker that ran it) of the scheduled audit.purge runs, once there are ``count``."""
    deadline = time.monotonic() + 20
    while True:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            rows = connection.execute("SELECT slot, holder FROM job_run WHERE name = 'audit.purge' "
                                      "AND \"trigger\" = 'schedule' ORDER BY started_at").fetchall()
        finally:
            connection.close()
        if len(rows) >= count or time.monotonic() > deadline:
            return [(str(slot), int(holder.rsplit(":", 2)[1])) for slot, holder in rows]  # holder: host:pid:tag
        time.sleep(0.2)


def test_after_each_sighup_exactly_one_live_worker_runs_the_background_work(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """SIGHUP starts each replacement while the worker it replaces still runs, so the replacement of
    the worker holding the background lock cannot get it; a worker that did not get it waits for it
    and takes the background work over when it is free. Two SIGHUPs: whichever worker held the lock,
    one of them restarts its holder last, after which no new worker comes. The scheduler shows the
    work goes on, in that one worker: the test clock passes the daily audit.purge slot after each."""
    clock = tmp_path / "clock"
    first_slot = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC) \
        + timedelta(hours=3, minutes=17)  # audit.purge: "17 3 * * *"
    _clock_at(clock, first_slot - timedelta(hours=1))
    process, url, log = _serve(tmp_path, sandbox, extra={"test_clock_file": str(clock)})
    try:
        _wait_ready(process, url, log)
        _one_background_worker(process, log)
        for restart in range(2):
            slot = first_slot + timedelta(days=restart)
            _clock_at(clock, slot - timedelta(hours=1))  # the replacements' next audit.purge: this slot
            _restart_all(process, url, log, started=WORKERS * (restart + 2))
            background = _one_background_worker(process, log)
            _clock_at(clock, slot + timedelta(seconds=2))
            runs = _scheduled_purges(tmp_path / "bridge.db", restart + 1)
            assert len(runs) == restart + 1, (runs, log.read_text()[-3000:])
            ran_at, ran_by = runs[-1]
            assert ran_at.startswith(slot.strftime("%Y-%m-%d %H:%M:%S")), runs
            assert ran_by == background, (runs, background)
            assert _background_workers(process, log) == {background}
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-3000:]


def test_workers_refuse_to_serve_the_sandbox_too(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "serve", "--sandbox", "--workers", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")})
    assert done.returncode != 0
    assert "bridge sandbox --write-config" in done.stdout + done.stderr


def test_run_not_through_the_bridge_command_the_workers_are_spawned_and_count_together(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """prometheus_client imported before PROMETHEUS_MULTIPROC_DIR was set: forked workers could not
    count for /metrics, so the supervisor spawns them (each imports the bridge again), as before."""
    process, url, log = _serve(tmp_path, sandbox, _NOT_THROUGH_MAIN)
    try:
        _wait_ready(process, url, log)
        [listening] = _logged(log, "bridge.listening")
        assert listening["start"] == "spawn"
        assert _logged(log, "bridge.workers_spawned")
        _check_patients(url, 6)
        for _ in range(3):
            scraped = httpx.get(f"{url}/metrics", timeout=5).text
            assert [float(v) for v in _CHECKED.findall(scraped)] == [6], scraped[:3000]
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert not Path(listening["run_dir"]).exists()
