"""The reminders of seed 004 §6к: a day and 15 minutes before, the second with the consultation chat link.

Each reminder is an outbox message (kind ``tmk.reminder``) due at its moment. The outbox's
workers claim it under a lease on one instance, so it goes out once; a bridge that was down sends
it late on return — unless the consultation has started (never after the start) or, for the day-ahead
one, the 15-minute reminder is already due (one reminder, not two at once).

MAX has no idempotency: if an instance died after MAX took the message but before the outbox
recorded it, the next attempt first looks in the user's dialog (GET /messages) for a reminder
carrying this booking's mark, and sends only if there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.max import CallbackButton, InlineKeyboard, LinkButton, MaxApiError, MaxBot, NewMessage, UserUnreachable
from adapters.tmk import _metrics
from adapters.tmk._bookings import BEFORE, BOOKED, Booking, Bookings
from adapters.tmk._chats import ChatUnavailable, ConsultationChats
from adapters.tmk._records import Records
from adapters.tmk._screens import moment_text
from bridge.delivery import UpstreamUnavailable
from bridge.observability import get_logger
from bridge.outbox import Delivered, OutboxMessage, Outcome, Rejected, Retry

_log = get_logger("adapters.tmk")
LATE_AFTER = timedelta(seconds=60)
HEADLINE = {"24h": "Напоминание: завтра у вас телемедицинская консультация.",
            "15m": "Через 15 минут начнётся телемедицинская консультация."}


def mark(booking: Booking, kind: str) -> str:
    """The payload of the reminder's button: how a reminder is recognised in the dialog later."""
    return f"remind|{booking.number}|{kind}"


class Reminders:
    def __init__(self, bot: MaxBot, bookings: Bookings, records: Records, chats: ConsultationChats,
                 conditions: str, clock: Callable[[], datetime], local_time: Callable[[datetime], datetime]) -> None:
        self._bot = bot
        self._bookings = bookings
        self._records = records
        self._chats = chats
        self._conditions = conditions
        self._clock = clock
        self._local = local_time

    def deliver(self, message: OutboxMessage) -> Outcome:
        kind = str(message.payload.get("kind"))
        booking = self._bookings.get(str(message.payload.get("booking")))
        if kind not in BEFORE or booking is None:
            return Rejected("reminder.unknown", "no such booking or reminder kind")
        if booking.state != BOOKED:
            _metrics.REMINDERS.labels(kind, "cancelled").inc()
            return Rejected("reminder.cancelled", f"the booking is {booking.state}")
        now = self._clock()
        if now >= booking.start_at:
            _metrics.REMINDERS.labels(kind, "skipped_started").inc()
            return Rejected("reminder.too_late", "the consultation has started: a reminder now would mislead")
        if kind == "24h" and now >= booking.start_at - BEFORE["15m"]:
            _metrics.REMINDERS.labels(kind, "superseded").inc()
            return Rejected("reminder.superseded", "the 15-minute reminder is due: one reminder, not two")
        user = self._records.user(booking.user_id)
        if (message.attempts > 1 and user is not None and user.chat_id
                and self._already_sent(user.chat_id, booking, kind)):
            return Delivered()
        link = None
        if kind == "15m":
            try:
                link = self._chats.ensure(booking).get("link")
            except (ChatUnavailable, UpstreamUnavailable, MaxApiError) as exc:
                _log.warning("tmk.chat.failed", booking=booking.number, error=type(exc).__name__)
                return Retry("the consultation chat could not be made yet", "chat.unavailable")
        try:
            self._bot.send_message(self.text(booking, kind, link), user_id=booking.user_id)
        except UserUnreachable:
            self._records.mark_unreachable(booking.user_id)
            _metrics.REMINDERS.labels(kind, "unreachable").inc()
            return Rejected("chat.denied", "the user stopped the bot")
        lateness = (now - (booking.start_at - BEFORE[kind])).total_seconds()
        _metrics.REMINDER_LATENESS.labels(kind).observe(max(lateness, 0.0))
        _metrics.REMINDERS.labels(kind, "late" if lateness > LATE_AFTER.total_seconds() else "sent").inc()
        return Delivered()

    def _already_sent(self, chat_id: int, booking: Booking, kind: str) -> bool:
        wanted = mark(booking, kind)
        try:
            history = self._bot.messages(chat_id, count=50)
        except (MaxApiError, UpstreamUnavailable):
            return False
        return any(m.is_bot and wanted in m.callback_payloads for m in history)

    def text(self, booking: Booking, kind: str, link: str | None) -> NewMessage:
        details = booking.details
        lines = [
            HEADLINE[kind],
            f"Дата и время: {moment_text(self._local(booking.start_at))}",
            f"Пациент: {booking.patient.short_name}",
            f"Медицинская организация: {details.get('lpu_full') or details.get('lpu')}",
            f"Врач: {booking.doctor.get('name')} ({details.get('speciality')})",
            f"Цель: {details.get('goal')}",
            f"Порядок и условия: {self._conditions}",
            f"Номер записи: {booking.number}",
        ]
        rows: list[list[LinkButton | CallbackButton]] = []
        if link:
            lines.insert(1, "Ссылка на чат консультации — кнопка ниже.")
            rows.append([LinkButton("Перейти в чат консультации", link)])
        rows.append([CallbackButton("Предстоящие записи", mark(booking, kind))])
        return NewMessage("\n".join(lines), keyboard=InlineKeyboard.of(*rows))
