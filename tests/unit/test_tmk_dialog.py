"""The booking dialog in one process: the bot against the sandbox MAX and the sandbox МИС, and every
error branch of seed 004 §6 showing its message and the way back."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.hubservice import ScheduleClient, hubservice_upstream
from adapters.hubservice.sandbox import ScheduleStore, create_hubservice_wsgi
from adapters.max import MaxBot
from adapters.max.sandbox import BOT_USER_ID, MaxWorld, SandboxChat, create_sandbox_app
from adapters.sferum import SferumClient
from adapters.sferum.sandbox import SferumWorld, create_sferum_sandbox
from adapters.tmk import TmkBot, TmkSettings
from adapters.tmk import adapter as tmk_adapter
from adapters.tmk._people import Account, Person
from adapters.tmk.sandbox import MessengerUser
from bridge.adapters import migration_paths
from bridge.delivery import RetryPolicy, Upstream, UpstreamConfig
from bridge.outbox import Outbox
from bridge.store import OneTimeTokens, Pseudonymizer, Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN, SECRET, USER = "t-token", "webhook-secret-1", 700001


def _snils(first9: str) -> str:
    from bridge.identifiers import snils_check_digits
    return first9 + snils_check_digits(first9)


MOTHER = Person("Смирнова", "Анна", "Сергеевна", date(1988, 3, 14), _snils("137482915"))
SON = Person("Смирнов", "Артём", "Дмитриевич", date(2015, 9, 9), _snils("174893226"))


class Harness:
    def __init__(self, tmp: Path, goals: list[str] | None = None, platform: str = "max") -> None:
        self.now: datetime | None = None      # None: real time; set it to move the bot's clock
        self.schedule_store = ScheduleStore(today=datetime.now(UTC).date())
        self.world = MaxWorld(token=TOKEN)
        self.store = Store(f"sqlite:///{tmp / 'bridge.db'}")
        self.store.upgrade(migration_paths([tmk_adapter]))   # the bot's tables and the MAX client's
        self.bot_ref: list[TmkBot] = []

        def webhook(request: httpx.Request) -> httpx.Response:
            status = self.bot_ref[0].receive(dict(request.headers), request.content)
            return httpx.Response(status, json={})

        self.max_app = TestClient(create_sandbox_app(self.world, webhook_transport=httpx.MockTransport(webhook)))  # type: ignore[arg-type]
        self.max_app.__enter__()
        retry = RetryPolicy(max_attempts=2, backoff_initial=0.01, max_retry_after=1.0)
        max_up = Upstream(UpstreamConfig(name="max", base_url="http://testserver", retry=retry),
                          transport=self.max_app._transport)
        mis = hubservice_upstream(UpstreamConfig(name="hubservice", base_url="http://mis", retry=retry),
                                  httpx.WSGITransport(app=create_hubservice_wsgi(self.schedule_store)))
        self.world.chats[-1001] = SandboxChat(-1001, "ТМК", {BOT_USER_ID}, owner_id=BOT_USER_ID)
        self.world.user(502001, "Анна", "Михайлова").started = True
        self.sferum_world = SferumWorld(token="s-token")
        self.sferum_app = TestClient(create_sferum_sandbox(self.sferum_world))  # type: ignore[arg-type]
        self.sferum_app.__enter__()
        sferum = SferumClient(Upstream(UpstreamConfig(name="sferum", base_url="http://testserver", retry=retry),
                                       transport=self.sferum_app._transport), "s-token")
        settings = TmkSettings(token=TOKEN, webhook_secret=SECRET, public_url="http://bridge.test",
                               max_chats=[-1001], timezone="UTC", subscribe_on_start=False,
                               consultation_platform=platform, sferum={"token": "s-token"},
                               **({"goals": goals} if goals is not None else {}),
                               schedule={"guid": "g", "endpoint": "/hubservice"})
        secret = b"unit-test-secret-0123456789abcdef"
        def clock() -> datetime:
            return self.now or datetime.now(UTC)

        self.outbox = Outbox(self.store, clock=clock)
        self.tmk = TmkBot(settings, store=self.store, secret=secret, pseudonym=Pseudonymizer(secret),
                          tokens=OneTimeTokens(self.store, secret), outbox=self.outbox,
                          bot=MaxBot(max_up, TOKEN), schedule=ScheduleClient(mis, "g"), sferum=sferum, clock=clock)
        self.tmk.start()
        self.bot_ref.append(self.tmk)
        self.make_instance = lambda: TmkBot(
            settings, store=self.store, secret=secret, pseudonym=Pseudonymizer(secret),
            tokens=OneTimeTokens(self.store, secret), outbox=Outbox(self.store, clock=clock),
            bot=MaxBot(max_up, TOKEN), schedule=ScheduleClient(mis, "g"), sferum=sferum, clock=clock)
        self.max_app.post("/subscriptions", headers={"Authorization": TOKEN},
                          json={"url": "http://bridge.test/max/webhook", "secret": SECRET})
        self.user = MessengerUser("http://unused", USER)
        self.user._max = self.max_app  # type: ignore[assignment]

    def linked_user(self) -> MessengerUser:
        """A user who shared their phone and logged in through ЕСИА (the link made directly)."""
        self.user.start()
        self.tmk.records.save_phone(USER, "79132456718")
        self.tmk.records.link(USER, Account(MOTHER, (SON,), "79132456718"))
        self.user.write("привет")
        return self.user

    def close(self) -> None:
        self.max_app.__exit__(None, None, None)
        self.sferum_app.__exit__(None, None, None)
        self.store.dispose()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def _to_doctor(user: MessengerUser, speciality: str, mo: str, doctor: str, who: str = "child") -> None:
    if who == "child":
        user.press("Записать другого")
        user.press("Смирнов А.")
    else:
        user.press("Записать себя")
    user.press("Повторная")
    user.press(speciality)
    user.press(mo)
    assert user.press(doctor).text.startswith("Выберите дату")


def _problem(user: MessengerUser, words: str) -> None:
    screen = user.screen()
    assert words in screen.text, screen.text
    assert screen.labels() == ["← Назад", "Главное меню"], screen.labels()


def test_child_booking_edits_one_message_and_books_in_the_mis(harness: Harness) -> None:
    user = harness.linked_user()
    menu = user.screen()
    _to_doctor(user, "Педиатрия", "ДП", "Михайлова")
    first_date = user.screen().buttons[0]["text"]
    user.press(first_date)
    user.press(user.screen().buttons[0]["text"])
    summary = user.screen()
    assert "Пациент: Смирнов А. Д., 09.09.2015" in summary.text and "Детская поликлиника № 7" in summary.text
    booked = user.press("Согласен")
    assert booked.text.startswith("Вы записаны на ТМК") and booked.mid == menu.mid and booked.edits >= 9
    assert harness.schedule_store.visits(102, "10200002", datetime(2000, 1, 1))  # the child's visit in the МИС
    listing = harness.tmk.bookings.listing()
    assert len(listing) == 1 and listing[0]["visit_id"] and listing[0]["state"] == "booked"
    reminders = harness.outbox.list(kind="tmk.reminder")
    kinds = sorted(m.payload["kind"] for m in reminders)
    assert kinds in (["15m", "24h"], ["15m"])   # no day-ahead reminder for a booking less than a day ahead
    upcoming = user.press("Предстоящие записи")
    assert "Педиатрия" in upcoming.text and "Смирнов А. Д." in upcoming.text


def test_no_goals(tmp_path: Path) -> None:
    h = Harness(tmp_path, goals=[])
    try:
        user = h.linked_user()
        user.press("Записать себя")
        _problem(user, "нет целей консультации")
        assert user.press("← Назад").text.startswith("Главное меню")
    finally:
        h.close()


def test_no_specialities(harness: Harness) -> None:
    user = harness.linked_user()
    user.press("Записать себя")
    harness.schedule_store.take_all()
    user.press("Повторная")
    _problem(user, "нет специальностей")
    assert user.press("← Назад").text.startswith("Выберите цель")


def test_no_mos(harness: Harness) -> None:
    user = harness.linked_user()
    user.press("Записать себя")
    user.press("Повторная")
    harness.schedule_store.take_all(speciality_id="36")
    user.press("Кардиология")
    _problem(user, "Нет медицинских организаций")
    back = user.press("← Назад")
    assert back.text.startswith("Выберите специальность") and "Кардиология" not in back.labels()


def test_no_doctors_with_a_messenger_id(harness: Harness) -> None:
    user = harness.linked_user()
    user.press("Записать себя")
    user.press("Повторная")
    user.press("Хирургия")
    user.press("ГП")
    _problem(user, "нет врачей")
    assert user.press("← Назад").text.startswith("Выберите медицинскую")


def test_no_dates(harness: Harness) -> None:
    user = harness.linked_user()
    user.press("Записать себя")
    user.press("Повторная")
    user.press("Кардиология")
    user.press("КДЦ")
    harness.schedule_store.take_all(doctor_id="d1031")
    user.press("Фёдоров")
    _problem(user, "нет свободных дат")
    # back to the doctors: the МИС now lists КДЦ's only cardiologist as fully booked, so that step says so
    _problem(user.press("← Назад") and user, "нет врачей")
    assert user.press("← Назад").text.startswith("Выберите медицинскую")


def test_no_slots(harness: Harness) -> None:
    user = harness.linked_user()
    _to_doctor(user, "Педиатрия", "ДП", "Михайлова")
    first = next(b for b in user.screen().buttons if b["payload"].split("|")[1].startswith("t:"))
    harness.schedule_store.take_all(doctor_id="d1021", day=date.fromisoformat(first["payload"].split("t:")[1]))
    user.press(first["text"])
    _problem(user, "свободного времени для ТМК не осталось")
    back = user.press("← Назад")
    assert back.text.startswith("Выберите дату") and first["text"] not in back.labels()


def test_booking_refused_by_the_mis_age_rule(harness: Harness) -> None:
    user = harness.linked_user()
    _to_doctor(user, "Терапия", "ГП", "Смирнова О")   # an 11-year-old to an adults' therapist
    user.press(user.screen().buttons[0]["text"])
    user.press(user.screen().buttons[0]["text"])
    user.press("Согласен")
    _problem(user, "Запись не выполнена. К врачу этой специальности нельзя записать пациента такого возраста")
    assert user.press("← Назад").text.startswith("Проверьте запись")
    assert harness.tmk.bookings.listing() == []


def test_patient_not_in_the_mo_is_told_at_the_mo_step(harness: Harness) -> None:
    harness.tmk.records.link(USER, Account(Person("Неизвестная", "Ольга", "", date(1990, 1, 1), _snils("100200300")),
                                           (), "79132456718"))
    user = harness.user
    user.start()
    user.press("Записать себя")
    user.press("Повторная")
    user.press("Кардиология")
    user.press("ГП")
    _problem(user, "Пациент с такими данными не найден")


def test_stale_buttons_and_expiry(harness: Harness) -> None:
    user = harness.linked_user()
    old = user.screen()
    user.write("ещё раз")             # a new message: a new session
    payload = next(b["payload"] for b in old.buttons if b["text"].startswith("Записать себя"))
    harness.max_app.post(f"/_sandbox/max/users/{USER}/press", json={"payload": payload})
    # the sandbox only lets the last message be pressed: send the stale press as MAX would, by webhook
    body = {"update_type": "message_callback", "timestamp": 1, "callback": {
        "timestamp": 1, "callback_id": "stale-1", "payload": payload,
        "user": {"user_id": USER, "first_name": "Анна", "is_bot": False, "last_activity_time": 1}},
        "message": {"body": {"mid": old.mid, "seq": 1, "text": old.text}, "timestamp": 1,
                    "recipient": {"chat_id": 1, "chat_type": "dialog", "user_id": USER}}}
    assert harness.tmk.receive({"X-Max-Bot-Api-Secret": SECRET}, json.dumps(body).encode()) == 200
    assert "больше не действует" in harness.world.messages[old.mid].text


def test_webhook_without_the_secret_changes_nothing(harness: Harness) -> None:
    body = json.dumps({"update_type": "bot_started", "timestamp": 1, "chat_id": 5, "user": {
        "user_id": 4242, "first_name": "X", "is_bot": False, "last_activity_time": 1}}).encode()
    assert harness.tmk.receive({}, body) == 401
    assert harness.tmk.receive({"X-Max-Bot-Api-Secret": "wrong-secret"}, body) == 401
    assert harness.tmk.records.user(4242) is None
    assert harness.tmk.receive({"X-Max-Bot-Api-Secret": SECRET}, body) == 200
    assert harness.tmk.records.user(4242) is not None


def test_a_redelivered_update_is_handled_once(harness: Harness) -> None:
    user = harness.linked_user()
    before = len(user.messages())
    body = {"update_type": "message_created", "timestamp": 1, "message": {
        "body": {"mid": "mid.dup-1", "seq": 5, "text": "меню"}, "timestamp": 1,
        "sender": {"user_id": USER, "first_name": "Анна", "is_bot": False, "last_activity_time": 1},
        "recipient": {"chat_id": 1, "chat_type": "dialog", "user_id": USER}}}
    raw: Any = json.dumps(body).encode()
    for _ in range(3):
        assert harness.tmk.receive({"X-Max-Bot-Api-Secret": SECRET}, raw) == 200
    assert len(user.messages()) == before + 1


def _book_child(harness: Harness) -> Any:
    user = harness.linked_user()
    _to_doctor(user, "Педиатрия", "ДП", "Михайлова")
    user.press(last_date(user))      # days ahead: both reminders are due in the future
    user.press(user.screen().buttons[0]["text"])
    user.press("Согласен")
    booking = harness.tmk.bookings.listing()[0]
    return user, booking


def test_the_mis_cancels_a_booking_and_its_reminders_do_not_go(harness: Harness) -> None:
    user, booking = _book_child(harness)
    result = harness.tmk.notices.booking_cancelled(102, booking["visit_id"], "врач заболел")
    assert result.delivered == 1 and result.reason is None
    assert "отменена медицинской организацией" in user.screen().text and "врач заболел" in user.screen().text
    assert harness.tmk.bookings.listing()[0]["state"] == "cancelled"
    for message in harness.outbox.list(kind="tmk.reminder"):
        outcome = harness.tmk.reminders.deliver(message)
        assert type(outcome).__name__ == "Rejected" and outcome.code == "reminder.cancelled"  # type: ignore[union-attr]
    from bridge.errors import RuleViolation
    with pytest.raises(RuleViolation):
        harness.tmk.notices.booking_cancelled(102, booking["visit_id"], None)


def test_the_mis_says_the_consultation_finished(harness: Harness) -> None:
    user, booking = _book_child(harness)
    start = datetime.fromisoformat(booking["start_at"])
    result = harness.tmk.notices.consultation_finished(102, booking["visit_id"], start, start.replace(minute=25),
                                                       None, "Михайлова Анна Дмитриевна")
    assert result.delivered == 1
    text = user.screen().text
    assert text.startswith("Телемедицинская консультация завершена") and "Михайлова" in text and "Цель:" in text
    from bridge.errors import InvalidField
    with pytest.raises(InvalidField):
        harness.tmk.notices.consultation_finished(102, "V999999", start, start, None, "X")


def test_sick_leave_invitation_leads_into_the_dialog(harness: Harness) -> None:
    user = harness.linked_user()
    result = harness.tmk.notices.invite_for_sick_leave(MOTHER.snils, "910000000001", "Смирнова О. П.", "Терапия")
    assert result.delivered == 1
    assert "листок нетрудоспособности № 910000000001" in user.screen().text
    assert user.press("Записаться на ТМК").text.startswith("Выберите цель")
    nobody = harness.tmk.notices.invite_for_sick_leave(_snils("100200300"), "1", "X", None)
    assert nobody.delivered == 0 and nobody.reason and "не подключили" in nobody.reason


def test_a_represented_person_from_the_mis_is_offered(harness: Harness) -> None:
    ward = Person("Козлова", "Вера", "Ивановна", date(1941, 2, 3), _snils("123456795"))
    harness.tmk.notices.register_representative(MOTHER.snils, ward)
    user = harness.linked_user()
    labels = user.press("Записать другого").labels()
    assert any(label.startswith("Козлова В. И.") for label in labels)
    assert harness.tmk.notices.withdraw_representative(MOTHER.snils, ward.snils)
    user.press("← Назад")
    assert not any(label.startswith("Козлова") for label in user.press("Записать другого").labels())


def test_a_stopped_bot_marks_the_user_unreachable_and_the_mis_is_told(harness: Harness) -> None:
    user, booking = _book_child(harness)
    user.stop()
    result = harness.tmk.notices.booking_cancelled(102, booking["visit_id"], None)
    assert result.delivered == 0 and result.reason and "остановил" in result.reason
    assert harness.tmk.records.user(USER).unreachable  # type: ignore[union-attr]


def test_an_expired_dialog_starts_again_at_the_menu(harness: Harness) -> None:
    user = harness.linked_user()
    user.press("Записать себя")
    dialog = harness.tmk.records.dialog(USER)
    assert dialog is not None
    from adapters.tmk import _tables as t
    with harness.store.engine.begin() as db:
        db.execute(t.dialogs.update().values(updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
    screen = user.press("Повторная")
    assert "Запись прервана" in screen.text and screen.labels()[0] == "Записать себя на ТМК"


def last_date(user: MessengerUser) -> str:
    return user.choices("t")[-1]


def _reminders_sent(harness: Harness) -> dict[str, int]:
    counts = {"24h": 0, "15m": 0}
    for message in harness.world.bot_messages(USER):
        for attachment in message.attachments:
            for row in (attachment.get("payload") or {}).get("buttons") or []:
                for button in row:
                    if str(button.get("payload", "")).startswith("remind|"):
                        counts[str(button["payload"]).rsplit("|", 1)[1]] += 1
    return counts


def test_reminders_go_late_when_the_bridge_was_down_and_never_twice(harness: Harness) -> None:
    _, booking = _book_child(harness)
    start = datetime.fromisoformat(booking["start_at"])
    harness.now = start - timedelta(hours=20)           # down through the 24-hour mark: four hours late
    harness.outbox.run_once("w1")
    assert _reminders_sent(harness) == {"24h": 1, "15m": 0}
    harness.now = start - timedelta(minutes=10)          # and through the 15-minute mark
    harness.outbox.run_once("w1")
    harness.outbox.run_once("w2")
    assert _reminders_sent(harness) == {"24h": 1, "15m": 1}
    assert harness.tmk.bookings.listing()[0]["chat"] == {"platform": "max", "chat_id": -1001}
    assert {502001, USER} <= harness.world.chats[-1001].members


def test_a_missed_day_ahead_reminder_gives_way_to_the_fifteen_minute_one(harness: Harness) -> None:
    _, booking = _book_child(harness)
    start = datetime.fromisoformat(booking["start_at"])
    harness.now = start - timedelta(minutes=5)            # down through both marks
    harness.outbox.run_once("w1")
    assert _reminders_sent(harness) == {"24h": 0, "15m": 1}
    harness.now = start + timedelta(minutes=1)
    harness.outbox.run_once("w1")
    assert _reminders_sent(harness) == {"24h": 0, "15m": 1}


def test_no_reminder_after_the_start(harness: Harness) -> None:
    _, booking = _book_child(harness)
    harness.now = datetime.fromisoformat(booking["start_at"]) + timedelta(seconds=1)
    harness.outbox.run_once("w1")
    assert _reminders_sent(harness) == {"24h": 0, "15m": 0}
    assert {m.last_error_code for m in harness.outbox.list(kind="tmk.reminder")} == {"reminder.too_late"}


def test_sferum_hosts_the_consultation_chat(tmp_path: Path) -> None:
    h = Harness(tmp_path, platform="sferum")
    try:
        _, booking = _book_child(h)
        h.now = datetime.fromisoformat(booking["start_at"]) - timedelta(minutes=14)
        h.outbox.run_once("w1")
        chats = list(h.sferum_world.chats.values())
        assert len(chats) == 1
        members = {m.phone: (m.chat_role, m.member_role) for m in chats[0].members.values()}
        assert members == {"79211021000": ("teacher", "admin"), "79132456718": ("student", "member")}
        reminder = h.world.last_bot_message(USER)
        assert reminder is not None and chats[0].invite_link in json.dumps(reminder.attachments)
        assert "пациент Смирнов А. Д." in chats[0].title
    finally:
        h.close()


def test_reminders_a_stopped_user_missed_are_listed_for_the_mis(harness: Harness) -> None:
    user, booking = _book_child(harness)
    user.stop()
    start = datetime.fromisoformat(booking["start_at"])
    harness.now = start - timedelta(hours=23)
    harness.outbox.run_once("w1")
    missed = harness.tmk.notices.undelivered_reminders(start - timedelta(days=3))
    assert missed == [{"LpuId": 102, "VisitId": booking["visit_id"], "Kind": "24h",
                       "DueAt": start - timedelta(hours=24), "Reason": "пользователь остановил бот в MAX"}]


def test_the_dialog_moves_between_instances_on_one_store(harness: Harness) -> None:
    """Each press lands on another instance (as behind a load balancer): the dialog goes on regardless."""
    user = harness.linked_user()
    other = harness.make_instance()
    instances = [harness.tmk, other]
    steps = ["Записать другого", "Смирнов А.", "Повторная", "Педиатрия", "ДП", "Михайлова"]
    for i, label in enumerate(steps):
        harness.bot_ref[0] = instances[i % 2]
        user.press(label)
    harness.bot_ref[0] = instances[0]
    user.press(last_date(user))
    harness.bot_ref[0] = instances[1]
    user.press(user.choices("a")[0])
    harness.bot_ref[0] = instances[0]
    assert user.press("Согласен").text.startswith("Вы записаны на ТМК")
    assert len(other.bookings.listing()) == 1


def test_a_mis_client_acts_only_on_its_own_mos_bookings(harness: Harness) -> None:
    from bridge.errors import InvalidField
    from bridge.soap import Caller
    from bridge.soap._access import bind_caller, unbind_caller

    _, booking = _book_child(harness)                 # ДП № 7: OID 1.2.643.5.1.13.13.12.2.78.102
    other = bind_caller(Caller("gp1-mis", frozenset({"1.2.643.5.1.13.13.12.2.78.101"})))
    try:
        with pytest.raises(InvalidField):
            harness.tmk.notices.booking_cancelled(102, booking["visit_id"], None)
    finally:
        unbind_caller(other)
    own = bind_caller(Caller("dp7-mis", frozenset({"1.2.643.5.1.13.13.12.2.78.102"})))
    try:
        assert harness.tmk.notices.booking_cancelled(102, booking["visit_id"], None).delivered == 1
    finally:
        unbind_caller(own)
