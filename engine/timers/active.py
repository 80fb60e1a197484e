"""SQLite's "one active poller": an exclusive, non-blocking ``flock`` on a file beside the database.

Other pollers are standbys that try the lock on every tick; the OS drops the lock the moment the active
process dies (even SIGKILL), and the rows that process had claimed become claimable when their leases
expire. PostgreSQL needs none of this (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import fcntl
import os


class SingleActive:
    """The lock, held for the poller's lifetime once acquired."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self, owner: str) -> bool:
        if self.fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return None if not path or path == ":memory:" else path.split("?", 1)[0]
