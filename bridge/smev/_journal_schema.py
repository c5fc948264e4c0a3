"""The СМЭВ exchange journal's tables: one row per request sent, one per message received.

Never personal data in the clear: ``business_key`` is the adapter's pseudonymous key of the
operation (an HMAC of the identifier, never the identifier), the request's and the answer's
content are sealed (``bridge.store.Sealer``). Changes here need an alembic revision
(bridge/store/migrations/versions/0006_smev_exchange.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store._schema import Base

SENDING, SENT, ANSWERED, ACKNOWLEDGED, DEAD = "sending", "sent", "answered", "acknowledged", "dead"
STATES = (SENDING, SENT, ANSWERED, ACKNOWLEDGED, DEAD)


class SmevExchangeRow(Base):
    """One request through СМЭВ and its answer.

    ``sending``: the MessageID is chosen and the request kept (sealed) — SendRequest may or may not have
    reached СМЭВ; whoever claims the row (``claimed_until`` passed) sends it again under the same
    MessageID, and СМЭВ answers MessageIsAlreadySent if the first went through. ``sent``: СМЭВ took it.
    ``answered``: the final answer is stored (sealed), not yet acknowledged; ``acknowledged``: Ack done.
    ``dead``: refused at sending, or no answer within the configured time. While ``retired_at`` is
    empty the row is the current one of its ``business_key`` (a partial unique index).
    """

    __tablename__ = "smev_exchange"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str] = mapped_column(String(160))
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    request: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)   # sealed; dropped once answered
    answer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)    # sealed
    answer_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str | None] = mapped_column(String(64), nullable=True)       # last intermediate status
    error: Mapped[str | None] = mapped_column(String(64), nullable=True)        # closed set: fault name, no-answer
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    wait_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))       # the first caller's wait
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("uq_smev_exchange_current", "business_key", unique=True,
              sqlite_where=text("retired_at IS NULL"), postgresql_where=text("retired_at IS NULL")),
        Index("ix_smev_exchange_state", "state", "created_at"),
    )


class SmevReceivedRow(Base):
    """One message taken from the response queue, by its own MessageId (what Ack takes).

    Written in the same transaction as the answer it carries, before the Ack: a redelivered message
    is found here and acknowledged again, never applied twice. ``exchange_id`` is empty for a message
    that answers nothing we sent; ``accepted`` is what the Ack said.
    """

    __tablename__ = "smev_received"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    exchange_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))   # answer, status, late, unmatched, refused
    accepted: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        # the bridge_smev_unacknowledged gauge counts these at every scrape (migration smev_0002)
        Index("ix_smev_received_unacknowledged", "received_at",
              sqlite_where=text("acknowledged_at IS NULL"), postgresql_where=text("acknowledged_at IS NULL")),
    )
