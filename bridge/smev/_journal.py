"""The СМЭВ exchange journal in the store: what was sent, under which MessageID, and what came back.

Every instance shares it: the dedupe of a press (one current row per business key, by a partial
unique index), the claim of a request to (re)send (``claimed_until``, a short lease), the answer
written with the received message's id before the Ack (so a redelivery is recognised), and the
waiting callers polling it. Nothing here is personal: keys are pseudonyms, contents are sealed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bridge.smev._journal_schema import (
    ACKNOWLEDGED,
    ANSWERED,
    DEAD,
    SENDING,
    SENT,
    STATES,
    SmevExchangeRow,
    SmevReceivedRow,
)
from bridge.store import Store, as_utc

__all__ = ["ExchangeRecord", "ExchangeStats", "Journal", "Stored"]

# Dead rows whose request may have reached the recipient: a new press must not send another one
# while the row is kept (StaleMessageId on a repeat, no answer in time). Other dead rows (refused by
# СМЭВ at sending: nothing reached anyone) give way to a new request at once.
MAY_HAVE_REACHED = frozenset({"StaleMessageId", "no-answer"})


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    id: str
    kind: str
    business_key: str
    message_id: str
    state: str
    status: str | None
    error: str | None
    attempts: int
    answer_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    acknowledged_at: datetime | None
    retired_at: datetime | None
    wait_until: datetime
    claimed_until: datetime | None

    @classmethod
    def of(cls, row: SmevExchangeRow) -> ExchangeRecord:
        return cls(row.id, row.kind, row.business_key, row.message_id, row.state, row.status, row.error,
                   row.attempts, row.answer_message_id, as_utc(row.created_at), _aware(row.sent_at),
                   _aware(row.answered_at), _aware(row.acknowledged_at), _aware(row.retired_at),
                   as_utc(row.wait_until), _aware(row.claimed_until))

    @property
    def answer_age_seconds(self) -> float | None:
        start = self.sent_at or self.created_at
        return None if self.answered_at is None else max(0.0, (self.answered_at - start).total_seconds())

    def to_dict(self) -> dict[str, object]:
        return {key: (value.isoformat() if isinstance(value, datetime) else value)
                for key, value in ((name, getattr(self, name)) for name in self.__slots__)}


@dataclass(frozen=True, slots=True)
class ExchangeStats:
    counts: dict[str, int]                 # current rows by state
    unanswered_by_kind: dict[str, int]     # sending + sent, by kind
    oldest_unanswered_age_seconds: float | None
    unacknowledged: int                    # answered, Ack not yet done


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing a received message did: ``outcome`` answer / status / late / redelivered / unmatched."""

    outcome: str
    exchange: ExchangeRecord | None
    accepted: bool


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ the press

    def current(self, business_key: str) -> ExchangeRecord | None:
        with self._store.session() as session:
            row = session.scalars(select(SmevExchangeRow).where(
                SmevExchangeRow.business_key == business_key, SmevExchangeRow.retired_at.is_(None))).first()
            return None if row is None else ExchangeRecord.of(row)

    def open(self, *, kind: str, business_key: str, request: bytes, message_id: str, now: datetime,
             wait_until: datetime, keep: timedelta) -> tuple[ExchangeRecord, bool]:
        """The current exchange of ``business_key`` (created=False), or a new one in ``sending``.

        An answered row older than ``keep`` and a dead row (at once, or after ``keep`` when its
        request may have reached the recipient) are retired first. Two instances racing: the unique
        index refuses the second insert, which then reads the winner's row.
        """
        for _ in range(5):
            existing = self.current(business_key)
            if existing is not None and not self._expired(existing, now, keep):
                return existing, False
            with self._store.session() as session:
                if existing is not None:
                    session.execute(update(SmevExchangeRow).where(
                        SmevExchangeRow.id == existing.id, SmevExchangeRow.retired_at.is_(None)).values(retired_at=now))
                session.add(SmevExchangeRow(
                    id=str(uuid.uuid4()), kind=kind, business_key=business_key, message_id=message_id,
                    state=SENDING, request=request, attempts=0, claimed_until=None, wait_until=wait_until,
                    created_at=now, updated_at=now))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
            created = self.current(business_key)
            if created is not None:
                return created, created.message_id == message_id
        raise RuntimeError("could not open the СМЭВ exchange")  # pragma: no cover

    @staticmethod
    def _expired(record: ExchangeRecord, now: datetime, keep: timedelta) -> bool:
        if record.state in (ANSWERED, ACKNOWLEDGED):
            return record.answered_at is not None and now - record.answered_at > keep
        if record.state == DEAD:
            if record.error in MAY_HAVE_REACHED:
                return now - record.created_at > keep
            return True
        return False

    # ------------------------------------------------------------------ sending

    def claim(self, exchange_id: str, now: datetime, lease: timedelta) -> bytes | None:
        """The sealed request if this caller may send it now (state ``sending``, nobody's claim alive)."""
        with self._store.session() as session:
            claimed = session.execute(
                update(SmevExchangeRow)
                .where(SmevExchangeRow.id == exchange_id, SmevExchangeRow.state == SENDING,
                       or_(SmevExchangeRow.claimed_until.is_(None), SmevExchangeRow.claimed_until <= now))
                .values(claimed_until=now + lease, attempts=SmevExchangeRow.attempts + 1, updated_at=now)
                .returning(SmevExchangeRow.request)
            ).first()
            session.commit()
        return None if claimed is None else claimed[0]

    def sent(self, exchange_id: str, now: datetime, status: str | None) -> None:
        with self._store.session() as session:
            session.execute(update(SmevExchangeRow).where(
                SmevExchangeRow.id == exchange_id, SmevExchangeRow.state == SENDING).values(
                state=SENT, sent_at=now, claimed_until=None, status=status and status[:64], updated_at=now))
            session.commit()

    def postpone(self, exchange_id: str, until: datetime, error: str) -> None:
        """A transient failure of SendRequest: the row stays ``sending``, claimable again at ``until``."""
        with self._store.session() as session:
            session.execute(update(SmevExchangeRow).where(
                SmevExchangeRow.id == exchange_id, SmevExchangeRow.state == SENDING).values(
                claimed_until=until, error=error[:64], updated_at=until))
            session.commit()

    def dead(self, exchange_id: str, now: datetime, error: str, *, only_from: tuple[str, ...] = (SENDING,)) -> bool:
        with self._store.session() as session:
            result = session.execute(update(SmevExchangeRow).where(
                SmevExchangeRow.id == exchange_id, SmevExchangeRow.state.in_(only_from)).values(
                state=DEAD, error=error[:64], claimed_until=None, updated_at=now))
            session.commit()
        return bool(getattr(result, "rowcount", 0))

    def get(self, exchange_id: str) -> ExchangeRecord | None:
        with self._store.session() as session:
            row = session.get(SmevExchangeRow, exchange_id)
            return None if row is None else ExchangeRecord.of(row)

    def settled(self, exchange_ids: list[str]) -> list[str]:
        """Which of the exchanges are answered, acknowledged or dead (what a parked caller waits for)."""
        with self._store.session() as session:
            return list(session.scalars(select(SmevExchangeRow.id).where(
                SmevExchangeRow.id.in_(exchange_ids), SmevExchangeRow.state.in_((ANSWERED, ACKNOWLEDGED, DEAD)))))

    def answer_of(self, exchange_id: str) -> bytes | None:
        with self._store.session() as session:
            return session.scalars(select(SmevExchangeRow.answer).where(SmevExchangeRow.id == exchange_id)).first()

    def to_send(self, now: datetime, kinds: tuple[str, ...]) -> list[str]:
        """Rows in ``sending`` nobody holds: a sender died, or a transient failure's pause is over."""
        with self._store.session() as session:
            return list(session.scalars(select(SmevExchangeRow.id).where(
                SmevExchangeRow.state == SENDING, SmevExchangeRow.kind.in_(kinds),
                or_(SmevExchangeRow.claimed_until.is_(None), SmevExchangeRow.claimed_until <= now),
            ).order_by(SmevExchangeRow.created_at).limit(100)))

    def expire(self, now: datetime, dead_after: timedelta, kinds: tuple[str, ...]) -> list[ExchangeRecord]:
        """Sent rows without an answer for ``dead_after``: dead (``no-answer``); those rows."""
        cutoff = now - dead_after
        with self._store.session() as session:
            rows = list(session.scalars(select(SmevExchangeRow).where(
                SmevExchangeRow.state == SENT, SmevExchangeRow.kind.in_(kinds), SmevExchangeRow.sent_at < cutoff)))
            expired = []
            for row in rows:
                result = session.execute(update(SmevExchangeRow).where(
                    SmevExchangeRow.id == row.id, SmevExchangeRow.state == SENT).values(
                    state=DEAD, error="no-answer", updated_at=now))
                if getattr(result, "rowcount", 0):
                    expired.append(ExchangeRecord.of(row))
            session.commit()
        return expired

    # ------------------------------------------------------------------ receiving

    def received(self, message_id: str) -> SmevReceivedRow | None:
        with self._store.session() as session:
            row = session.get(SmevReceivedRow, message_id)
            if row is not None:
                session.execute(update(SmevReceivedRow).where(SmevReceivedRow.message_id == message_id).values(
                    deliveries=SmevReceivedRow.deliveries + 1))
                session.commit()
            return row

    def store(self, *, message_id: str, original_message_id: str | None, kind: str, now: datetime,
              answer: bytes | None, status: str | None, final: bool) -> Stored:
        """Write a received message (and the exchange's answer when ``final``) in one transaction.

        Returns ``redelivered`` when the message was stored before (a crash before its Ack, or СМЭВ's
        redelivery): nothing is changed. ``unmatched``: no request of ours has that MessageID.
        """
        with self._store.session() as session:
            if session.get(SmevReceivedRow, message_id) is not None:
                return Stored("redelivered", None, accepted=True)
            row = None if original_message_id is None else session.scalars(select(SmevExchangeRow).where(
                SmevExchangeRow.message_id == original_message_id)).first()
            if row is None:
                outcome, accepted = "unmatched", False
            elif not final:
                outcome, accepted = "status", True
                if row.state in (SENDING, SENT):
                    row.status, row.updated_at = (status or "")[:64] or None, now
            elif row.state in (ANSWERED, ACKNOWLEDGED):
                outcome, accepted = "extra", True   # a second final answer: kept out, acknowledged
            else:
                outcome = "late" if row.state == DEAD else "answer"
                accepted = True
                row.state, row.answer, row.answer_message_id = ANSWERED, answer, message_id
                row.answered_at, row.updated_at, row.claimed_until, row.request = now, now, None, None
                row.status = (status or "")[:64] or row.status
                if row.sent_at is None:  # the answer proves the send went through
                    row.sent_at = now
            session.add(SmevReceivedRow(message_id=message_id, exchange_id=None if row is None else row.id,
                                        kind=kind, outcome=outcome, accepted=accepted, received_at=now,
                                        acknowledged_at=None, deliveries=1))
            try:
                session.commit()
            except IntegrityError:  # another poller stored the same message a moment ago: nothing applied here
                session.rollback()
                return Stored("redelivered", None, accepted=True)
            return Stored(outcome, None if row is None else ExchangeRecord.of(row), accepted)

    def acknowledged(self, message_id: str, now: datetime) -> None:
        with self._store.session() as session:
            received = session.get(SmevReceivedRow, message_id)
            if received is None:
                return
            if received.acknowledged_at is None:
                received.acknowledged_at = now
            if received.exchange_id is not None:
                session.execute(update(SmevExchangeRow).where(
                    SmevExchangeRow.id == received.exchange_id, SmevExchangeRow.state == ANSWERED,
                    SmevExchangeRow.answer_message_id == message_id).values(
                    state=ACKNOWLEDGED, acknowledged_at=now, updated_at=now))
            session.commit()

    # ------------------------------------------------------------------ retention

    def forget(self, now: datetime, *, keep: timedelta, purge_after: timedelta) -> tuple[int, int]:
        """Drop what is no longer needed: the sealed contents (personal data) of exchanges finished for longer
        than ``keep`` plus an hour (no press can be answered from them any more), and every row finished for
        longer than ``purge_after``. Returns (contents dropped, rows deleted)."""
        c = SmevExchangeRow
        cutoff = now - keep - timedelta(hours=1)
        finished = or_(and_(c.state.in_((ANSWERED, ACKNOWLEDGED)), c.answered_at < cutoff),
                       and_(c.state == DEAD, c.updated_at < cutoff))
        old = now - purge_after
        with self._store.session() as session:
            dropped = session.execute(update(c).where(finished, or_(c.answer.is_not(None), c.request.is_not(None)))
                                      .values(answer=None, request=None))
            deleted = session.execute(delete(c).where(c.state.in_((ACKNOWLEDGED, DEAD)), c.updated_at < old))
            deleted_received = session.execute(delete(SmevReceivedRow).where(
                SmevReceivedRow.received_at < old, SmevReceivedRow.acknowledged_at.is_not(None)))
            session.commit()
        return (int(getattr(dropped, "rowcount", 0) or 0),
                int(getattr(deleted, "rowcount", 0) or 0) + int(getattr(deleted_received, "rowcount", 0) or 0))

    # ------------------------------------------------------------------ ops

    def find(self, key: str) -> ExchangeRecord | None:
        """By the journal's id, the request's MessageID, or the answer's MessageId."""
        with self._store.session() as session:
            row = session.scalars(select(SmevExchangeRow).where(or_(
                SmevExchangeRow.id == key, SmevExchangeRow.message_id == key,
                SmevExchangeRow.answer_message_id == key))).first()
            return None if row is None else ExchangeRecord.of(row)

    def search(self, *, state: str | None = None, kind: str | None = None, limit: int = 50) -> list[ExchangeRecord]:
        query = select(SmevExchangeRow).order_by(SmevExchangeRow.created_at.desc()).limit(limit)
        if state is not None:
            query = query.where(SmevExchangeRow.state == state)
        if kind is not None:
            query = query.where(SmevExchangeRow.kind == kind)
        with self._store.session() as session:
            return [ExchangeRecord.of(row) for row in session.scalars(query)]

    def stats(self, now: datetime, *, acknowledged: bool = True) -> ExchangeStats:
        """``acknowledged=False`` leaves out the acknowledged exchanges (the scrape's reading: they only grow
        until the purge, and counting them reads the whole history — 10⁶ rows at every scrape)."""
        c = SmevExchangeRow
        states = STATES if acknowledged else tuple(state for state in STATES if state != ACKNOWLEDGED)
        with self._store.session() as session:
            counts = dict.fromkeys(states, 0)
            for state, count in session.execute(select(c.state, func.count()).where(
                    c.retired_at.is_(None), c.state.in_(states)).group_by(c.state)):
                counts[str(state)] = int(count)
            unanswered = {str(kind): int(count) for kind, count in session.execute(
                select(c.kind, func.count()).where(c.state.in_((SENDING, SENT))).group_by(c.kind))}
            oldest = session.execute(select(func.min(c.created_at)).where(c.state.in_((SENDING, SENT)))).scalar()
            unacknowledged = session.execute(select(func.count()).select_from(SmevReceivedRow).where(
                and_(SmevReceivedRow.acknowledged_at.is_(None)))).scalar_one()
        age = None if oldest is None else max(0.0, (now - as_utc(oldest)).total_seconds())
        return ExchangeStats(counts, unanswered, age, int(unacknowledged))
