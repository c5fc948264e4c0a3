"""What the МИС tells the bot to pass on (seed 004 §6м, §7): an invitation to a ТМК to close a sick leave,
a consultation finished, a booking cancelled; and whom a user legally represents.

The patient is found by SNILS among linked users (themself, an ЕСИА parent, a representative the
МИС registered). A notice reaches those who started the bot; the answer says how many it reached,
so the МИС can use another channel for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.max import InlineKeyboard, MaxBot, NewMessage, UserUnreachable
from adapters.tmk import _metrics
from adapters.tmk._bookings import BOOKED, CANCELLED, FINISHED, REMINDER, Booking, Bookings
from adapters.tmk._people import Person
from adapters.tmk._records import LinkedUser, Records
from adapters.tmk._screens import Screens, moment_text
from bridge.delivery import UpstreamUnavailable
from bridge.errors import InvalidField, RuleViolation
from bridge.outbox import Outbox
from bridge.soap import current_caller


@dataclass(frozen=True)
class NoticeResult:
    delivered: int
    reason: str | None       # why some or all did not get it, in plain words


class Notices:
    def __init__(self, bot: MaxBot, records: Records, bookings: Bookings, outbox: Outbox,
                 clock: Callable[[], datetime], local_time: Callable[[datetime], datetime],
                 lpu_oid: Callable[[int], str | None] = lambda _: None) -> None:
        self._lpu_oid = lpu_oid        # IdLPU → MO OID (GetLPUList), to keep a МИС client to its MOs
        self._outbox = outbox
        self._bot = bot
        self._records = records
        self._bookings = bookings
        self._clock = clock
        self._local = local_time

    def invite_for_sick_leave(self, patient_snils: str, sick_leave: str, doctor: str,
                              speciality: str | None) -> NoticeResult:
        users = self._records.users_for_patient(patient_snils)
        delivered = 0
        for user in users:
            who, name = self._who(user, patient_snils)
            dialog = self._records.start_dialog(user.user_id, {"screen": "menu", "trail": ["menu"],
                                                               "offered": {f"p:{who}": "Записаться на ТМК"}}, None)
            screens = Screens(dialog.session)
            text = (f"Врач {doctor}{f' ({speciality})' if speciality else ''} приглашает на телемедицинскую "
                    f"консультацию, чтобы закрыть листок нетрудоспособности № {sick_leave} (пациент: {name}).\n"
                    "Запишитесь на удобное время: кнопка ниже.")
            message = NewMessage(text, keyboard=InlineKeyboard.of([screens.button("Записаться на ТМК", f"p:{who}")],
                                                                  [screens.button("Главное меню", "menu")]))
            if self._send(user, message, "sick_leave_invitation"):
                delivered += 1
        return self._result(users, delivered)

    def consultation_finished(self, lpu_id: int, visit_id: str, start: datetime, end: datetime, goal: str | None,
                              doctor: str) -> NoticeResult:
        booking = self._booking(lpu_id, visit_id)
        self._bookings.set_state(booking.id, FINISHED)
        user = self._records.user(booking.user_id)
        text = (f"Телемедицинская консультация завершена.\nНачало: {moment_text(start)}\n"
                f"Окончание: {moment_text(end)}\n"
                f"Цель: {goal or booking.details.get('goal')}\nВрач: {doctor}\nПациент: {booking.patient.short_name}\n"
                f"Номер записи: {booking.number}")
        sent = user is not None and self._send(user, NewMessage(text), "consultation_finished")
        return NoticeResult(1 if sent else 0, None if sent else "пользователь остановил бот или не подключён")

    def booking_cancelled(self, lpu_id: int, visit_id: str, reason: str | None) -> NoticeResult:
        booking = self._booking(lpu_id, visit_id)
        if booking.state != BOOKED:
            done = "отменена" if booking.state == CANCELLED else "завершена"
            raise RuleViolation("BookingNotActive", f"запись уже {done}")
        self._bookings.set_state(booking.id, CANCELLED)   # its reminders see this and are not sent
        user = self._records.user(booking.user_id)
        text = (f"Запись на телемедицинскую консультацию отменена медицинской организацией.\n"
                f"{moment_text(self._local(booking.start_at))} — {booking.details.get('speciality')}, "
                f"врач {booking.doctor.get('name')}. Пациент: {booking.patient.short_name}.\n"
                f"{f'Причина: {reason}. ' if reason else ''}Номер записи: {booking.number}")
        sent = user is not None and self._send(user, NewMessage(text), "booking_cancelled")
        return NoticeResult(1 if sent else 0, None if sent else "пользователь остановил бот или не подключён")

    def register_representative(self, representative_snils: str, patient: Person) -> None:
        self._records.represent(representative_snils, patient)

    def withdraw_representative(self, representative_snils: str, patient_snils: str) -> bool:
        return self._records.withdraw_representation(representative_snils, patient_snils)

    def undelivered_reminders(self, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """Reminders due since ``since`` that did not reach the user because they stopped the bot:
        the МИС reaches those patients another way. No personal data: the МО and the visit."""
        found = []
        for message in self._outbox.list(state="rejected", kind=REMINDER, limit=limit):
            if message.last_error_code != "chat.denied" or message.created_at < since:
                continue
            booking = self._bookings.get(str(message.payload.get("booking")))
            allowed = current_caller().mos
            if booking is not None and (allowed is None or self._lpu_oid(booking.lpu_id) in allowed):
                found.append({"LpuId": booking.lpu_id, "VisitId": booking.visit_id, "Kind": message.payload["kind"],
                              "DueAt": message.created_at, "Reason": "пользователь остановил бот в MAX"})
        return found

    # --- helpers ---------------------------------------------------------------------------------

    def _booking(self, lpu_id: int, visit_id: str) -> Booking:
        booking = self._bookings.by_visit(lpu_id, visit_id)
        allowed = current_caller().mos
        if booking is not None and allowed is not None and self._lpu_oid(lpu_id) not in allowed:
            booking = None   # another MO's booking: to this client it does not exist
        if booking is None:
            raise InvalidField("VisitId", "запись с таким идентификатором в этой МО не делалась через бот")
        return booking

    @staticmethod
    def _who(user: LinkedUser, snils: str) -> tuple[str, str]:
        account = user.account
        assert account is not None
        if account.user.snils == snils:
            return "self", account.user.short_name
        for i, child in enumerate(account.children):
            if child.snils == snils:
                return f"child:{i}", child.short_name
        return "other", "ваш подопечный"

    def _send(self, user: LinkedUser, message: NewMessage, kind: str) -> bool:
        try:
            self._bot.send_message(message, user_id=user.user_id)
        except UserUnreachable:
            self._records.mark_unreachable(user.user_id)
            _metrics.NOTIFICATIONS.labels(kind, "unreachable").inc()
            return False
        except UpstreamUnavailable:
            _metrics.NOTIFICATIONS.labels(kind, "failed").inc()
            return False
        _metrics.NOTIFICATIONS.labels(kind, "sent").inc()
        return True

    @staticmethod
    def _result(users: list[LinkedUser], delivered: int) -> NoticeResult:
        if not users:
            return NoticeResult(0, "пациент (и его представители) не подключили бот записи в MAX")
        if delivered < len(users):
            return NoticeResult(delivered, "часть получателей остановила бот или MAX недоступен")
        return NoticeResult(delivered, None)
