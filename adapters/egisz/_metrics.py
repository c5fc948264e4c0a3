"""Applications still unanswered after one working day (the MO has two by law), read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

from adapters.egisz._model import ACCEPTED, CANCEL_ERROR, CANCELLING, SENT
from adapters.egisz._schema import Application
from bridge.store import Store

UNANSWERED = (SENT, ACCEPTED, CANCELLING, CANCEL_ERROR)


def working_days_before(day: date, days: int) -> date:
    """The date ``days`` working days (Monday–Friday) before ``day``; public holidays are not known."""
    while days > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


class UnansweredCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        today = datetime.now(UTC).date()
        overdue_one = working_days_before(today, 1)
        overdue_two = working_days_before(today, 2)
        gauge = GaugeMetricFamily(
            "bridge_egisz_unanswered_applications",
            "Applications without a final answer, by how many working days they have waited "
            "(over_1: past one working day; over_2: past the legal two).", labels=["age"])
        try:
            with self._store.session() as session:
                def count(before: date) -> int:
                    return int(session.scalar(select(func.count()).select_from(Application).where(
                        Application.status.in_(UNANSWERED), Application.applied_on < before)) or 0)

                gauge.add_metric(["over_1"], count(overdue_one))
                gauge.add_metric(["over_2"], count(overdue_two))
        except Exception:
            return
        yield gauge


_registered: list[UnansweredCollector] = []


def register(store: Store) -> None:
    for collector in _registered:
        REGISTRY.unregister(collector)
    _registered.clear()
    collector = UnansweredCollector(store)
    REGISTRY.register(collector)
    _registered.append(collector)
