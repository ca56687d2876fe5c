"""Alembic environment: JobMatcher always hands in an open connection (see schema.py)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=True,  # SQLite can only alter tables by copying them
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
