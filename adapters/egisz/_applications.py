"""Attachment applications in the store: upsert from intake, search and card for the МИС.

Every read takes the caller's MOs: an application of another MO is "not found", exactly as a
made-up id is, so guessing ids reveals nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.egisz._model import (
    ACCEPTED,
    CANCEL_ERROR,
    CANCELLING,
    SENT,
    STATUS_LABELS,
    ApplicationType,
)
from adapters.egisz._schema import Application, StatusChange
from bridge.errors import InvalidField
from bridge.mapping import Mapping, MappingValueError
from bridge.store import as_utc

INTAKE_AUTHOR = "ЕГИСЗ (приём заявлений)"
RECEIVED = Counter("bridge_egisz_applications_received_total",
                   "New attachment applications taken in, by application type.", ["type"])


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    since: date
    until: date
    patient_guid: str | None = None
    snils: str | None = None
    type: ApplicationType | None = None
    attachment_type: str | None = None
    status: int | None = None
    limit: int = 1000


def parse_moment(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(str(value)))


def add_history(session: Session, application_id: str, status: int, author: str, note: str | None = None) -> None:
    session.add(StatusChange(application_id=application_id, status=status, at=datetime.now(UTC),
                             author=author[:200], note=(note or None) and note[:500]))


class Applications:
    def __init__(self, mapping: Mapping) -> None:
        self._mapping = mapping

    # --- intake -----------------------------------------------------------------------------

    def upsert(self, session: Session, task: dict[str, Any], cancelled_choices: set[str] | None = None) -> bool:
        """Take one task in; True when it is new. A repeated or older copy changes nothing.

        ``cancelled_choices``: ids of choices whose cancellation is already in the store (known to
        ``upsert_page``); without it, the store is asked.
        """
        task_id = str(task["id"])
        changed_at = parse_moment(task["update_date"])
        existing = session.get(Application, task_id)
        if existing is not None and as_utc(existing.upstream_changed_at) >= changed_at:
            return False
        card = self._card(task)
        kind = ApplicationType.from_order_type(int(task["order_type"]))
        now = datetime.now(UTC)
        if existing is not None:
            existing.card = {**existing.card, **card}
            existing.upstream_changed_at = changed_at
            existing.updated_at = now
            return False
        related = str(task["related_task_id"]) if task.get("related_task_id") else None
        status = ACCEPTED if kind is ApplicationType.CANCELLATION else SENT
        application = Application(
            id=task_id, mo_oid=str(task["mo_oid"]), type=kind.value, attachment_type=str(task["attachment_type"]),
            status=status, related_id=related, applied_on=parse_moment(task["create_date"]).date(),
            patient_guid=card.get("PatientGuid"), snils=card.get("Snils"), upstream_changed_at=changed_at,
            card=card, reply_pending=None, updated_at=now)
        session.add(application)
        add_history(session, task_id, status, INTAKE_AUTHOR)
        RECEIVED.labels(kind.value).inc()
        if kind is ApplicationType.CANCELLATION and related:
            self._mark_cancelling(session, related)
        elif kind is ApplicationType.CHOICE:
            if cancelled_choices is None:
                cancelled_choices = self._cancelled(session, [task_id])
            if task_id in cancelled_choices:
                self._mark_cancelling(session, task_id)
        return True

    def _mark_cancelling(self, session: Session, choice_id: str) -> None:
        choice = session.get(Application, choice_id)
        # A cancellation of a detachment leaves the detachment to be executed (SAMSON's client): only a
        # choice of MO becomes «Отменяется».
        if choice is not None and choice.type == ApplicationType.CHOICE.value and choice.status in (SENT, CANCEL_ERROR):
            choice.status = CANCELLING
            choice.updated_at = datetime.now(UTC)
            add_history(session, choice_id, CANCELLING, INTAKE_AUTHOR, "получена отмена заявления")

    def _card(self, task: dict[str, Any]) -> dict[str, Any]:
        """The card, mapped leniently: a value the mapping refuses is left out and flagged, never dropped."""
        source = copy.deepcopy(task)
        warnings: list[str] = []
        for _ in range(len(self._mapping.fields)):
            try:
                card = self._mapping.to_mis(source)
                break
            except MappingValueError as exc:
                warnings.append(f"{exc.field}: {exc.reason}")
                _delete(source, self._mapping.field(exc.field).upstream)
        else:  # pragma: no cover - every field failed
            card = {}
        if warnings:
            card["DataWarnings"] = warnings
        return card

    def upsert_page(self, session: Session, tasks: list[dict[str, Any]]) -> int:
        """Take a page in: one query loads the rows it already has; returns how many were new."""
        ids = [str(task["id"]) for task in tasks]
        related = [str(task["related_task_id"]) for task in tasks if task.get("related_task_id")]
        if not ids:
            return 0
        list(session.scalars(select(Application).where(Application.id.in_(ids + related))))
        choices = [str(t["id"]) for t in tasks if int(t["order_type"]) == 1]
        cancelled = self._cancelled(session, choices)
        return sum(self.upsert(session, task, cancelled) for task in tasks)

    @staticmethod
    def _cancelled(session: Session, choice_ids: list[str]) -> set[str]:
        """Which of these choices already have a cancellation waiting for an answer."""
        if not choice_ids:
            return set()
        rows = session.execute(select(Application.related_id, Application.type, Application.status)
                               .where(Application.related_id.in_(choice_ids)))
        return {str(related) for related, kind, status in rows
                if kind == ApplicationType.CANCELLATION.value and status == ACCEPTED}

    # --- reads --------------------------------------------------------------------------------

    def search(self, session: Session, mo_oids: tuple[str, ...], criteria: SearchCriteria) -> list[Application]:
        if criteria.until < criteria.since:
            raise InvalidField("PeriodTo", "конец периода раньше начала")
        query = select(Application).where(
            Application.mo_oid.in_(mo_oids), Application.applied_on >= criteria.since,
            Application.applied_on <= criteria.until)
        if criteria.patient_guid:
            query = query.where(Application.patient_guid == criteria.patient_guid)
        if criteria.snils:
            query = query.where(Application.snils == criteria.snils)
        if criteria.type:
            query = query.where(Application.type == criteria.type.value)
        if criteria.attachment_type:
            query = query.where(Application.attachment_type == criteria.attachment_type)
        if criteria.status is not None:
            query = query.where(Application.status == criteria.status)
        query = query.order_by(Application.applied_on.desc(), Application.id).limit(criteria.limit)
        return list(session.scalars(query))

    def get(self, session: Session, mo_oids: tuple[str, ...], application_id: str,
            for_update: bool = False) -> Application:
        query = select(Application).where(Application.id == application_id, Application.mo_oid.in_(mo_oids))
        if for_update:
            query = query.with_for_update()
        found = session.scalars(query).first()
        if found is None:
            raise InvalidField("Id", "заявление не найдено среди заявлений вашей МО")
        return found

    @staticmethod
    def type_of(session: Session, application_id: str | None) -> str | None:
        """The type of a related application (a cancellation's), None when absent or not taken in."""
        related = session.get(Application, application_id) if application_id else None
        return None if related is None else related.type

    def history(self, session: Session, application_id: str) -> list[StatusChange]:
        return list(session.scalars(select(StatusChange).where(StatusChange.application_id == application_id)
                                    .order_by(StatusChange.at, StatusChange.id)))


def status_label(status: int) -> str:
    return STATUS_LABELS.get(status, str(status))


def _delete(record: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(leaf, None)
