"""Moments read back from the store, always aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back (they were stored in UTC): make them aware; leave aware ones in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
