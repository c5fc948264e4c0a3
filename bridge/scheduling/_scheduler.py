"""Running jobs on a cron schedule, once per slot across instances, and on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter
from prometheus_client import Counter, Gauge, Histogram

from bridge.observability import get_logger
from bridge.scheduling._jobs import (
    FAILED,
    INTERRUPTED,
    SUCCEEDED,
    JobAlreadyRunning,
    JobContext,
    JobRuns,
    RunRecord,
)

_log = get_logger("bridge.scheduling")
# The label is job_name, not job: Prometheus's own `job` label (the scrape job) would shadow it.
JOB_RUNS = Counter("bridge_job_runs_total", "Job runs by job, trigger and outcome.", ["job_name", "trigger", "outcome"])
JOB_LAST_SUCCESS = Gauge("bridge_job_last_success_timestamp_seconds",
                         "When a job last succeeded on this instance (Unix time).", ["job_name"])
JOB_SECONDS = Histogram("bridge_job_duration_seconds", "Duration of job runs.", ["job_name"],
                        buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))

Window = tuple[datetime | None, datetime | None]


class Interrupted(Exception):
    """The job stopped because the instance is shutting down; the run resumes later."""


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    run: Callable[[JobContext], int]                       # returns how many items it processed
    window: Callable[[JobRuns, datetime], Window]          # the window of a scheduled run

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ValueError(f"job {self.name}: invalid cron expression")


class Scheduler:
    def __init__(self, runs: JobRuns, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 tick_seconds: float = 1.0) -> None:
        self.runs = runs
        self._clock = clock
        self._tick = tick_seconds
        self._jobs: dict[str, Job] = {}
        self._next: dict[str, datetime] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job: Job) -> None:
        self._jobs[job.name] = job
        self._next[job.name] = croniter(job.cron, self._clock()).get_next(datetime)

    def job(self, name: str) -> Job:
        return self._jobs[name]

    def names(self) -> list[str]:
        return sorted(self._jobs)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, deadline_seconds: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(deadline_seconds)

    def now(self) -> datetime:
        return self._clock()

    def next_fire(self, name: str) -> datetime:
        return self._next[name]

    def due(self) -> list[tuple[Job, datetime]]:
        """Jobs whose slot has come, advancing each to its next slot."""
        now = self._clock()
        fired = []
        for name, job in self._jobs.items():
            slot = self._next[name]
            if now >= slot:
                fired.append((job, slot))
                self._next[name] = croniter(job.cron, now).get_next(datetime)
        return fired

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for job, slot in self.due():
                try:
                    self.execute(job, "schedule", job.window(self.runs, slot), slot)
                except JobAlreadyRunning:
                    _log.info("job.skipped", job=job.name, reason="held by another instance")
                except Exception:
                    _log.exception("job.error", job=job.name)
            self._stopping.wait(self._tick)

    def run_now(self, name: str, trigger: str, window: Window | None = None) -> RunRecord:
        """Run a job at once in this thread (CLI, admin API, SOAP). Raises JobAlreadyRunning."""
        job = self._jobs[name]
        record = self.execute(job, trigger, window or job.window(self.runs, self._clock()), None)
        if record is None:
            raise JobAlreadyRunning(name)
        return record

    def execute(self, job: Job, trigger: str, window: Window, slot: datetime | None) -> RunRecord | None:
        """Run ``job`` if this instance gets its lease and the slot has no run yet; the final record."""
        if not self.runs.acquire(job.name):
            if trigger == "schedule":
                return None
            raise JobAlreadyRunning(job.name)
        renewer = _Renewer(self.runs, job.name)
        try:
            run = self.runs.start(job.name, trigger, window, slot)
            if run is None:
                _log.info("job.skipped", job=job.name, reason="this schedule slot already ran")
                return None
            renewer.start()
            started = time.perf_counter()
            outcome = SUCCEEDED
            error = None
            try:
                processed = job.run(JobContext(run, self.runs, self._stopping))
            except Interrupted:
                outcome, processed = INTERRUPTED, -1
            except JobAlreadyRunning:
                outcome, processed, error = INTERRUPTED, -1, "lease lost"
            except Exception as exc:
                outcome, processed, error = FAILED, -1, type(exc).__name__ + (
                    f": {exc.safe_message}" if hasattr(exc, "safe_message") else "")
                _log.exception("job.failed", job=job.name, run=run.id)
            self.runs.finish(run.id, outcome, error)
            elapsed = time.perf_counter() - started
            JOB_RUNS.labels(job.name, trigger, outcome).inc()
            JOB_SECONDS.labels(job.name).observe(elapsed)
            if outcome == SUCCEEDED:
                JOB_LAST_SUCCESS.labels(job.name).set(time.time())
            _log.info("job.run", job=job.name, run=run.id, trigger=trigger, outcome=outcome,
                      processed=processed, elapsed_ms=round(elapsed * 1000))
            return self.runs.get(run.id)
        finally:
            renewer.stop()
            self.runs.release(job.name)


class _Renewer:
    """Keeps a job's lease alive while it runs, whatever the job's own heartbeat does."""

    def __init__(self, runs: JobRuns, name: str) -> None:
        self._runs, self._name = runs, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _loop(self) -> None:
        interval = max(self._runs.lease_seconds / 3, 0.5)
        while not self._stop.wait(interval):
            self._runs.renew(self._name)



