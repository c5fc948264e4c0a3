"""Worker threads that drain the outbox, and how they stop."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from bridge.observability import get_logger

_log = get_logger("bridge.outbox")

# run(worker_id, batch, may_continue) -> messages processed; may_continue() is False once the pool stops:
# start no further delivery
RunBatch = Callable[[str, int, Callable[[], bool]], int]
#: Longest wait between two polls of an outbox that stays empty (seconds). The wait starts at the
#: pool's ``poll_interval`` and doubles with every empty poll up to this, so an idle instance polls
#: the store ~1/s per worker instead of 1/poll_interval; any delivered message resets it.
IDLE_POLL_MAX = 1.0


def worker_prefix() -> str:
    """Unique per process and pool, readable in ``locked_by``: host:pid:token."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class WorkerPool:
    """Threads that claim and deliver until :meth:`stop`.

    ``stop`` stops claiming at once; each worker lets the delivery it is making finish, writes the
    outcomes it holds, hands back the messages of its batch it has not started (other instances,
    or this one after a restart, take them at once: no lease to wait out), and exits. So an
    instance leaving a cluster takes as long as one delivery, not as long as its batch. A handler
    still running at the deadline is left to finish (the threads are daemons); if the process
    exits first, that message's lease expires and another worker claims it again.

    A worker that finds nothing waits ``poll_interval``, then twice that after the next empty
    poll, and so on up to ``idle_poll_max`` (never less than ``poll_interval``); a message
    enqueued while the outbox was idle therefore waits at most ``idle_poll_max`` to be claimed.
    """

    def __init__(self, run: RunBatch, workers: int, poll_interval: float, batch: int,
                 idle_poll_max: float = IDLE_POLL_MAX) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._run = run
        self._poll = poll_interval
        self._idle_max = max(poll_interval, idle_poll_max)
        self._batch = batch
        self._stopping = threading.Event()
        prefix = worker_prefix()
        self.worker_ids = [f"{prefix}:{i}" for i in range(workers)]
        self._threads = [
            threading.Thread(target=self._loop, args=(worker_id,), name=f"outbox-{i}", daemon=True)
            for i, worker_id in enumerate(self.worker_ids)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _may_continue(self) -> bool:
        return not self._stopping.is_set()

    def _loop(self, worker_id: str) -> None:
        idle_wait = self._poll
        while not self._stopping.is_set():
            try:
                processed = self._run(worker_id, self._batch, self._may_continue)
            except Exception as exc:  # the store is away, for instance: wait and try again
                _log.warning("outbox.worker_error", worker=worker_id, error=type(exc).__name__)
                self._stopping.wait(max(self._poll, 1.0))
                continue
            if processed == 0:
                self._stopping.wait(idle_wait)
                idle_wait = min(idle_wait * 2, self._idle_max)
            else:
                idle_wait = self._poll

    def stop(self, deadline_seconds: float = 30.0) -> bool:
        """Stop claiming and starting deliveries; wait up to ``deadline_seconds`` for the ones under
        way; True if every worker ended."""
        deadline = time.monotonic() + deadline_seconds
        self._stopping.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 0.05)
        stopped = not self.running
        if not stopped:
            _log.warning("outbox.stop_deadline", still_running=sum(t.is_alive() for t in self._threads))
        return stopped
