"""The last two steps: the summary with the ТМК conditions (seed 004 §6ж, и), and the booking itself (§6з)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from adapters.hubservice import PatientRef, ScheduleClient, ScheduleRefused
from adapters.max import NewMessage
from adapters.tmk import _metrics
from adapters.tmk._bookings import Bookings
from adapters.tmk._flow import UNAVAILABLE, BookingFlow
from adapters.tmk._people import Account
from adapters.tmk._screens import Screens, moment_text
from bridge.delivery import UpstreamUnavailable
from bridge.observability import get_logger

_log = get_logger("adapters.tmk")


class BookingStep:
    def __init__(self, schedule: ScheduleClient, bookings: Bookings, goals: list[str], conditions: str,
                 to_utc: Callable[[datetime], datetime], lpu_full_name: Callable[[int], str]) -> None:
        self._schedule = schedule
        self._bookings = bookings
        self._goals = goals
        self._conditions = conditions
        self._to_utc = to_utc
        self._lpu_full_name = lpu_full_name

    @staticmethod
    def ref(state: dict[str, Any]) -> PatientRef:
        return PatientRef(int(state["lpu"]["id"]), str(state["patient_id"]))

    def _goal(self, state: dict[str, Any]) -> str:
        index = int(state.get("goal", 0))
        return self._goals[index] if 0 <= index < len(self._goals) else "—"

    def conditions(self, state: dict[str, Any]) -> str:
        lpu = state["lpu"]
        return (f"{self._conditions} Медицинская организация, участвующая в консультации: "
                f"{self._lpu_full_name(int(lpu['id'])) or lpu['name']}. Консультант: {state['doctor']['name']}, "
                f"{state['speciality']['name']}.")

    def lines(self, account: Account, state: dict[str, Any], flow: BookingFlow) -> list[tuple[str, str]]:
        patient = flow.patient(account, state.get("who", "self"))
        start = datetime.fromisoformat(state["slot"]["start"])
        return [("Пациент", f"{patient.short_name}, {patient.birth_date:%d.%m.%Y}"),
                ("Медицинская организация", state["lpu"]["name"]),
                ("Специальность", state["speciality"]["name"]),
                ("Врач", state["doctor"]["name"]),
                ("Дата и время", moment_text(start)),
                ("Цель", self._goal(state))]

    def summary(self, account: Account, screens: Screens, state: dict[str, Any], flow: BookingFlow) -> NewMessage:
        return screens.summary(self.lines(account, state, flow), self.conditions(state))

    def confirm(self, user_id: int, account: Account, screens: Screens, state: dict[str, Any],
                flow: BookingFlow) -> tuple[dict[str, Any], NewMessage, str]:
        """SetAppointment; on success the booking with its reminders, on refusal the МИС's reason and the way back."""
        ref = self.ref(state)
        slot = state["slot"]
        patient = flow.patient(account, state.get("who", "self"))
        try:
            self._schedule.book(str(slot["id"]), ref)
        except (ScheduleRefused, UpstreamUnavailable) as exc:
            outcome = "refused" if isinstance(exc, ScheduleRefused) else "failed"
            _metrics.BOOKINGS.labels(outcome).inc()
            _metrics.DIALOG_ERRORS.labels("booking").inc()
            text = exc.message if isinstance(exc, ScheduleRefused) else UNAVAILABLE
            trail = [s for s in state.get("trail") or [] if s != "summary"]
            state.update(screen="problem", offered={}, trail=[*trail, "summary"])
            return state, screens.problem(f"Запись не выполнена. {text}"), "Запись не выполнена"
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        visit_id = self._visit_id(ref, start)
        details = {"lpu": state["lpu"]["name"], "lpu_full": self._lpu_full_name(int(state["lpu"]["id"])),
                   "speciality": state["speciality"]["name"], "goal": self._goal(state),
                   "doctor": {k: state["doctor"].get(k) for k in ("id", "name", "messenger", "phone")}}
        booking = self._bookings.create(user_id=user_id, patient=patient, lpu_id=ref.lpu_id, visit_id=visit_id,
                                        slot_id=str(slot["id"]), details=details, start_at=self._to_utc(start),
                                        end_at=self._to_utc(end))
        _metrics.BOOKINGS.labels("booked").inc()
        _log.info("tmk.booked", booking=booking.number, lpu=ref.lpu_id)
        message = screens.booked(booking.number, self.lines(account, state, flow), self.conditions(state))
        return {"screen": "booked", "trail": ["menu"], "offered": {}}, message, "Вы записаны"

    def _visit_id(self, ref: PatientRef, start: datetime) -> str | None:
        """SetAppointment returns no id: the visit is found in the patient's history by its start."""
        try:
            for visit in self._schedule.history(ref):
                if visit.start.replace(tzinfo=None) == start.replace(tzinfo=None):
                    return visit.id
        except (ScheduleRefused, UpstreamUnavailable) as exc:
            _log.warning("tmk.visit.unknown", error=type(exc).__name__)
        return None

