"""Scheduled jobs that run once per schedule across every instance sharing the store."""

from bridge.scheduling._jobs import JobAlreadyRunning, JobContext, JobRuns, RunRecord
from bridge.scheduling._scheduler import Interrupted, Job, Scheduler

__all__ = ["Interrupted", "Job", "JobAlreadyRunning", "JobContext", "JobRuns", "RunRecord", "Scheduler"]
