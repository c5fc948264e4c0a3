"""The consultation chat, created 15 minutes before the start with the doctor and the patient's side.

Where it lives is configuration (seed 004 §7): a Sferum chat (``educationSchool.createChat`` and
``addChatUsers`` by phone: the doctor as teacher/admin, the user who booked as student/member), or
a MAX group the region pre-created with the bot as admin (taken from a pool, one per consultation,
members added by MAX user id). The chat is written to the booking as soon as it exists, so a retry
adds members to the same chat instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from adapters.max import MaxBot
from adapters.sferum import ChatUser, SferumClient
from adapters.tmk import _metrics
from adapters.tmk import _tables as t
from adapters.tmk._bookings import Booking, Bookings
from bridge.store import Store


class ChatUnavailable(Exception):
    """No chat could be made now (pool empty, a member missing): the reminder is retried."""


def _short(name: str) -> str:
    parts = name.split()
    return parts[0] + (" " + " ".join(f"{p[0]}." for p in parts[1:]) if len(parts) > 1 else "")


class ConsultationChats:
    def __init__(self, platform: str, bookings: Bookings, store: Store, bot: MaxBot, sferum: SferumClient | None,
                 user_phone: Callable[[int], str | None], local_time: Callable[[datetime], datetime]) -> None:
        self.platform = platform
        self._bookings = bookings
        self._store = store
        self._bot = bot
        self._sferum = sferum
        self._user_phone = user_phone
        self._local = local_time

    def ensure(self, booking: Booking) -> dict[str, Any]:
        """The booking's chat with its members in; made now if it has none."""
        try:
            chat = self._sferum_chat(booking) if self.platform == "sferum" else self._max_chat(booking)
        except Exception:
            _metrics.CHATS.labels(self.platform, "failed").inc()
            raise
        if booking.chat is None:
            _metrics.CHATS.labels(self.platform, "created").inc()
        return chat

    def title(self, booking: Booking) -> str:
        start = self._local(booking.start_at)
        return (f"ТМК {start:%d.%m.%Y %H:%M} врач {_short(str(booking.doctor.get('name', '')))} — "
                f"пациент {booking.patient.short_name}")

    def _sferum_chat(self, booking: Booking) -> dict[str, Any]:
        assert self._sferum is not None
        chat = booking.chat
        if chat is None:
            made = self._sferum.create_chat(self.title(booking))
            chat = {"platform": "sferum", "chat_id": made.chat_id, "link": made.invite_link}
            self._bookings.set_chat(booking.id, chat)
        users = []
        doctor_phone = booking.doctor.get("phone")
        if doctor_phone:
            users.append(ChatUser(phone=str(doctor_phone), chat_role="teacher", member_role="admin"))
        phone = self._user_phone(booking.user_id)
        if phone:
            users.append(ChatUser(phone=phone, chat_role="student", member_role="member"))
        if not users:
            raise ChatUnavailable("neither the doctor nor the patient has a phone for Sferum")
        self._sferum.add_chat_users(int(chat["chat_id"]), users)
        return chat

    def _max_chat(self, booking: Booking) -> dict[str, Any]:
        chat = booking.chat
        if chat is None:
            chat_id = self._take_from_pool(booking.id)
            link = self._bot.chat(chat_id).link
            chat = {"platform": "max", "chat_id": chat_id, "link": link}
            self._bookings.set_chat(booking.id, chat)
        members = [booking.user_id]
        if booking.doctor.get("messenger"):
            members.insert(0, int(booking.doctor["messenger"]))
        self._bot.add_chat_members(int(chat["chat_id"]), members)
        return chat

    def _take_from_pool(self, booking_id: str) -> int:
        """One free pre-created chat, for this booking only (atomic across instances)."""
        with self._store.engine.begin() as db:
            held = db.execute(sa.select(t.chat_pool.c.chat_id).where(t.chat_pool.c.booking_id == booking_id)).scalar()
            if held is not None:
                return int(held)
            for _ in range(5):
                free = db.execute(sa.select(t.chat_pool.c.chat_id).where(t.chat_pool.c.booking_id.is_(None))
                                  .order_by(t.chat_pool.c.chat_id).limit(1)).scalar()
                if free is None:
                    raise ChatUnavailable("no free pre-created MAX chat left in the pool "
                                          "(adapter_settings.max.max_chats)")
                taken = db.execute(t.chat_pool.update().where(t.chat_pool.c.chat_id == free,
                                                              t.chat_pool.c.booking_id.is_(None))
                                   .values(booking_id=booking_id, assigned_at=sa.func.now())).rowcount
                if taken:
                    return int(free)
        raise ChatUnavailable("could not take a chat from the pool")

    def seed_pool(self, chat_ids: list[int]) -> None:
        """Add configured chats to the pool (chats already there keep their booking)."""
        for chat_id in chat_ids:
            try:
                with self._store.engine.begin() as db:
                    if db.execute(sa.select(t.chat_pool.c.chat_id).where(t.chat_pool.c.chat_id == chat_id)).first():
                        continue
                    db.execute(t.chat_pool.insert().values(chat_id=chat_id, booking_id=None, assigned_at=None))
            except IntegrityError:
                continue   # another instance added it at the same moment
