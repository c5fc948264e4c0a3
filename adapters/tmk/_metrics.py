"""The bot's metrics (docs/operations.md lists them). Labels are fixed small sets: no ids, no people."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOK_REQUESTS = Counter("bridge_max_webhook_requests_total", "MAX webhook requests by outcome.", ["outcome"])
UPDATES = Counter("bridge_max_updates_total", "MAX updates by type and outcome.", ["update_type", "outcome"])
DIALOG_ERRORS = Counter("bridge_tmk_dialog_errors_total",
                        "Errors shown to a patient in the booking dialog, by step.", ["step"])
BOOKINGS = Counter("bridge_tmk_bookings_total", "ТМК booking attempts by outcome.", ["outcome"])
REMINDERS = Counter("bridge_tmk_reminders_total", "ТМК reminders by kind and outcome.", ["kind", "outcome"])
REMINDER_LATENESS = Histogram("bridge_tmk_reminder_lateness_seconds",
                              "How long after its due time a reminder went out.", ["kind"],
                              buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 6 * 3600, 24 * 3600))
CHATS = Counter("bridge_tmk_consultation_chats_total", "Consultation chats by platform and outcome.",
                ["platform", "outcome"])
NOTIFICATIONS = Counter("bridge_tmk_notifications_total", "Notices the МИС asked the bot to send, by kind and outcome.",
                        ["kind", "outcome"])
REMINDERS_OVERDUE = Gauge("bridge_tmk_reminders_overdue",
                          "Reminders due more than 60 s ago and not sent yet (read from the store at scrape).")
