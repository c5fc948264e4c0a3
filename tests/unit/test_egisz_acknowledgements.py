"""ЕГИСЗ replies delivered by the outbox in groups: every acknowledgement updates its application
(and the one a cancellation relates to) as one at a time would, and a group loads its applications
in one query instead of one per reply (``Replies._load_applications``, the outbox's ``prepare``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from adapters.egisz._intake import JOB, Intake
from adapters.egisz._model import CANCELLED, CANCELLING, ApplicationType, Outcome
from adapters.egisz._replies import Doctor, Replies, Reply
from adapters.egisz._schema import Application, StatusChange
from bridge.outbox import Outbox
from bridge.scheduling import Job, JobRuns, Scheduler
from tests.unit.egisz_world import MO, NOW, egisz_world


@pytest.fixture(params=[10.0, 0.0], ids=["grouped", "one-by-one"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with egisz_world(tmp_path, count=120, seed=11, cancellation_share=0.2, detachment_share=0.0) as made:
        scheduler = Scheduler(JobRuns(made.store, holder="unit"))
        intake = Intake(made.store, made.upstream, made.applications, (MO,), page_size=100)
        scheduler.add(Job(JOB, "0 6 * * *", intake.run, intake.window))
        assert scheduler.run_now(JOB, "cli", (NOW - timedelta(days=1), NOW)).state == "succeeded"
        outbox = Outbox(made.store, record_window=request.param)
        yield {"store": made.store, "outbox": outbox,
               "replies": Replies(made.store, outbox, made.applications, made.upstream)}


def reply(outcome: Outcome) -> Reply:
    if outcome is Outcome.SERVICE_PROVIDED:
        return Reply(outcome, comment="Прикреплён", district="7",
                     doctor=Doctor("Иванова", "Анна", "Петровна", "11223344595", "врач-терапевт участковый"),
                     employee="Сидорова В. В.")
    return Reply(outcome, comment="Отмена одобрена", employee="Сидорова В. В.")


def test_a_group_of_acknowledgements_updates_every_application_with_one_query(world: dict[str, Any]) -> None:
    store, outbox, replies = world["store"], world["outbox"], world["replies"]
    with store.session() as session:
        cancellations = list(session.scalars(select(Application).where(
            Application.type == ApplicationType.CANCELLATION.value, Application.related_id.is_not(None))))
        pending_choices = {a.related_id for a in cancellations}
        choices = list(session.scalars(select(Application.id).where(
            Application.type == ApplicationType.CHOICE.value, Application.id.not_in(pending_choices))))
    assert cancellations and len(choices) >= 10
    answered = {cid: Outcome.SERVICE_PROVIDED for cid in choices[:10]}
    answered |= {c.id: Outcome.CANCEL_APPROVED for c in cancellations[:3]}
    for application_id, outcome in answered.items():
        replies.submit((MO,), application_id, reply(outcome))
    with store.session() as session:
        assert {session.get(Application, c.related_id).status for c in cancellations[:3]} == {CANCELLING}

    selects: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM egisz_application" in statement:
            selects.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert outbox.run_once("w1", batch=50) == len(answered)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)

    assert {m.state for m in outbox.list(limit=100)} == {"delivered"}
    with store.session() as session:
        for application_id, outcome in answered.items():
            application = session.get(Application, application_id)
            assert application is not None and application.reply_pending is None
            assert application.status == outcome.status and application.card["ReplyOutcome"] == outcome.value
            notes = list(session.scalars(
                select(StatusChange.note).where(StatusChange.application_id == application_id)))
            assert any(note and "ЕГИСЗ приняла ответ" in note for note in notes)
        for cancellation in cancellations[:3]:
            assert session.get(Application, cancellation.related_id).status == CANCELLED
    if outbox.record_window:   # one group: the applications, then those they relate to
        assert len(selects) == 2, selects
    else:                      # one by one: one query per reply (its application, then the related one)
        assert len(answered) <= len(selects) <= 2 * len(answered)
