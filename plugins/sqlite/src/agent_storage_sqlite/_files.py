"""Database files the library creates are private to their owner (mode 0600)."""

from __future__ import annotations

import contextlib
import os

__all__ = ["create_private"]


def create_private(path: str) -> None:
    """Create ``path`` empty with mode 0600 (less if the umask takes more) if it does not
    exist; an existing file and its mode are left alone.

    An empty file is a valid SQLite database. SQLite gives the ``-wal`` and ``-shm`` files
    it creates the database file's mode, so they are private too. Any failure (a missing
    directory, a read-only filesystem) is left for SQLite's own open to report."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
