"""Alembic environment: runs on the connection handed over by ``app.core.db.run_migrations``."""

from alembic import context

from app.core.db import Base
from app import models  # noqa: F401  (registers the tables on Base.metadata)

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.core.db.run_migrations")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
