"""Says, before the suite runs, whether the PostgreSQL half of it will run (``make test`` calls it).

Under CI (``CI=true``) an unreachable PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import sys

import psycopg

URL = os.environ.get("LIYUAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def reachable(url: str = URL) -> str | None:
    """None when reachable, else the reason."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def main() -> int:
    reason = reachable()
    if reason is None:
        print(f"PostgreSQL reachable at {URL}: database tests run on SQLite and PostgreSQL")
        return 0
    if os.environ.get("CI", "").lower() == "true":
        print(f"PostgreSQL NOT reachable at {URL} ({reason}); under CI this is a failure", file=sys.stderr)
        return 1
    print(f"PostgreSQL not reachable at {URL} ({reason}): SKIPPING the PostgreSQL half of the suite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
