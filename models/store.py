#!/usr/bin/env python3
"""Record stores behind `Base`: the interface and the JSON-file store.

`Base` keeps the objects of each class in memory (`DATA`) and asks a
`RecordStore` to persist them as plain dicts. A store only moves records;
it knows nothing of `User` or sessions, so a SQL store can replace the
JSON files without touching the models, the auth classes or the views.
"""
import json
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import ContextManager, Dict, Hashable, Iterator, Optional

from filelock import FileLock

Record = Dict[str, object]


class StoreError(Exception):
    """Base class of the errors a record store raises."""


class CorruptStoreError(StoreError):
    """A stored file cannot be read; it was left untouched on disk."""


class RecordStore(ABC):
    """The contract `Base` relies on. `kind` is a class name such as `User`.

    Methods that child classes must implement: `lock`, `version`, `read`
    and `write`.
    """

    @abstractmethod
    def lock(self, kind: str) -> ContextManager[None]:
        """Return a context manager that excludes other writers of `kind`.

        It excludes other threads and other processes, and is re-entrant
        within one thread.
        """

    @abstractmethod
    def version(self, kind: str) -> Optional[Hashable]:
        """Return a cheap token that changes whenever the records change.

        `None` means no record was ever stored for `kind`.
        """

    @abstractmethod
    def read(self, kind: str) -> Dict[str, Record]:
        """Return every stored record of `kind`, keyed by id.

        Returns `{}` when nothing is stored. Raises `CorruptStoreError` when
        the stored data cannot be read.
        """

    @abstractmethod
    def write(self, kind: str, records: Dict[str, Record]) -> None:
        """Replace the stored records of `kind` with `records`, atomically.

        Call it while holding `lock(kind)`. Raises `OSError` when the
        storage cannot be written; the previous records are then intact.
        """


class JsonFileStore(RecordStore):
    """Records of each kind in `.db_<kind>.json` in the working directory.

    The path is resolved against the current working directory at each
    call, as the shipped `Base` did (spec §8). Writes go to a temporary file
    in the same folder, then `os.replace` (Django ticket #8616), under a
    lock file `.db_<kind>.json.lock` so that several processes can share
    the files without losing updates.
    """

    def __init__(self) -> None:
        """Create a store; it touches no file until it is used."""
        self._thread_lock = threading.RLock()
        self._file_locks: Dict[str, FileLock] = {}

    @staticmethod
    def path(kind: str) -> str:
        """Return the absolute path of the file holding `kind`."""
        return os.path.abspath(".db_{}.json".format(kind))

    @contextmanager
    def lock(self, kind: str) -> Iterator[None]:
        """Hold the thread lock and the lock file of `kind` (re-entrant)."""
        path = self.path(kind)
        with self._thread_lock:
            file_lock = self._file_locks.get(path)
            if file_lock is None:
                file_lock = FileLock(path + ".lock", thread_local=False)
                self._file_locks[path] = file_lock
            with file_lock:
                yield

    def version(self, kind: str) -> Optional[Hashable]:
        """Return (path, inode, mtime in ns, size) of the file, or None.

        `os.replace` gives every write a new inode, so a change made by
        another process is seen even within one mtime tick.
        """
        path = self.path(kind)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        return (path, stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def read(self, kind: str) -> Dict[str, Record]:
        """Return the records in `.db_<kind>.json`, or `{}` if it is absent.

        Raises `CorruptStoreError` naming the file when it is unreadable,
        is not JSON, or is not an object of objects.
        """
        path = self.path(kind)
        try:
            with open(path, "r", encoding="utf-8") as handle:
                content = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CorruptStoreError(_corrupt_message(path, exc)) from exc
        if not isinstance(content, dict) or not all(
                isinstance(rec, dict) for rec in content.values()):
            raise CorruptStoreError(_corrupt_message(
                path, "expected a JSON object of objects"))
        return content

    def write(self, kind: str, records: Dict[str, Record]) -> None:
        """Write `records` to a temporary file, then move it into place."""
        path = self.path(kind)
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=os.path.dirname(path),
            prefix=os.path.basename(path) + ".", suffix=".tmp",
            delete=False)
        try:
            with handle:
                json.dump(records, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, path)
        except BaseException:
            try:
                os.unlink(handle.name)
            except FileNotFoundError:
                pass
            raise


def _corrupt_message(path: str, reason: object) -> str:
    """Return the one-line error for an unreadable store file."""
    return "cannot read {}: {}; the file was left untouched".format(
        path, str(reason).splitlines()[0] if str(reason) else "unreadable")
