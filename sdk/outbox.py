"""A durable, ordered outbox for messages that must survive a broker outage and a restart.

One SQLite file (WAL, ``synchronous=FULL``) in a folder. ``put`` commits a
message to disk before it returns; ``after(seq)`` reads the next ones in
order; ``remove(seq)`` deletes one once the broker acknowledged it. Sequence
numbers come from an ``AUTOINCREMENT`` key, so they grow strictly across
restarts and are never reused: a consumer can order and dedupe by them.

Why not ``persist-queue``'s ``SQLiteAckQueue``: it stores an "unacked" state on
disk that a restart resets anyway (three fsynced writes per message plus a
clean-up job, where two suffice: insert, delete; SD cards wear), it pickles
items by default, it shares one connection across threads without holding its
lock for reads, and it has no "read the next n after seq without taking them",
which a publish window needs. This is the small part of it we need, on the
standard library.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import threading

try:
    import fcntl
except ImportError:  # Windows: no lock; one process per folder is then up to the user
    fcntl = None

from sdk.errors import ConfigError, LinkError

FILE_NAME = "outbox.sqlite3"
LOCK_NAME = "outbox.lock"
FORMAT_VERSION = 1  # PRAGMA user_version of the file


class Outbox:
    """Messages ``(seq, topic, payload)`` kept on disk until removed.

    Parameters
    ----------
    folder : path
        Created if missing. One outbox per folder at a time (a lock file
        enforces it): two publishers on one folder would send everything twice.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, FILE_NAME)
        self._lock = threading.Lock()
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"queue_dir={self.folder!r}: cannot create the folder ({exc.strerror})") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ConfigError(f"queue_dir={self.folder!r}: folder is not writable by this user")
        self._lock_file = self._take_lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a message is on disk when put() returns
            self._db.execute("PRAGMA journal_size_limit=1048576")  # the WAL shrinks back after a backlog
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > FORMAT_VERSION:
                raise ConfigError(
                    f"{self.path}: outbox format {version} is newer than this Auricle reads ({FORMAT_VERSION})"
                )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages ("
                "seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._lock_file.close()
            raise ConfigError(f"queue_dir={self.folder!r}: cannot open the outbox {self.path} ({exc})") from None

    def _take_lock(self):
        try:
            lock_file = open(os.path.join(self.folder, LOCK_NAME), "a+")
        except OSError as exc:
            raise ConfigError(f"queue_dir={self.folder!r}: cannot create {LOCK_NAME} ({exc.strerror})") from None
        if fcntl is not None:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.seek(0)
                owner = lock_file.read().strip() or "unknown"
                lock_file.close()
                raise ConfigError(
                    f"queue_dir={self.folder!r}: in use by another publisher (process {owner}); "
                    "give each sink its own queue_dir"
                ) from None
        lock_file.truncate(0)
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        return lock_file

    def put(self, topic: str, payload: str) -> int:
        """Store a message durably; returns its sequence number.

        Raises ``LinkError`` naming the file when it cannot be stored (disk
        full, read-only, I/O error): the caller still holds the only copy.
        """
        with self._lock:
            try:
                cursor = self._db.execute("INSERT INTO messages (topic, payload) VALUES (?, ?)", (topic, payload))
                return int(cursor.lastrowid)
            except (sqlite3.DatabaseError, OSError) as exc:
                raise LinkError(f"{self.path}: cannot store the event, it was NOT queued ({_why(exc)})") from None

    def after(self, seq: int, limit: int) -> list[tuple[int, str, str]]:
        """Up to ``limit`` messages with a sequence number above ``seq``, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, topic, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()

    def remove(self, seq: int) -> None:
        with self._lock:
            try:
                self._db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            except (sqlite3.DatabaseError, OSError) as exc:
                # Not fatal: the message stays queued and is sent again (a duplicate, never a loss).
                raise LinkError(f"{self.path}: cannot remove delivered message {seq} ({_why(exc)})") from None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lock_file.close()  # releases the flock


def _why(exc: Exception) -> str:
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return f"disk full: {exc}"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full"
    return str(exc)
