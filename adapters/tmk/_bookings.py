"""ТМК bookings the bot made, and their two reminders queued in the same transaction.

A booking row holds what the reminders and the consultation chat need: the МО, doctor, specialty
and goal (staff and reference data), and the patient sealed. The reminders are outbox messages
due 24 hours and 15 minutes before the start (``not_before``), so every instance's delivery
workers send them, once, whenever the bridge is up at or after that moment.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.tmk import _tables as t
from adapters.tmk._people import Person
from bridge.outbox import Outbox
from bridge.store import Sealer, Store, as_utc

REMINDER = "tmk.reminder"
BEFORE = {"24h": timedelta(hours=24), "15m": timedelta(minutes=15)}
BOOKED, CANCELLED, FINISHED = "booked", "cancelled", "finished"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Booking:
    id: str
    number: str
    user_id: int
    patient: Person
    lpu_id: int
    visit_id: str | None
    slot_id: str
    details: dict[str, Any]     # lpu, lpu_full, speciality, doctor{id,name,messenger,phone}, goal
    start_at: datetime          # UTC
    end_at: datetime
    state: str
    chat: dict[str, Any] | None  # {platform, chat_id, link}

    @property
    def doctor(self) -> dict[str, Any]:
        doctor: dict[str, Any] = self.details.get("doctor") or {}
        return doctor


class Bookings:
    def __init__(self, store: Store, sealer: Sealer, person_key: Callable[[str], str], outbox: Outbox,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._sealer = sealer
        self._person_key = person_key
        self._outbox = outbox
        self._clock = clock

    def create(self, *, user_id: int, patient: Person, lpu_id: int, visit_id: str | None, slot_id: str,
               details: dict[str, Any], start_at: datetime, end_at: datetime) -> Booking:
        """Record the booking and queue its reminders in one transaction."""
        now = self._clock()
        booking_id = str(uuid.uuid4())
        number = "ТМК-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
        with self._store.session() as session:
            session.execute(t.bookings.insert().values(
                id=booking_id, number=number, user_id=user_id, patient=self._sealer.seal(patient.to_json()),
                patient_key=self._person_key(patient.snils), lpu_id=lpu_id, visit_id=visit_id, slot_id=slot_id,
                details=details, start_at=start_at, end_at=end_at, state=BOOKED, chat=None, created_at=now,
                updated_at=now))
            for kind, before in BEFORE.items():
                due = start_at - before
                if kind == "24h" and due <= now:
                    continue   # booked less than a day ahead: the booking message itself is the first notice
                self._outbox.enqueue(session, kind=REMINDER, payload={"booking": booking_id, "kind": kind},
                                     idempotency_key=f"{REMINDER}:{booking_id}:{kind}", not_before=due)
            session.commit()
        found = self.get(booking_id)
        assert found is not None
        return found

    def get(self, booking_id: str) -> Booking | None:
        with self._store.engine.connect() as db:
            row = db.execute(sa.select(t.bookings).where(t.bookings.c.id == booking_id)).first()
        return None if row is None else self._booking(row)

    def by_visit(self, lpu_id: int, visit_id: str) -> Booking | None:
        with self._store.engine.connect() as db:
            row = db.execute(sa.select(t.bookings).where(t.bookings.c.lpu_id == lpu_id,
                                                         t.bookings.c.visit_id == visit_id)
                             .order_by(t.bookings.c.created_at.desc())).first()
        return None if row is None else self._booking(row)

    def upcoming(self, user_id: int) -> list[Booking]:
        """The user's bookings not yet over (a consultation in progress included)."""
        with self._store.engine.connect() as db:
            rows = db.execute(sa.select(t.bookings).where(
                t.bookings.c.user_id == user_id, t.bookings.c.state == BOOKED,
                t.bookings.c.end_at > self._clock()).order_by(t.bookings.c.start_at)).all()
        return [self._booking(r) for r in rows]

    def listing(self, limit: int = 100) -> list[dict[str, Any]]:
        """For ops (/admin/tmk/bookings): no personal data."""
        with self._store.engine.connect() as db:
            rows = db.execute(sa.select(t.bookings.c.id, t.bookings.c.number, t.bookings.c.lpu_id,
                                        t.bookings.c.visit_id, t.bookings.c.start_at, t.bookings.c.state,
                                        t.bookings.c.chat).order_by(t.bookings.c.created_at.desc()).limit(limit)).all()
        return [{"id": r.id, "number": r.number, "lpu_id": r.lpu_id, "visit_id": r.visit_id,
                 "start_at": as_utc(r.start_at).isoformat(), "state": r.state,
                 "chat": {k: v for k, v in (r.chat or {}).items() if k in ("platform", "chat_id")} or None}
                for r in rows]

    def set_state(self, booking_id: str, state: str) -> bool:
        with self._store.engine.begin() as db:
            return bool(db.execute(t.bookings.update()
                                   .where(t.bookings.c.id == booking_id, t.bookings.c.state == BOOKED)
                                   .values(state=state, updated_at=self._clock())).rowcount)

    def set_chat(self, booking_id: str, chat: dict[str, Any]) -> None:
        with self._store.engine.begin() as db:
            db.execute(t.bookings.update().where(t.bookings.c.id == booking_id)
                       .values(chat=chat, updated_at=self._clock()))

    def _booking(self, row: Any) -> Booking:
        return Booking(row.id, row.number, row.user_id, Person.from_json(self._sealer.open(row.patient)), row.lpu_id,
                       row.visit_id, row.slot_id, dict(row.details), as_utc(row.start_at), as_utc(row.end_at),
                       row.state, dict(row.chat) if row.chat else None)
