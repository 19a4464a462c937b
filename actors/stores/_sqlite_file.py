"""Whether a SQLite store's path still names the files it opened, looked at before each write.

SQLite goes on writing to the files it has open after they are deleted or replaced,
where nobody will ever read them (see ``_sqlite_connect.file_identity`` and
``companions_replaced``), so a store looks before each write: the database file, its
``-wal`` and its ``-shm``, three ``stat`` calls. Each is a system call that lets go of
the GIL, and a producer calling ``schedule()`` makes one write per case, so ``FileCheck``
first looks at the directory that holds them: none of the three can be removed, renamed
or put in place without changing the directory's modification time. While that time is
the one of the last full look, and older than the file system's clock could leave
unchanged by a later change (``SETTLED``), the full look is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from actors._errors import StoreError
from actors.stores._sqlite_connect import SqliteConnection, companions_replaced, file_identity

__all__ = ["SETTLED", "FileCheck"]

# How old a directory's modification time must be before it is trusted to change with
# the next entry made or removed: a file system stamps it from a clock that may lag the
# system's by a tick (a few milliseconds), or in whole seconds (2 s on FAT).
SETTLED = 0.05
SETTLED_COARSE = 3.0


class FileCheck:
    """Raises ``StoreError`` once the store's path names other files than those it opened."""

    def __init__(self, path: str, url: str) -> None:
        self._path = path
        self._url = url
        self._folder = os.path.dirname(path) or "."
        # A path that is a symbolic link may name a file in another directory.
        self._gated = not os.path.islink(path)
        self._identity: tuple[int, int] | None = None  # the file opened, once it is there

    def opened(self) -> None:
        """Take the file at the path now as the store's (once it is open)."""
        self._identity = file_identity(self._path)

    def check(self, conn: SqliteConnection, what: str, abandon_all: Callable[[], None]) -> None:
        """Raise ``StoreError`` if the path or the files beside it are not ``conn``'s.

        ``abandon_all`` keeps the store's connections from being closed, called once the
        ``-wal`` or ``-shm`` file is found replaced (see ``_sqlite_connect.abandon``).
        """
        now = time.time()  # before the folder is read: a change after it is seen next time
        folder = self._folder_now() if self._gated else None
        # Per connection: each thread's has the -wal and -shm files it opened.
        if folder is not None and folder == conn.folder:
            return
        conn.folder = None
        self._full(conn, what, abandon_all)
        if folder is not None:
            mtime = folder[2] / 1e9
            settled = SETTLED_COARSE if folder[2] % 1_000_000_000 == 0 else SETTLED
            if now - mtime > settled:
                conn.folder = folder

    def _folder_now(self) -> tuple[int, int, int, int] | None:
        try:
            found = os.stat(self._folder)
        except OSError:
            return None
        return (found.st_dev, found.st_ino, found.st_mtime_ns, found.st_ctime_ns)

    def _full(self, conn: SqliteConnection, what: str, abandon_all: Callable[[], None]) -> None:
        if self._identity is not None and file_identity(self._path) != self._identity:
            msg = (
                f"{self._url}: cannot {what}: the SQLite file {self._path!r} was removed or "
                "replaced since this store opened it, and what it writes would be lost with "
                "the old file; open the store again to use the file there now"
            )
            error = StoreError(msg)
            error.blames_job = False  # nor of any job: its saves wait for the file
            raise error
        if companions_replaced(conn, self._path):
            abandon_all()  # now: a process may end without closing the store
            msg = (
                f"{self._url}: cannot {what}: the -wal or -shm file beside {self._path!r} was "
                "removed or replaced since this store opened it, and what it writes would "
                "reach no other process; stop this process (it leaves the files as they "
                "are) and start it again"
            )
            error = StoreError(msg)
            error.blames_job = False  # as for a file that cannot be reached
            error.stops_worker = True  # its connections are abandoned: only a new process helps
            raise error
