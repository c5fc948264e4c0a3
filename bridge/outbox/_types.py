"""What the outbox hands around: messages, the outcomes a handler returns, statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

PENDING, DELIVERED, REJECTED, DEAD = "pending", "delivered", "rejected", "dead"
STATES = (PENDING, DELIVERED, REJECTED, DEAD)
# Only messages that are finished for good and not delivered may be replayed or dropped.
REPLAYABLE = (DEAD, REJECTED)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The message's id; ``duplicate`` when its idempotency key was already queued."""

    id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    kind: str
    aggregate: str | None
    idempotency_key: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error_code: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    locked_by: str | None = None
    locked_until: datetime | None = None

    def to_dict(self, payload: bool = True) -> dict[str, Any]:
        """JSON-ready fields; ``payload=False`` leaves the payload (it may hold personal data) out."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "aggregate": self.aggregate,
            "idempotency_key": self.idempotency_key,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "last_error_code": self.last_error_code,
            "last_error": self.last_error,
            "created_at": _iso(self.created_at),
            "delivered_at": _iso(self.delivered_at),
            "locked_by": self.locked_by,
            "locked_until": _iso(self.locked_until),
        }
        if payload:
            data["payload"] = self.payload
        return data


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Messages per state (every state present), how many are leased now, the oldest pending age."""

    counts: dict[str, int]
    leased: int
    oldest_pending_age_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "leased": self.leased,
                "oldest_pending_age_seconds": self.oldest_pending_age_seconds}


OnCommit = Callable[[Session], None]


@dataclass(frozen=True, slots=True)
class Delivered:
    """The upstream acknowledged. ``on_commit`` runs in the transaction that marks the message delivered."""

    on_commit: OnCommit | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The upstream refused for good (no retries). ``reason`` is kept and shown to ops: no personal data."""

    code: str
    reason: str
    on_commit: OnCommit | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: try again after a back-off. ``reason`` is kept and shown: no personal data."""

    reason: str
    code: str = field(default="retry")


Outcome = Delivered | Rejected | Retry


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
