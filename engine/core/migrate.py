"""Schema migrations: plain Alembic over ``engine.core.tables`` metadata, configured in code.

There is no alembic.ini: the script location is the project's ``migrations/`` folder and the URL is the
same one the engine uses, so ``liyuan db upgrade`` can never migrate a different database than it serves.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from engine.core import config, db


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(config.migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", (url or config.database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    engine = db.get_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    db.refresh_statistics(url)  # new indexes have no statistics yet


def current(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
