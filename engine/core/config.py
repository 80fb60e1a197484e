"""Where things live: database URL and the procedure's source folders.

Everything is read from the environment at call time (not import time) so tests and the CLI can point
the same code at another database without reloading modules.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # engine/core/config.py -> the checkout
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "liyuan.db"


def database_url() -> str:
    """``LIYUAN_DATABASE_URL`` or the embedded SQLite file ``var/liyuan.db``."""
    url = os.environ.get("LIYUAN_DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # psycopg 3 is the driver we ship; plain URLs would make SQLAlchemy look for psycopg2.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def bpmn_dir() -> Path:
    return Path(os.environ.get("LIYUAN_BPMN_DIR", PROJECT_ROOT / "bpmn"))


def forms_dir() -> Path:
    return Path(os.environ.get("LIYUAN_FORMS_DIR", PROJECT_ROOT / "forms"))
