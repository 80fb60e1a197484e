"""Alembic environment: runs on the connection engine.core.migrate hands over (or the configured URL)."""

from alembic import context
from sqlalchemy import create_engine

from engine.core.tables import Base
from engine.notify import tables as models_notify  # noqa: F401 - the outbox's tables on Base.metadata
from webapp import tables as models_web  # noqa: F401 - registers the web app's tables on Base.metadata

target_metadata = Base.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
