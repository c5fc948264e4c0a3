"""Alembic environment: runs on the connection handed over by Store.upgrade()."""

from __future__ import annotations

from alembic import context

# The revisions are written by hand; target_metadata serves only `alembic revision --autogenerate`, for which
# import the modules whose tables should join Base.metadata (bridge.outbox._schema keeps outbox_message).
from bridge.store import _jobs_schema  # noqa: F401  (its tables join Base.metadata)
from bridge.store._schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the bridge always hands a connection over
    raise RuntimeError("run migrations with `bridge db upgrade` (Store.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
