"""«Предстоящие записи» (seed 004 §6л): the user's bookings, with the chat link from 15 minutes before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.tmk._bookings import Bookings
from adapters.tmk._screens import moment_text

LINK_FROM = timedelta(minutes=15)


class Upcoming:
    def __init__(self, bookings: Bookings, clock: Callable[[], datetime],
                 local_time: Callable[[datetime], datetime]) -> None:
        self._bookings = bookings
        self._clock = clock
        self._local = local_time

    def entries(self, user_id: int) -> list[tuple[str, str | None]]:
        now = self._clock()
        found = []
        for b in self._bookings.upcoming(user_id):
            text = (f"{moment_text(self._local(b.start_at))} — {b.details.get('speciality')}, "
                    f"врач {b.doctor.get('name')}, {b.details.get('lpu')}\nПациент: {b.patient.short_name}\n"
                    f"Цель: {b.details.get('goal')}\nНомер записи: {b.number}")
            link = b.chat.get("link") if b.chat and now >= b.start_at - LINK_FROM else None
            if link is None and now >= b.start_at - LINK_FROM:
                text += "\nСсылка на чат появится в ближайшие минуты."
            found.append((text, link))
        return found
