"""The bridge's own store: SQLite (WAL) by default, PostgreSQL by URL, migrated by alembic."""

from bridge.store._audit import AuditEntry, AuditJournal
from bridge.store._engine import Store
from bridge.store._operations import OperationJournal, OperationRecord
from bridge.store._pseudonym import Pseudonymizer
from bridge.store._sealed import Sealer
from bridge.store._time import as_utc
from bridge.store._tokens import OneTimeTokens, TokenRejected

__all__ = [
    "AuditEntry", "AuditJournal", "OneTimeTokens", "OperationJournal", "OperationRecord", "Pseudonymizer", "Sealer",
    "Store", "TokenRejected", "as_utc",
]
