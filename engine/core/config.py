"""Where things live: database URL, the procedure's source folders and the data folder.

Everything is read from the environment at call time (not import time) so tests and the CLI can point
the same code at another database without reloading modules.

Run from a checkout, the folders are the checkout's (``bpmn/``, ``forms/``, ``var/``). Installed from a
wheel there is no checkout: the folders are those of the directory ``liyuan`` runs in (``LIYUAN_HOME``
overrides it), never site-packages, so an installed command neither looks for the procedure nor writes
a database inside the Python installation.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # engine/core/config.py -> the checkout (or site-packages)


def home() -> Path:
    """The folder holding ``bpmn/``, ``forms/`` and ``var/``: ``LIYUAN_HOME``, the checkout, or the cwd."""
    if os.environ.get("LIYUAN_HOME"):
        return Path(os.environ["LIYUAN_HOME"])
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()


def var_dir() -> Path:
    """Runtime data: the embedded database and the web app's secret key (``LIYUAN_VAR_DIR``)."""
    return Path(os.environ.get("LIYUAN_VAR_DIR") or home() / "var")


def default_sqlite_path() -> Path:
    return var_dir() / "liyuan.db"


def database_url() -> str:
    """``LIYUAN_DATABASE_URL`` or the embedded SQLite file ``var/liyuan.db``."""
    url = os.environ.get("LIYUAN_DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # psycopg 3 is the driver we ship; plain URLs would make SQLAlchemy look for psycopg2.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    path = default_sqlite_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new var/ is private (db, secret key)
    return f"sqlite:///{path}"


def database_configured() -> bool:
    """Whether there is a database to ask (a URL is set, or the embedded file exists): read-only commands
    such as ``liyuan validate`` must not create an empty database just to find it empty."""
    return bool(os.environ.get("LIYUAN_DATABASE_URL")) or default_sqlite_path().is_file()


def bpmn_dir() -> Path:
    return Path(os.environ.get("LIYUAN_BPMN_DIR") or home() / "bpmn")


def forms_dir() -> Path:
    return Path(os.environ.get("LIYUAN_FORMS_DIR") or home() / "forms")


def migrations_dir() -> Path:
    """The Alembic scripts: the ``migrations`` package, wherever it is installed (not imported here)."""
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def secret_key() -> str:
    """The installation's secret: ``LIYUAN_SECRET_KEY``, else a key created once in ``var/secret_key``.

    The web app signs its sessions with it, and the help desk the links it texts to residents (the SMS is
    written by whichever process makes the change: the web app, the scheduler or the CLI, so the key lives
    here, where all of them find the same one)."""
    key = os.environ.get("LIYUAN_SECRET_KEY")
    if key:
        return key
    path = var_dir() / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key
