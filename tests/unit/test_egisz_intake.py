"""The intake: bounded pages, idempotent upserts, an interrupted run resumed where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.egisz._intake import JOB, Intake
from adapters.egisz._model import CANCELLING
from adapters.egisz._schema import Application, StatusChange
from adapters.egisz.sandbox import BatchSpec
from bridge.scheduling import Job, JobRuns, Scheduler
from bridge.store import Store
from tests.unit.egisz_world import MO, NOW, egisz_world


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with egisz_world(tmp_path, count=1200, seed=5, cancellation_share=0.15, detachment_share=0.1) as made:
        intake = Intake(made.store, made.upstream, made.applications, (MO,), page_size=100)
        scheduler = Scheduler(JobRuns(made.store, holder="unit"))
        scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))
        yield {"store": made.store, "scheduler": scheduler, "upstream": made.upstream, "registry": made.registry}


def count(store: Store, model: Any = Application) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


WINDOW = (NOW - timedelta(days=1), NOW)


def test_intake_takes_every_application_once(world: dict[str, Any]) -> None:
    run = world["scheduler"].run_now(JOB, "cli", WINDOW)
    assert (run.state, run.processed) == ("succeeded", 1200)
    assert count(world["store"]) == 1200
    history = count(world["store"], StatusChange)
    again = world["scheduler"].run_now(JOB, "cli", (WINDOW[0] - timedelta(hours=3), WINDOW[1]))  # overlapping
    assert again.state == "succeeded"
    assert count(world["store"]) == 1200 and count(world["store"], StatusChange) == history
    with world["store"].session() as session:
        cancelling = session.scalar(select(func.count()).select_from(Application).where(
            Application.status == CANCELLING))
    assert cancelling and cancelling > 0, "cancellations mark their choice «Отменяется»"


def test_an_interrupted_run_resumes_without_loss_or_duplicates(world: dict[str, Any]) -> None:
    upstream, real = world["upstream"], world["upstream"].fetch_page
    pages = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        pages["n"] += 1
        if pages["n"] == 5:
            raise Crash()
        return real(*args, **kwargs)

    upstream.fetch_page = dying
    with pytest.raises(Crash):
        world["scheduler"].run_now(JOB, "cli", WINDOW)
    taken = count(world["store"])
    assert taken == 400, "four pages of 100 were committed before the crash"
    upstream.fetch_page = real
    resumed = world["scheduler"].run_now(JOB, "cli", WINDOW)
    assert resumed.state == "succeeded" and resumed.processed == 1200
    assert count(world["store"]) == 1200
    runs = world["scheduler"].runs.recent(JOB)
    assert len(runs) == 1, "the interrupted run was resumed, not started again"


def test_the_watermark_moves_only_on_success(world: dict[str, Any]) -> None:
    scheduler = world["scheduler"]
    first = scheduler.run_now(JOB, "cli", WINDOW)
    window = scheduler.job(JOB).window(scheduler.runs, NOW + timedelta(hours=1))
    assert window[0] == first.window_to - timedelta(hours=1), "the watermark less the look-back"


def test_a_task_shown_late_is_taken_by_the_next_run(world: dict[str, Any]) -> None:
    """ЕГИСЗ shows tasks after a run whose window covers the moment they carry: the next run's look-back
    still asks for them (without it they would lie behind the watermark, never asked for again)."""
    scheduler, store = world["scheduler"], world["store"]
    first = scheduler.run_now(JOB, "cli", WINDOW)
    assert first.state == "succeeded" and count(store) == 1200
    world["registry"].generate(BatchSpec(mos=(MO,), start=NOW - timedelta(minutes=40), end=NOW - timedelta(minutes=30),
                                         count=5, seed=77, cancellation_share=0.0, detachment_share=0.0))
    second = scheduler.run_now(JOB, "cli", scheduler.job(JOB).window(scheduler.runs, NOW + timedelta(minutes=5)))
    assert second.state == "succeeded"
    assert count(store) == 1205
