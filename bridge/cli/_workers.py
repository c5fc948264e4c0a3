"""``bridge serve --workers N``: a supervisor and N worker processes on one listening socket.

One Python process runs one thread at a time, so one process is worth about one core; on a
machine with more cores the bridge serves more by running more processes. uvicorn's supervisor
binds the socket once, spawns the workers (each imports the bridge and builds its own app, store
connections and upstream pools), replaces a worker that dies or hangs, and on SIGTERM stops them
gracefully.

What the workers share and what they do not:

- **The store** is the only shared state. Each worker migrates it as it builds its app, one
  worker at a time (an exclusive ``flock`` on ``start.lock`` in the run directory): the first does
  the work, the others find it done. Workers racing to create tables would fail; the supervisor
  doing it first would add its own start-up to every start.
- **Background work** (outbox delivery workers and the scheduler) runs in *one* worker per
  instance, not in every worker: the workers hold an exclusive ``flock`` on one file in the run
  directory, and the worker that gets it runs the background work; the others only serve. If that
  worker dies, the kernel drops its lock and the replacement the supervisor starts takes it. (It
  would also be safe in every worker — claims and job runs are leased in the store — but N
  times the polling of the store buys nothing.)
- **Metrics**: prometheus_client's multiprocess mode, in a directory made for this run (or
  ``PROMETHEUS_MULTIPROC_DIR`` when it is set); /metrics answers for all workers
  (see bridge/metrics.py). The supervisor marks a dead worker's live gauges.
- **Circuit breakers and connection pools** are per worker.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from bridge.cli._serve import freeze_startup_heap
from bridge.config import Settings
from bridge.metrics import MULTIPROC_ENV, worker_exited
from bridge.observability import configure_logging, get_logger

_BACKGROUND_LOCK = "background.lock"
_START_LOCK = "start.lock"
_held: list[int] = []  # the lock's file descriptor, kept open for the worker's life


def holds_background(run_dir: Path) -> bool:
    """True in exactly one live worker: the one holding the run directory's background lock."""
    fd = os.open(run_dir / _BACKGROUND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held.append(fd)
    return True


def worker_app(settings: Settings, run_dir: str) -> Any:
    """The app of one worker process (a uvicorn factory, called in the worker)."""
    from bridge.app import create_app

    configure_logging(settings.log_level)
    background = holds_background(Path(run_dir))
    if not background:
        settings = settings.model_copy(update={"outbox_workers": 0, "scheduler": False})
    get_logger("bridge.serve").info("bridge.worker", pid=os.getpid(), background=background)
    fd = os.open(Path(run_dir) / _START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one worker at a time migrates the store (create_app does)
        app = create_app(settings)
    finally:
        os.close(fd)  # closing drops the lock
    freeze_startup_heap()
    return app


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, telling the metrics when a worker it replaced has gone."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                worker_exited(pid)


def _run_dir() -> tuple[Path, Path, bool]:
    """(run directory, metrics directory, made here); the metrics directory starts empty."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        metrics = Path(given)
        metrics.mkdir(parents=True, exist_ok=True)
        for stale in metrics.glob("*.db"):  # counts of an earlier run are not this run's
            stale.unlink()
        return metrics, metrics, False
    run = Path(tempfile.mkdtemp(prefix="bridge-workers-"))
    metrics = run / "metrics"
    metrics.mkdir()
    return run, metrics, True


def serve_workers(settings: Settings, workers: int) -> None:
    configure_logging(settings.log_level)
    log = get_logger("bridge.serve")
    if settings.sandbox:
        raise SystemExit("bridge serve: --workers cannot serve the sandbox peers too; run them with "
                         "`bridge sandbox --write-config FILE` and point the bridge at them")
    run_dir, metrics_dir, made = _run_dir()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)  # inherited by the workers, read at their import
    config = uvicorn.Config(
        functools.partial(worker_app, settings, str(run_dir)), factory=True, host=settings.host, port=settings.port,
        workers=workers, access_log=False, log_config=None, lifespan="on", timeout_graceful_shutdown=10,
        proxy_headers=False,   # forwarding headers count only from trusted_proxies, checked by the bridge
    )
    socket = config.bind_socket()
    log.info("bridge.listening", url=f"http://{settings.host}:{settings.port}", workers=workers)
    try:
        _Supervisor(config, sockets=[socket]).run()
    finally:
        socket.close()
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
