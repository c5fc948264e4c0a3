"""`bridge serve --workers N`: a worker without the background lock waits for it and takes the work over.

The lock is an ``flock`` on a file, held per open file description: the other holder here is another
process (a small ``python -c``), which gives the lock back as it exits, as a worker does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bridge.app import create_app
from bridge.cli import _workers as workers
from bridge.config import Settings

with warnings.catch_warnings():  # starlette's TestClient warns that it would rather have httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

_HOLD = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()")
_TAKES_OVER_WITHIN = workers._LOCK_POLL_SECONDS + 1.5


@pytest.fixture(autouse=True)
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The descriptors this test's gates keep for 'the worker's life': closed after the test."""
    fds: list[int] = []
    monkeypatch.setattr(workers, "_held", fds)
    yield fds
    for fd in fds:
        os.close(fd)


@contextmanager
def another_worker_holding(run_dir: Path) -> Iterator[Callable[[], None]]:
    """Another process holds the background lock until the ``release`` given is called (it exits)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(run_dir / workers._BACKGROUND_LOCK)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    stdin = holder.stdin

    def release() -> None:
        stdin.close()
        holder.wait(10)

    try:
        assert holder.stdout.readline().strip() == "held"
        yield release
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        holder.stdout.close()
        stdin.close()


def lock_is_free(run_dir: Path) -> bool:
    """Nobody holds the lock (taken for a moment through a description of its own, then given back)."""
    fd = os.open(run_dir / workers._BACKGROUND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        return workers._try_lock(fd)
    finally:
        os.close(fd)


class Work:
    """What the app gives a gate: ``start`` counts its calls and answers ``starts``."""

    def __init__(self, starts: bool = True) -> None:
        self.starts = starts
        self.calls = 0
        self.started = threading.Event()

    def start(self) -> bool:
        self.calls += 1
        self.started.set()
        return self.starts


def test_the_first_worker_gets_the_lock_as_it_starts_and_starts_the_work_at_once(tmp_path: Path) -> None:
    gate = workers._BackgroundLock(tmp_path)
    assert gate.held
    work = Work()
    gate.open(work.start)
    assert work.calls == 1  # in the lifespan itself, no waiting
    assert gate._waiter is None
    assert not lock_is_free(tmp_path)
    gate.close()
    assert not workers._BackgroundLock(tmp_path).held  # kept for the worker's life


def test_a_waiting_worker_takes_the_work_over_once_when_the_holder_exits(tmp_path: Path) -> None:
    with another_worker_holding(tmp_path) as release:
        gate = workers._BackgroundLock(tmp_path)
        assert not gate.held
        work = Work()
        with capture_logs() as logged:
            gate.open(work.start)
            assert not work.started.wait(2 * workers._LOCK_POLL_SECONDS)  # it waits, starting nothing
            release()
            released = time.monotonic()
            assert work.started.wait(_TAKES_OVER_WITHIN), "not taken over after the holder exited"
            assert time.monotonic() - released < _TAKES_OVER_WITHIN
            assert gate._waiter is not None
            gate._waiter.join(5)
            assert not gate._waiter.is_alive()  # done waiting: it will start nothing more
        assert work.calls == 1
        assert [entry for entry in logged if entry["event"] == "bridge.background_taken"] == [
            {"event": "bridge.background_taken", "pid": os.getpid(), "log_level": "info"}]
        assert not lock_is_free(tmp_path)  # it holds it now, for the worker's life
        assert not workers._BackgroundLock(tmp_path).held  # a worker starting now does not get it
        gate.close()
        assert work.calls == 1


def test_a_worker_stopped_while_waiting_starts_nothing_and_takes_no_lock(tmp_path: Path) -> None:
    with another_worker_holding(tmp_path) as release:
        gate = workers._BackgroundLock(tmp_path)
        work = Work()
        gate.open(work.start)
        time.sleep(0.1)
        stopping = time.monotonic()
        gate.close()
        assert time.monotonic() - stopping < 1.0  # the waiting does not hold up the shutdown
        assert gate._waiter is not None and not gate._waiter.is_alive()
        release()
        time.sleep(2 * workers._LOCK_POLL_SECONDS)
    assert work.calls == 0
    assert lock_is_free(tmp_path)


def test_a_lock_got_after_the_app_stopped_is_given_back(tmp_path: Path) -> None:
    """The waiting thread took the lock while the app was stopping: the work refused to start."""
    with another_worker_holding(tmp_path) as release:
        gate = workers._BackgroundLock(tmp_path)
        work = Work(starts=False)
        with capture_logs() as logged:
            gate.open(work.start)
            release()
            assert work.started.wait(_TAKES_OVER_WITHIN)
            assert gate._waiter is not None
            gate._waiter.join(5)
    assert work.calls == 1
    assert not [entry for entry in logged if entry["event"] == "bridge.background_taken"]
    assert lock_is_free(tmp_path)  # for a worker that stays


class LaterGate:
    """A gate that lets the work start only when the test says so (bridge.app.BackgroundGate)."""

    def __init__(self) -> None:
        self.start: Callable[[], bool] | None = None
        self.closed = False

    def open(self, start: Callable[[], bool]) -> None:
        self.start = start

    def close(self) -> None:
        self.closed = True


def _new_threads(before: set[threading.Thread]) -> dict[str, threading.Thread]:
    return {thread.name: thread for thread in threading.enumerate() if thread not in before}


def test_the_app_starts_its_background_work_when_its_gate_lets_it_and_stops_it_on_shutdown(tmp_path: Path) -> None:
    settings = Settings.model_validate({
        "adapters": [], "database_url": f"sqlite:///{tmp_path / 'bridge.db'}", "outbox_workers": 2,
        "scheduler": True, "shutdown_seconds": 2, "pseudonym_key": "unit-test-pseudonym-key-0123456789",
        "sandbox_dir": str(tmp_path / "sandbox")})
    gate = LaterGate()
    app = create_app(settings, background=gate)
    before = set(threading.enumerate())
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200
        assert gate.start is not None
        assert not {"outbox-0", "outbox-1", "scheduler"} & set(_new_threads(before))  # the gate has not let it
        started = threading.Thread(target=gate.start, name="gate")  # from a thread of the gate's, as the lock's
        started.start()
        started.join(5)
        running = _new_threads(before)
        assert {"outbox-0", "outbox-1", "scheduler"} <= {name for name, t in running.items() if t.is_alive()}
        assert gate.start() is False  # once only
    assert gate.closed
    assert not any(running[name].is_alive() for name in ("outbox-0", "outbox-1", "scheduler"))  # stopped
    assert gate.start() is False  # not after the shutdown
    assert not {"outbox-0", "outbox-1", "scheduler"} & {t.name for t in _new_threads(before).values() if t.is_alive()}
