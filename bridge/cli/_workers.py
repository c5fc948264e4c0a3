"""``bridge serve --workers N``: a supervisor and N worker processes on one listening socket.

One Python process runs one thread at a time, so one process is worth about one core; on a
machine with more cores the bridge serves more by running more processes. uvicorn's supervisor
binds the socket once, starts the workers, replaces a worker that dies or hangs, replaces them all
on SIGHUP, and on SIGTERM stops them gracefully.

How a worker starts: **forked from the supervisor**, which has already imported the bridge and the
configured adapters (gunicorn's "preload"), so a worker only builds its app (create_app: its own
store connections, upstream pools and threads), and the imported code's memory stays shared with
the supervisor, copy-on-write. The supervisor freezes its heap first (gc.freeze), so the workers'
collections leave those objects alone (reference counting still copies some pages). uvicorn itself
would *spawn* a fresh interpreter per worker that imports everything again (about a second each);
it makes every worker -- at start, to replace a dead one, on SIGHUP or SIGTTIN -- through the name
``get_subprocess`` of uvicorn.supervisors.multiprocess, which the supervisor replaces while it runs
(``_forking``; tests/unit/test_workers_fork.py fails if uvicorn changes that). Forking is safe
because the supervisor has only its main thread (everything that starts threads -- the audit
journal writer, outbox workers, scheduler, thread hops -- starts inside create_app, in a worker;
``_fork_worker`` refuses to fork otherwise), and a worker gets back the signal handlers of a fresh
process in place of the supervisor's. The metrics must count in files from the supervisor's import
on (below); when they do not -- the command was not run through ``bridge.cli.main`` -- the supervisor
logs ``bridge.workers_spawned`` and spawns the workers as uvicorn would.

What the workers share and what they do not:

- **The store** is the only shared state. Each worker migrates it as it builds its app, one
  worker at a time (an exclusive ``flock`` on ``start.lock`` in the run directory): the first does
  the work, the others find it done. Workers racing to create tables would fail; the supervisor
  doing it first would add its own start-up to every start.
- **Background work** (outbox delivery workers and the scheduler) runs in *one* worker per
  instance, not in every worker: the workers hold an exclusive ``flock`` on one file in the run
  directory, and the worker that gets it as it starts runs the background work; the others serve
  and wait for the lock (``_BackgroundLock``). When its holder exits -- dies, retires on SIGTTOU,
  or is replaced on SIGHUP, whose replacement uvicorn starts *before* stopping the worker it
  replaces, so that the replacement finds the lock still held -- the kernel drops its lock and a
  live worker takes it within ``_LOCK_POLL_SECONDS`` (or a new worker as it starts), logs
  ``bridge.background_taken``, and starts the background work then. (It would also be safe in
  every worker -- claims and job runs are leased in the store -- but N times the polling of the
  store buys nothing.) The supervisor itself never takes a lock: a forked worker would share it.
- **Metrics**: prometheus_client's multiprocess mode, in the run directory: one made for this run
  (or ``PROMETHEUS_MULTIPROC_DIR`` when it is set), by the ``bridge`` command before it imports
  anything (bridge/cli/__init__.py, bridge/metrics.py); /metrics answers for all workers. The
  supervisor marks the live gauges of a worker that has gone (died, or replaced on SIGHUP).
- **Circuit breakers and connection pools** are per worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from socket import socket
from typing import Any

import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn.supervisors import Multiprocess, multiprocess

from bridge.adapters import load_adapter
from bridge.cli._heap import freeze_startup_heap
from bridge.cli._listen import bind_listener
from bridge.cli._rundir import worker_run_dir
from bridge.config import ConfigError, Settings
from bridge.metrics import counts_in_files, worker_exited
from bridge.observability import configure_logging, get_logger

_BACKGROUND_LOCK = "background.lock"
_START_LOCK = "start.lock"
_LOCK_POLL_SECONDS = 0.5  # how often a worker without the background lock tries to take it
_held: list[int] = []  # the lock's file descriptor, kept open for the worker's life


def holds_background(run_dir: Path) -> bool:
    """True in at most one live worker: the one holding the run directory's background lock."""
    fd = os.open(run_dir / _BACKGROUND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    if not _try_lock(fd):
        os.close(fd)
        return False
    _held.append(fd)
    return True


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: another worker holds it
        return False
    return True


class _BackgroundLock:
    """The gate of a worker's background work (bridge.app.BackgroundGate): the background lock.

    The worker that gets it as it starts (``held``) runs the background work from its app's start.
    Another waits for it in a thread, trying the lock every ``_LOCK_POLL_SECONDS``, and starts the
    work when it gets it. Polling rather than a blocking ``flock`` in the thread: a thread blocked in
    the kernel cannot be told to stop, so at shutdown it would stay blocked (or take the lock in a
    process that is exiting, keeping it from the workers that stay); a poll ends at once when the
    worker stops, and costs one system call every half second in the workers that only serve.
    """

    def __init__(self, run_dir: Path) -> None:
        self._path = run_dir / _BACKGROUND_LOCK
        self.held = holds_background(run_dir)
        self._closing = threading.Event()
        self._waiter: threading.Thread | None = None

    def open(self, start: Callable[[], bool]) -> None:
        if self.held:
            start()
            return
        self._waiter = threading.Thread(target=self._wait, args=(start,), name="background-lock", daemon=True)
        self._waiter.start()

    def close(self) -> None:
        self._closing.set()
        if self._waiter is not None:
            self._waiter.join(5.0)  # it ends at once, unless it is starting the work (briefly)

    def _wait(self, start: Callable[[], bool]) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not _try_lock(fd):
                if self._closing.wait(_LOCK_POLL_SECONDS):
                    return
            if start():  # False: the app stopped meanwhile; closing the file gives the lock back
                _held.append(fd)
                fd = -1
                get_logger("bridge.serve").info("bridge.background_taken", pid=os.getpid())
        finally:
            if fd >= 0:
                os.close(fd)


def worker_app(settings: Settings, run_dir: str) -> Any:
    """The app of one worker process (a uvicorn factory, called in the worker)."""
    from bridge.app import create_app  # not at the top: every command imports this module (through _serve)

    configure_logging(settings.log_level)
    background = _BackgroundLock(Path(run_dir))
    get_logger("bridge.serve").info("bridge.worker", pid=os.getpid(), background=background.held)
    fd = os.open(Path(run_dir) / _START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one worker at a time migrates the store (create_app does)
        app = create_app(settings, background=background)
    finally:
        os.close(fd)  # closing drops the lock
    freeze_startup_heap()
    return app


_FORK = multiprocessing.get_context("fork")
_MAKES_PROCESSES = "get_subprocess"  # the name in uvicorn.supervisors.multiprocess (see _forking)
_Handlers = dict[int, Any]  # signal number -> handler, as signal.getsignal gives it


def _fork_worker(config: uvicorn.Config, target: Callable[..., None], sockets: list[socket],
                 *, handlers: _Handlers) -> BaseProcess:
    """uvicorn's ``get_subprocess``, forking: a worker process made from this one, not yet started."""
    others = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    if others:  # a thread's locks would be copied into the worker held, by a thread that is not there
        raise RuntimeError(f"bridge serve --workers: the supervisor runs threads {others}; it cannot fork")
    return _FORK.Process(target=_worker_main, kwargs={"config": config, "target": target, "sockets": sockets,
                                                      "handlers": handlers})


def _worker_main(config: uvicorn.Config, target: Callable[..., None], sockets: list[socket],
                 handlers: _Handlers) -> None:
    """The forked worker: the signal handlers of a fresh process (not the supervisor's, which only
    queue the signal for its loop), then what a spawned worker runs. Its stdin is /dev/null
    (multiprocessing's doing; a worker reads none)."""
    for signum, handler in handlers.items():
        if handler is not None:
            signal.signal(signum, handler)
    subprocess_started(config, target, sockets, stdin_fileno=None)


@contextlib.contextmanager
def _forking(handlers: _Handlers) -> Iterator[None]:
    """While it lasts, uvicorn's supervisor forks its workers. Every ``Process`` it makes (in
    init_processes, keep_subprocess_alive, restart_all, handle_ttin) gets its OS process from the
    module-level name ``get_subprocess`` in uvicorn.supervisors.multiprocess (uvicorn 0.54 imports
    it there from uvicorn._subprocess, whose version spawns); that name is replaced here."""
    spawning = getattr(multiprocess, _MAKES_PROCESSES)
    setattr(multiprocess, _MAKES_PROCESSES, functools.partial(_fork_worker, handlers=handlers))
    try:
        yield
    finally:
        setattr(multiprocess, _MAKES_PROCESSES, spawning)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, forking its workers (or spawning them, ``fork=False``) and telling the
    metrics when a worker has gone (died and replaced, or replaced on SIGHUP, or retired on SIGTTOU)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket], *, fork: bool) -> None:
        self._fork = fork
        signals = multiprocess.SIGNALS
        self._fresh_handlers: _Handlers = {signum: signal.getsignal(signum) for signum in signals}
        super().__init__(config, sockets)  # installs the supervisor's handlers of those signals

    def run(self) -> None:
        with _forking(self._fresh_handlers) if self._fork else contextlib.nullcontext():
            super().run()

    def keep_subprocess_alive(self) -> None:
        self._marking_gone(super().keep_subprocess_alive)

    def handle_signals(self) -> None:
        self._marking_gone(super().handle_signals)

    def _marking_gone(self, step: Callable[[], None]) -> None:
        before = {process.pid for process in self.processes}
        step()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                worker_exited(pid)


def _preload(settings: Settings) -> None:
    """Import in the supervisor what every worker would: the app's modules and the adapters'."""
    importlib.import_module("bridge.app")
    for name in settings.adapters:
        load_adapter(name)


def serve_workers(settings: Settings, workers: int) -> None:
    configure_logging(settings.log_level)
    log = get_logger("bridge.serve")
    if settings.sandbox:
        raise ConfigError(["--workers: cannot serve the sandbox peers too (sandbox is on); run them with "
                           "`bridge sandbox --write-config FILE` and point the bridge at them"])
    run_dir = worker_run_dir()  # bridge.cli.main made it before the imports; else here, and then we spawn
    fork = counts_in_files()
    if fork:
        _preload(settings)
    else:
        log.warning("bridge.workers_spawned", reason="prometheus_client was imported before "
                    "PROMETHEUS_MULTIPROC_DIR was set: run `bridge serve` (bridge.cli.main) to fork the workers")
    config = uvicorn.Config(
        functools.partial(worker_app, settings, str(run_dir)), factory=True, host=settings.host, port=settings.port,
        workers=workers, access_log=False, log_config=None, lifespan="on", timeout_graceful_shutdown=10,
        proxy_headers=False,   # forwarding headers count only from trusted_proxies, checked by the bridge
    )
    socket = bind_listener(settings.host, settings.port, "port")
    log.info("bridge.listening", url=f"http://{settings.host}:{settings.port}", workers=workers,
             start="fork" if fork else "spawn", run_dir=str(run_dir))
    supervisor = _Supervisor(config, sockets=[socket], fork=fork)
    if fork:
        freeze_startup_heap()  # the last thing before the forks: what is frozen stays shared
    try:
        supervisor.run()
    finally:
        socket.close()
