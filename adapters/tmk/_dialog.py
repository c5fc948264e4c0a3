"""The conversation: MAX updates in, screens out (seed 004 §5–6).

Navigation edits the pressed message (PUT /messages) and answers the press (POST /answers) with a
short notice; a new message is sent only when the user writes, starts the bot, or links their
account. Dialog state is in the store (``Records``): it survives restarts, moves between
instances, and expires after ``ttl`` of inactivity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.max import (
    BotStarted,
    BotStopped,
    MaxApiError,
    MaxBot,
    MessageCallback,
    MessageCreated,
    NewMessage,
    Update,
    UserUnreachable,
)
from adapters.tmk import _metrics
from adapters.tmk._booking_step import BookingStep
from adapters.tmk._flow import BookingFlow, Step, StepProblem
from adapters.tmk._identity import Identity, LinkOutcome
from adapters.tmk._people import Account, normalise_phone
from adapters.tmk._records import Dialog, LinkedUser, Records
from adapters.tmk._screens import BACK, MENU, Screens
from adapters.tmk._upcoming import Upcoming
from bridge.observability import get_logger

_log = get_logger("adapters.tmk")
MENU_OFFERED = {"p:self": "Себя", "p:other": "Другого человека"}


def menu_state() -> dict[str, Any]:
    return {"screen": "menu", "trail": ["menu"], "offered": dict(MENU_OFFERED)}


class Conversation:
    def __init__(self, bot: MaxBot, records: Records, identity: Identity, flow: BookingFlow, booking: BookingStep,
                 upcoming: Upcoming, ttl: timedelta, clock: Callable[[], datetime]) -> None:
        self._bot = bot
        self._records = records
        self._identity = identity
        self._flow = flow
        self._booking = booking
        self._upcoming = upcoming
        self._ttl = ttl
        self._clock = clock

    # --- updates -----------------------------------------------------------------------------------

    def handle(self, update: Update) -> str:
        """Act on one update; returns the outcome label for metrics (handled / ignored)."""
        if isinstance(update, BotStarted):
            self._records.seen_user(update.user.user_id, update.chat_id)
            self._fresh(update.user.user_id)
        elif isinstance(update, BotStopped):
            self._records.mark_unreachable(update.user.user_id)
        elif isinstance(update, MessageCreated):
            message = update.message
            if message.sender is None or message.sender.is_bot or message.chat_type not in (None, "dialog"):
                return "ignored"
            user_id = message.sender.user_id
            self._records.seen_user(user_id, message.chat_id)
            contact = message.contact
            if contact is not None:
                self._contact(user_id, contact.phone)
            else:
                self._fresh(user_id)
        elif isinstance(update, MessageCallback):
            self._press(update)
        else:
            return "ignored"
        return "handled"

    def linked(self, outcome: LinkOutcome) -> None:
        """ЕСИА came back for a link: tell the user in MAX either way."""
        if outcome.user_id is None:
            return
        if outcome.account is None:
            self._send(outcome.user_id, Screens("x").problem(outcome.problem or "Вход не выполнен.", back=False))
            return
        self._fresh(outcome.user_id, note="Вход через Госуслуги выполнен.")

    # --- new messages ------------------------------------------------------------------------------

    def _fresh(self, user_id: int, note: str | None = None) -> None:
        """A new message with the screen the user is at: welcome, login link, or a new main menu."""
        user = self._records.user(user_id)
        if user is None or user.account is None:
            if user is None or user.phone is None:
                self._send(user_id, Screens("x").welcome())
            else:
                dialog = self._records.start_dialog(user_id, {"screen": "login", "trail": []}, None)
                self._send(user_id, Screens(dialog.session).login(self._identity.link_url(user_id),
                                                                   int(self._identity.ttl.total_seconds() // 60)))
            return
        dialog = self._records.start_dialog(user_id, menu_state(), None)
        sent = self._send(user_id, Screens(dialog.session).main_menu(user.account.user.short_name, note))
        if sent is not None:
            self._records.save_dialog(dialog, dialog.state, sent)

    def _contact(self, user_id: int, phone: str | None) -> None:
        normalised = normalise_phone(phone)
        if normalised is None:
            self._send(user_id, Screens.phone_invalid())
            return
        self._records.save_phone(user_id, normalised)
        self._records.unlink(user_id)   # a new phone: the ЕСИА link must be made again against it
        self._fresh(user_id)

    def _send(self, user_id: int, message: NewMessage) -> str | None:
        try:
            return self._bot.send_message(message, user_id=user_id).message_id
        except UserUnreachable:
            self._records.mark_unreachable(user_id)
            return None

    # --- presses -----------------------------------------------------------------------------------

    def _press(self, update: MessageCallback) -> None:
        user_id = update.user.user_id
        session, _, action = (update.payload or "").partition("|")
        user = self._records.user(user_id)
        dialog = self._records.dialog(user_id)
        mid = update.message.mid if update.message is not None else None
        if user is None or user.account is None:
            self._press_unlinked(update, user_id, action, mid)
            return
        who = user.account.user.short_name
        if session == "remind":   # under a reminder: a fresh dialog in a new message, the reminder kept
            mid = None
            dialog = self._records.start_dialog(user_id, menu_state(), None)
            session, action = dialog.session, "up"
        if dialog is None or session != dialog.session:
            fresh = self._records.start_dialog(user_id, menu_state(), mid)
            self._show(update, mid, Screens(fresh.session).stale(who), "Меню обновлено")
            return
        if self._clock() - dialog.updated_at > self._ttl:
            fresh = self._records.start_dialog(user_id, menu_state(), mid)
            self._show(update, mid, Screens(fresh.session).expired(int(self._ttl.total_seconds() // 60), who),
                       "Сеанс записи истёк")
            return
        if action == "ok" and dialog.state.get("screen") == "summary":
            claimed = self._records.save_dialog(dialog, {**dialog.state, "screen": "booking"}, mid)
            if claimed is None:
                self._answer(update, "Запись уже выполняется, подождите")
                return
            dialog = claimed
        state, screen, notice = self._next(user, dialog, action)
        if self._records.save_dialog(dialog, state, mid) is None:
            self._answer(update, "Подождите, предыдущее действие ещё выполняется")
            return
        self._show(update, mid, screen, notice)

    def _press_unlinked(self, update: MessageCallback, user_id: int, action: str, mid: str | None) -> None:
        user = self._records.user(user_id)
        if action == "relink" and user is not None and user.phone is not None:
            fresh = self._records.start_dialog(user_id, {"screen": "login", "trail": []}, mid)
            screen = Screens(fresh.session).login(self._identity.link_url(user_id),
                                                  int(self._identity.ttl.total_seconds() // 60))
            self._show(update, mid, screen, "Новая ссылка готова")
            return
        self._answer(update, "Сначала войдите через Госуслуги")
        self._fresh(user_id)

    def _show(self, update: MessageCallback, mid: str | None, screen: NewMessage, notice: str) -> None:
        try:
            if mid:
                self._bot.edit_message(mid, screen)
            else:
                self._bot.send_message(screen, user_id=update.user.user_id)
        except UserUnreachable:
            self._records.mark_unreachable(update.user.user_id)
            return
        self._answer(update, notice)

    def _answer(self, update: MessageCallback, notice: str) -> None:
        try:
            self._bot.answer_callback(update.callback_id, notification=notice)
        except MaxApiError as exc:   # an expired callback: the screen is already right
            _log.info("tmk.answer.failed", code=exc.code)

    # --- the state machine -------------------------------------------------------------------------

    def _next(self, user: LinkedUser, dialog: Dialog, action: str) -> tuple[dict[str, Any], NewMessage, str]:
        """The new state, the screen to show, and the short notice for the press."""
        account = user.account
        assert account is not None
        state = dict(dialog.state)
        screens = Screens(dialog.session)
        trail: list[str] = list(state.get("trail") or [])
        offered: dict[str, str] = dict(state.get("offered") or {})
        if action == MENU:
            return menu_state(), screens.main_menu(account.user.short_name), "Главное меню"
        if action == "up":
            state.update(screen="upcoming", trail=["menu"], offered={})
            return state, screens.upcoming(self._upcoming.entries(user.user_id)), "Предстоящие записи"
        if action == BACK:
            if state.get("screen") == "problem" or state.get("screen") == "upcoming":
                target = trail[-1] if trail else "menu"
            else:
                target = trail[-2] if len(trail) >= 2 else "menu"
            trail = trail[: trail.index(target) + 1] if target in trail else []
            state["trail"] = trail[:-1] if trail else []
            return self._render(account, screens, state, target, "Назад")
        if action == "ok" and state.get("screen") == "booking":
            return self._booking.confirm(user.user_id, account, screens, state, self._flow)
        if action not in offered:
            current = str(state.get("screen") or "menu")
            if current in ("problem", "booked", "upcoming", "booking"):
                current = "menu"
            state["trail"] = trail[:-1] if trail and trail[-1] == current else trail
            return self._render(account, screens, state, current, "Меню обновлено")
        label = offered[action]
        kind, _, value = action.partition(":")
        chosen = self._choose(state, kind, value, label)
        return self._render(account, screens, state, chosen, label)

    @staticmethod
    def _choose(state: dict[str, Any], kind: str, value: str, label: str) -> str:
        """Record a choice; the screen that follows it."""
        if kind == "p":
            if value == "other":
                return "patient"
            state.update(who=value)
            return "goal"
        if kind == "g":
            state.update(goal=int(value))
            return "speciality"
        if kind == "s":
            state.update(speciality={"id": value, "name": label})
            return "mo"
        if kind == "m":
            state.update(lpu={"id": int(value), "name": label})
            return "doctor"
        if kind == "d":
            state.update(doctor={"id": value, **(state.get("doctors") or {}).get(value, {"name": label})})
            return "date"
        if kind == "t":
            state.update(date=value)
            return "slot"
        if kind == "a":
            state.update(slot={"id": value, **(state.get("slots") or {}).get(value, {})})
            return "summary"
        return "menu"

    def _render(self, account: Account, screens: Screens, state: dict[str, Any], target: str,
                notice: str) -> tuple[dict[str, Any], NewMessage, str]:
        trail: list[str] = list(state.get("trail") or [])
        try:
            message, offered = self._screen(account, screens, state, target)
        except StepProblem as problem:
            _metrics.DIALOG_ERRORS.labels(problem.step).inc()
            state.update(screen="problem", offered={}, trail=trail)
            return state, screens.problem(problem.text), "Не получилось"
        if target == "menu":
            trail = []
        trail.append(target)
        state.update(screen=target, offered=offered, trail=trail)
        return state, message, notice

    def _screen(self, account: Account, screens: Screens, state: dict[str, Any],
                target: str) -> tuple[NewMessage, dict[str, str]]:
        flow = self._flow
        if target == "menu":
            return screens.main_menu(account.user.short_name), dict(MENU_OFFERED)
        if target == "summary":
            return self._booking.summary(account, screens, state, flow), {"ok": "Записаться"}
        step: Step
        if target == "patient":
            step = flow.patient_step(account)
        elif target == "goal":
            step = flow.goal_step()
        elif target == "speciality":
            step = flow.speciality_step()
        elif target == "mo":
            step = flow.mo_step(state["speciality"]["id"], state["speciality"]["name"])
        elif target == "doctor":
            ref = flow.identify(state["lpu"]["id"], flow.patient(account, state.get("who", "self")))
            state["patient_id"] = ref.patient_id
            step, state["doctors"] = flow.doctor_step(state["lpu"]["id"], state["speciality"]["id"], ref)
        elif target == "date":
            step = flow.date_step(state["lpu"]["id"], state["doctor"]["id"], self._booking.ref(state))
        elif target == "slot":
            day = datetime.fromisoformat(state["date"]).date()
            step, state["slots"] = flow.slot_step(state["lpu"]["id"], state["doctor"]["id"], day,
                                                  self._booking.ref(state))
        else:
            return screens.main_menu(account.user.short_name), dict(MENU_OFFERED)
        return screens.choices(step.text, step.options, step.per_row), {o.action: o.label for o in step.options}
