"""The intake: bounded pages, idempotent upserts, an interrupted run resumed where it stopped."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.egisz._applications import Applications
from adapters.egisz._intake import JOB, Intake
from adapters.egisz._model import CANCELLING
from adapters.egisz._schema import Application, StatusChange
from adapters.egisz._upstream import RestAttachmentUpstream
from adapters.egisz.sandbox import BatchSpec, EgiszRegistry, create_egisz_sandbox
from bridge.delivery import Upstream, UpstreamConfig
from bridge.mapping import MappingSet
from bridge.scheduling import Job, JobRuns, Scheduler
from bridge.store import Store
from tests.bridgeproc import ROOT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MO = "1.2.643.5.1.13.13.12.2.22.1234"
NOW = datetime.now(UTC)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    registry = EgiszRegistry(mos=(MO,))
    registry.generate(BatchSpec(mos=(MO,), start=NOW - timedelta(hours=10), end=NOW - timedelta(minutes=1),
                                count=1200, seed=5, cancellation_share=0.15, detachment_share=0.1))
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    store.upgrade([ROOT / "adapters" / "egisz" / "migrations"])
    with TestClient(create_egisz_sandbox(registry), base_url="http://egisz.test") as client:
        upstream = RestAttachmentUpstream(Upstream(UpstreamConfig("egisz-unit", "http://egisz.test"),
                                                   transport=client._transport))
        applications = Applications(MappingSet.load(ROOT / "mappings")["egisz.application"])
        intake = Intake(store, upstream, applications, (MO,), page_size=100)
        scheduler = Scheduler(JobRuns(store, holder="unit"))
        scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))
        yield {"store": store, "scheduler": scheduler, "upstream": upstream, "registry": registry}
    store.dispose()


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
    assert window[0] == first.window_to
