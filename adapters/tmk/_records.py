"""The bot's memory in the store: linked users, dialog state, seen updates, representations.

Everything here works across instances sharing the store: dialog state moves with optimistic
versions (two presses racing on two instances: one wins, the other is told to wait), seen
updates are one INSERT that only one instance can make.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from adapters.tmk import _tables as t
from adapters.tmk._people import Account, Person
from bridge.store import Pseudonymizer, Sealer, Store, as_utc


@dataclass(frozen=True)
class LinkedUser:
    user_id: int
    chat_id: int | None
    phone: str | None
    account: Account | None
    unreachable: bool


@dataclass(frozen=True)
class Dialog:
    user_id: int
    session: str          # changes when a dialog starts afresh: buttons of an older session are stale
    state: dict[str, Any]
    message_id: str | None
    version: int
    updated_at: datetime


class Records:
    def __init__(self, store: Store, sealer: Sealer, pseudonym: Pseudonymizer,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._sealer = sealer
        self._pseudonym = pseudonym
        self._clock = clock

    def person_key(self, snils: str) -> str:
        return self._pseudonym("tmk.snils", snils)

    # --- users ------------------------------------------------------------------------------------

    def user(self, user_id: int) -> LinkedUser | None:
        with self._store.engine.connect() as db:
            row = db.execute(sa.select(t.users).where(t.users.c.user_id == user_id)).first()
        if row is None:
            return None
        phone = self._sealer.open(row.phone)["phone"] if row.phone else None
        account = Account.from_json(self._sealer.open(row.person)) if row.person else None
        return LinkedUser(row.user_id, row.chat_id, phone, account, row.unreachable_at is not None)

    def _upsert_user(self, user_id: int, values: dict[str, Any]) -> None:
        now = self._clock()
        with self._store.engine.begin() as db:
            changed = db.execute(t.users.update().where(t.users.c.user_id == user_id)
                                 .values(**values, updated_at=now)).rowcount
            if not changed:
                try:
                    with db.begin_nested():
                        db.execute(t.users.insert().values(user_id=user_id, updated_at=now, **values))
                except IntegrityError:
                    db.execute(t.users.update().where(t.users.c.user_id == user_id).values(**values, updated_at=now))

    def seen_user(self, user_id: int, chat_id: int | None) -> None:
        """The user wrote or started the bot: reachable again, and their dialog chat known."""
        values: dict[str, Any] = {"unreachable_at": None}
        if chat_id:
            values["chat_id"] = chat_id
        self._upsert_user(user_id, values)

    def save_phone(self, user_id: int, phone: str) -> None:
        self._upsert_user(user_id, {"phone": self._sealer.seal({"phone": phone})})

    def link(self, user_id: int, account: Account) -> None:
        self._upsert_user(user_id, {"person": self._sealer.seal(account.to_json()),
                                    "person_key": self.person_key(account.user.snils), "linked_at": self._clock()})
        keys = {self.person_key(p.snils) for p in (account.user, *account.children)}
        with self._store.engine.begin() as db:
            db.execute(t.user_patients.delete().where(t.user_patients.c.user_id == user_id))
            db.execute(t.user_patients.insert(), [{"user_id": user_id, "patient_key": k} for k in sorted(keys)])

    def unlink(self, user_id: int) -> None:
        self._upsert_user(user_id, {"person": None, "person_key": None, "linked_at": None})
        with self._store.engine.begin() as db:
            db.execute(t.user_patients.delete().where(t.user_patients.c.user_id == user_id))

    def mark_unreachable(self, user_id: int) -> None:
        self._upsert_user(user_id, {"unreachable_at": self._clock()})

    def users_for_patient(self, snils: str) -> list[LinkedUser]:
        """Linked users who may act for the patient: the patient, a parent (ЕСИА child), a representative."""
        key = self.person_key(snils)
        with self._store.engine.connect() as db:
            reps = sa.select(t.representations.c.representative_key).where(t.representations.c.patient_key == key)
            ids = {r.user_id for r in db.execute(
                sa.select(t.user_patients.c.user_id).where(t.user_patients.c.patient_key == key)
                .union(sa.select(t.users.c.user_id).where(t.users.c.person_key.in_(reps))))}
        return [u for u in (self.user(i) for i in sorted(ids)) if u is not None and u.account is not None]

    # --- representations (from the МИС) --------------------------------------------------------------

    def represent(self, representative_snils: str, patient: Person) -> None:
        rep, key = self.person_key(representative_snils), self.person_key(patient.snils)
        sealed = self._sealer.seal(patient.to_json())
        now = self._clock()
        with self._store.engine.begin() as db:
            db.execute(t.representations.delete().where(t.representations.c.representative_key == rep,
                                                        t.representations.c.patient_key == key))
            db.execute(t.representations.insert().values(representative_key=rep, patient_key=key, patient=sealed,
                                                         updated_at=now))

    def withdraw_representation(self, representative_snils: str, patient_snils: str) -> bool:
        with self._store.engine.begin() as db:
            return bool(db.execute(t.representations.delete().where(
                t.representations.c.representative_key == self.person_key(representative_snils),
                t.representations.c.patient_key == self.person_key(patient_snils))).rowcount)

    def represented_by(self, representative_snils: str) -> list[Person]:
        with self._store.engine.connect() as db:
            rows = db.execute(sa.select(t.representations.c.patient).where(
                t.representations.c.representative_key == self.person_key(representative_snils))).all()
        return sorted((Person.from_json(self._sealer.open(r.patient)) for r in rows), key=lambda p: p.full_name)

    # --- dialogs ----------------------------------------------------------------------------------

    def dialog(self, user_id: int) -> Dialog | None:
        with self._store.engine.connect() as db:
            row = db.execute(sa.select(t.dialogs).where(t.dialogs.c.user_id == user_id)).first()
        if row is None:
            return None
        return Dialog(row.user_id, row.session, dict(row.state), row.message_id, row.version, as_utc(row.updated_at))

    def start_dialog(self, user_id: int, state: dict[str, Any], message_id: str | None) -> Dialog:
        """A fresh session (new session id): older buttons stop working."""
        now, session = self._clock(), secrets.token_hex(4)
        with self._store.engine.begin() as db:
            db.execute(t.dialogs.delete().where(t.dialogs.c.user_id == user_id))
            db.execute(t.dialogs.insert().values(user_id=user_id, session=session, state=state,
                                                 message_id=message_id, version=1, updated_at=now))
        return Dialog(user_id, session, state, message_id, 1, now)

    def save_dialog(self, dialog: Dialog, state: dict[str, Any], message_id: str | None) -> Dialog | None:
        """Move the dialog on if nobody else did since it was read; None when someone did."""
        now = self._clock()
        with self._store.engine.begin() as db:
            changed = db.execute(t.dialogs.update().where(t.dialogs.c.user_id == dialog.user_id,
                                                          t.dialogs.c.version == dialog.version)
                                 .values(state=state, message_id=message_id, version=dialog.version + 1,
                                         updated_at=now)).rowcount
        if not changed:
            return None
        return Dialog(dialog.user_id, dialog.session, state, message_id, dialog.version + 1, now)

    def active_dialogs(self, within: timedelta) -> int:
        with self._store.engine.connect() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(t.dialogs)
                                  .where(t.dialogs.c.updated_at >= self._clock() - within)).scalar_one())

    # --- seen updates (MAX redelivers) ----------------------------------------------------------------

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen by any instance."""
        try:
            with self._store.engine.begin() as db:
                db.execute(t.seen_updates.insert().values(key=key[:160], seen_at=self._clock()))
        except IntegrityError:
            return False
        return True

    def forget(self, key: str) -> None:
        """Handling failed: let MAX's redelivery be handled afresh."""
        with self._store.engine.begin() as db:
            db.execute(t.seen_updates.delete().where(t.seen_updates.c.key == key[:160]))

    def purge_seen(self, older_than: timedelta) -> int:
        with self._store.engine.begin() as db:
            return int(db.execute(t.seen_updates.delete().where(
                t.seen_updates.c.seen_at < self._clock() - older_than)).rowcount)
