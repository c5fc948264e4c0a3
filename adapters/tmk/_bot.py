"""The ТМК bot assembled from its parts, and its webhook: what the adapter wires into the bridge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from adapters.hubservice import Clinic, ScheduleClient
from adapters.max import MaxBot, MessageCallback, MessageCreated, Update, WebhookRejected, read_webhook
from adapters.sferum import SferumClient
from adapters.tmk import _metrics
from adapters.tmk._booking_step import BookingStep
from adapters.tmk._bookings import REMINDER, Bookings
from adapters.tmk._chats import ConsultationChats
from adapters.tmk._dialog import Conversation
from adapters.tmk._flow import BookingFlow
from adapters.tmk._identity import Identity
from adapters.tmk._notices import Notices
from adapters.tmk._records import Records
from adapters.tmk._reminders import LATE_AFTER, Reminders
from adapters.tmk._settings import TmkSettings
from adapters.tmk._upcoming import Upcoming
from bridge.delivery import UpstreamUnavailable
from bridge.observability import get_logger
from bridge.outbox import Outbox
from bridge.store import OneTimeTokens, Pseudonymizer, Sealer, Store

_log = get_logger("adapters.tmk")


class TmkBot:
    def __init__(self, settings: TmkSettings, *, store: Store, secret: bytes, pseudonym: Pseudonymizer,
                 tokens: OneTimeTokens, outbox: Outbox, bot: MaxBot, schedule: ScheduleClient,
                 sferum: SferumClient | None, clock: Callable[[], datetime]) -> None:
        zone = ZoneInfo(settings.timezone)
        self.settings = settings
        self.bot = bot
        self._secret = settings.webhook_secret_value()
        self._clock = clock

        def local_time(moment: datetime) -> datetime:
            return moment.astimezone(zone).replace(tzinfo=None)

        def to_utc(local: datetime) -> datetime:
            return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))

        sealer = Sealer(secret, "tmk")
        self.records = Records(store, sealer, pseudonym, clock)
        self.bookings = Bookings(store, sealer, self.records.person_key, outbox, clock)
        self.identity = Identity(self.records, tokens, settings.public_url,
                                 timedelta(minutes=settings.link_ttl_minutes))
        clinics: dict[int, Clinic] = {}

        def clinic(lpu_id: int) -> Clinic | None:
            if lpu_id not in clinics:
                try:
                    clinics.update({c.id: c for c in schedule.lpus()})
                except Exception:  # a name is a nicety: never fail a booking over it
                    return None
            return clinics.get(lpu_id)

        def lpu_full_name(lpu_id: int) -> str:
            found = clinic(lpu_id)
            return found.full_name if found else ""

        def lpu_oid(lpu_id: int) -> str | None:
            found = clinic(lpu_id)
            return found.oid if found else None

        flow = BookingFlow(schedule, settings.goals, settings.consultation_platform, settings.schedule.days_ahead,
                           clock, lambda: local_time(clock()), self.records.represented_by)
        booking = BookingStep(schedule, self.bookings, settings.goals, settings.conditions, to_utc, lpu_full_name)
        self.upcoming = Upcoming(self.bookings, clock, local_time)
        self.conversation = Conversation(bot, self.records, self.identity, flow, booking, self.upcoming,
                                         timedelta(minutes=settings.dialog_ttl_minutes), clock)
        self.chats = ConsultationChats(settings.consultation_platform, self.bookings, store, bot, sferum,
                                       lambda uid: (u.phone if (u := self.records.user(uid)) else None), local_time)
        self.reminders = Reminders(bot, self.bookings, self.records, self.chats, settings.conditions, clock, local_time)
        self.notices = Notices(bot, self.records, self.bookings, outbox, clock, local_time, lpu_oid)
        outbox.register(REMINDER, self.reminders.deliver)
        _metrics.REMINDERS_OVERDUE.set_function(lambda: float(outbox.overdue(REMINDER, LATE_AFTER)))

    def start(self) -> None:
        """At the instance's start: the chat pool seeded, the webhook subscribed (MAX drops a failing one)."""
        self.chats.seed_pool(self.settings.max_chats)
        if self.settings.subscribe_on_start:
            url = f"{self.settings.public_url}/max/webhook"
            try:
                if url not in {s.url for s in self.bot.subscriptions()}:
                    self.bot.subscribe(url, None, self._secret)
                    _log.info("max.subscribed", url=url)
            except UpstreamUnavailable as exc:
                _log.warning("max.subscribe.failed", error=type(exc).__name__)

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """One webhook request; the HTTP status to answer (MAX retries anything but 200)."""
        try:
            update = read_webhook(headers, body, self._secret)
        except WebhookRejected as exc:
            _metrics.WEBHOOK_REQUESTS.labels("bad_secret" if exc.status == 401 else "bad_body").inc()
            return exc.status
        _metrics.WEBHOOK_REQUESTS.labels("accepted").inc()
        key = _dedupe_key(update)
        if key is not None and not self.records.first_time(key):
            _metrics.UPDATES.labels(update.update_type, "duplicate").inc()
            return 200
        try:
            outcome = self.conversation.handle(update)
        except Exception:
            _log.exception("max.update.failed", update_type=update.update_type)
            _metrics.UPDATES.labels(update.update_type, "failed").inc()
            if key is not None:
                self.records.forget(key)   # MAX redelivers: handle it afresh then
            return 500
        _metrics.UPDATES.labels(update.update_type, outcome).inc()
        return 200


def _dedupe_key(update: Update) -> str | None:
    if isinstance(update, MessageCallback):
        return f"cb:{update.callback_id}"
    if isinstance(update, MessageCreated):
        return f"mid:{update.message.mid}"
    user = getattr(update, "user", None)
    if user is not None:
        return f"{update.update_type}:{user.user_id}:{update.timestamp}"
    return None
