"""The bridge's own store: SQLite (WAL) by default, PostgreSQL by URL, migrated by alembic."""

from bridge.store._engine import Store
from bridge.store._operations import OperationJournal, OperationRecord
from bridge.store._pseudonym import Pseudonymizer

__all__ = ["OperationJournal", "OperationRecord", "Pseudonymizer", "Store"]
