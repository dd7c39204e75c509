#!/usr/bin/env python3
"""Record stores behind `Base`: the row-level interface and the JSON files.

`Base` turns objects into records (plain dicts, as `to_json(True)` gives
them) and asks a `RecordStore` to keep them. A store only moves records;
it knows nothing of users or sessions beyond the names of their fields.
Two stores exist: `JsonFileStore` (the contract's `.db_<Class>.json`
files, the default) and `models.sql_store.SqlRecordStore` (PostgreSQL or
SQLite through SQLAlchemy), chosen by
`models.store_factory.make_record_store`.

Every write is row-level: an insert adds one record, an update changes
only the fields that changed, and only while the record exists and those
fields still hold the values the caller read (Django's
`save(update_fields=...)` with `force_update`; Spring Session JDBC only
UPDATEs existing rows). So a stale object is never written back over a
newer record and a deleted record is never brought back.
"""
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import (Any, ContextManager, Dict, Hashable, Iterator, List,
                    Optional, Sequence, Tuple, Union)

import orjson
from filelock import FileLock

Record = Dict[str, Any]


class StoreError(Exception):
    """Base class of the errors a record store raises."""


class CorruptStoreError(StoreError):
    """Stored data cannot be read; it was left untouched."""


class StoreUnavailableError(StoreError):
    """The storage service (a database, Redis) cannot be reached now."""


class StoreConfigError(StoreUnavailableError):
    """The store refuses this configuration: waiting cannot heal it.

    A database that does not exist, a refused password, an unknown role
    (account-security §8.2). At start-up it stops the process; while
    serving, it answers 503 like any other outage.
    """


class RecordMissingError(StoreError):
    """An update named a record that no longer exists (it was deleted)."""


class RecordConflictError(StoreError):
    """An update found a field changed since the caller read it."""


class DuplicateRecordError(StoreError):
    """An insert broke a unique constraint (an email already taken)."""


@dataclass(frozen=True)
class Insert:
    """Store a new record; one with the same id is replaced.

    With `replace` False a record with the same id is left alone and the
    operation raises `DuplicateRecordError` (a create that must not race
    another create of the same id).
    """

    record: Record
    replace: bool = True


@dataclass(frozen=True)
class Update:
    """Change `changes` of record `id` if it exists.

    `expected` maps field names to the values the caller read; the update
    is refused with `RecordConflictError` when a stored value differs. A
    field absent from a stored record counts as None.
    """

    id: str
    changes: Record
    expected: Record = field(default_factory=dict)


@dataclass(frozen=True)
class Delete:
    """Delete the records whose id is in `ids` (absent ids are skipped)."""

    ids: Tuple[str, ...]


Operation = Union[Insert, Update, Delete]


class RecordStore(ABC):
    """The row-level contract `Base` relies on. `kind` is a class name.

    `cached` tells `Base` whether it may keep objects between calls and
    ask `version` whether they are still current (True for files read
    whole), or must ask the store on every call (False for databases).
    Methods that child classes must implement: `lock`, `version`, `get`,
    `find`, `count`, `iterate`, `apply` and `ids_older`.
    """

    cached = False
    database_url: Optional[str] = None

    @abstractmethod
    def lock(self, kind: str) -> ContextManager[None]:
        """Return a context manager that excludes other writers of `kind`.

        It excludes other threads and processes where the store needs it
        (files), and is re-entrant within one thread. A database store
        returns a no-op: its constraints and conditional updates suffice.
        """

    @abstractmethod
    def version(self, kind: str) -> Optional[Hashable]:
        """Return a cheap token that changes whenever the records change.

        None means that nothing is stored, or that the store cannot tell
        (then `cached` is False).
        """

    @abstractmethod
    def get(self, kind: str, record_id: str) -> Optional[Record]:
        """Return the record `record_id`, or None if there is none."""

    @abstractmethod
    def find(self, kind: str, attributes: Record) -> List[Record]:
        """Return the records whose fields equal `attributes`, in order.

        A field no record has matches nothing (absent counts as None).
        """

    @abstractmethod
    def count(self, kind: str) -> int:
        """Return the number of records of `kind`."""

    @abstractmethod
    def iterate(self, kind: str) -> Iterator[Record]:
        """Yield every record of `kind` in insertion order."""

    @abstractmethod
    def apply(self, kind: str, operations: Sequence[Operation]) -> List[int]:
        """Apply `operations` in order, atomically: all of them or none.

        Returns, per operation, the number of records it touched (for a
        `Delete`, how many existed). Raises `RecordMissingError`,
        `RecordConflictError` or `DuplicateRecordError` when an operation
        cannot apply (nothing is then changed), `OSError` or
        `StoreUnavailableError` when the storage fails.
        """

    @abstractmethod
    def ids_older(self, kind: str, cutoffs: Dict[str, datetime],
                  limit: Optional[int] = None) -> List[str]:
        """Return the ids of records in which a field of `cutoffs` is older.

        `cutoffs` maps timestamp fields to naive UTC datetimes; a record
        qualifies when one of those fields is missing or strictly before
        its cutoff. At most `limit` ids (None: all). Used to purge expired
        sessions.
        """

    def prepare(self) -> None:
        """Make the storage ready for use (create or upgrade a schema)."""

    def iterate_serialized(self, kind: str
                           ) -> Iterator[Tuple[Record, Optional[bytes]]]:
        """Yield `(record, its JSON bytes or None)` in insertion order.

        A store that keeps records serialised gives those bytes, so that
        `Base` can remember what it read without a copy.
        """
        for record in self.iterate(kind):
            yield record, None

    def location(self, kind: str) -> str:
        """Return where the records of `kind` live, for messages."""
        return kind

    def close(self) -> None:
        """Release connections or handles; the store stays usable."""


def _timestamp_older(value: Any, cutoff: datetime) -> bool:
    """Return True if the stored timestamp `value` is before `cutoff`.

    Stored timestamps are `%Y-%m-%dT%H:%M:%S` strings (UTC); a missing or
    unreadable one counts as older, so a broken record can be purged.
    """
    if isinstance(value, datetime):
        return value < cutoff
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value) < cutoff
    except ValueError:
        return True


class _FileState:
    """What a `JsonFileStore` holds of one file: records kept serialised.

    `fragments` maps each id to its record as JSON bytes, in file order;
    only a record that changes is serialised again (issue on JSON writes).
    """

    def __init__(self, version: Optional[Hashable],
                 fragments: Dict[str, bytes]) -> None:
        """Hold `fragments` read at file `version`."""
        self.version = version
        self.fragments = fragments


class JsonFileStore(RecordStore):
    """Records of each kind in `.db_<kind>.json` in the working directory.

    The path is resolved against the current working directory at each
    call, as the shipped `Base` did (spec §8). A write holds the lock file
    `.db_<kind>.json.lock`, re-reads the file if another process changed
    it, applies only the change, and replaces the file: a temporary file in
    the same folder, flushed and fsynced, then `os.replace` (Django ticket
    #8616). Files are created with mode 0600.
    """

    cached = True

    def __init__(self) -> None:
        """Create a store; it touches no file until it is used."""
        self._thread_lock = threading.RLock()
        self._file_locks: Dict[str, FileLock] = {}
        self._states: Dict[str, _FileState] = {}

    @staticmethod
    def path(kind: str) -> str:
        """Return the absolute path of the file holding `kind`."""
        return os.path.abspath(".db_{}.json".format(kind))

    def location(self, kind: str) -> str:
        """Return the path of the file holding `kind`."""
        return self.path(kind)

    @contextmanager
    def lock(self, kind: str) -> Iterator[None]:
        """Hold the thread lock and the lock file of `kind` (re-entrant)."""
        path = self.path(kind)
        with self._thread_lock:
            file_lock = self._file_locks.get(path)
            if file_lock is None:
                file_lock = FileLock(path + ".lock", mode=0o600,
                                     thread_local=False)
                self._file_locks[path] = file_lock
            with file_lock:
                yield

    def version(self, kind: str) -> Optional[Hashable]:
        """Return (device, inode, mtime in ns, size) of the file, or None.

        `os.replace` gives every write a new inode, so a change made by
        another process is seen even within one mtime tick and size. One
        `stat` of the name relative to the working directory: this runs on
        every request.
        """
        return self._stat(".db_{}.json".format(kind))

    @staticmethod
    def _stat(path: str) -> Optional[Hashable]:
        """Return the version token of the file at `path`, or None."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _sync(self, kind: str) -> _FileState:
        """Return the state of `kind`'s file, re-read if it changed."""
        path = self.path(kind)
        version = self._stat(path)
        state = self._states.get(path)
        if state is not None and state.version == version:
            return state
        records = self._read(path) if version is not None else {}
        state = _FileState(version, {
            record_id: _serialize(record)
            for record_id, record in records.items()})
        self._states[path] = state
        return state

    @staticmethod
    def _read(path: str) -> Dict[str, Record]:
        """Return the records of the file at `path` (missing: `{}`).

        Raises `CorruptStoreError` naming the file when it is unreadable,
        is not JSON, is not an object of objects, or holds a record whose
        `id` is not its key (an object read from it would get a new id,
        and its next save would add a second record).
        """
        try:
            with open(path, "rb") as handle:
                content = orjson.loads(handle.read())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            raise CorruptStoreError(corrupt_message(path, exc)) from exc
        if not isinstance(content, dict) or not all(
                isinstance(rec, dict) for rec in content.values()):
            raise CorruptStoreError(corrupt_message(
                path, "expected a JSON object of objects"))
        for key, record in content.items():
            if record.get("id") != key:
                raise CorruptStoreError(corrupt_message(
                    path, "record {!r} holds the id {!r}".format(
                        key[:64], record.get("id"))))
        return content

    def get(self, kind: str, record_id: str) -> Optional[Record]:
        """Return the record `record_id` of the file, or None."""
        with self._thread_lock:
            fragment = self._sync(kind).fragments.get(record_id)
        return None if fragment is None else orjson.loads(fragment)

    def find(self, kind: str, attributes: Record) -> List[Record]:
        """Return the records whose fields equal `attributes` (a scan)."""
        return [record for record in self.iterate(kind)
                if all(record.get(key) == value
                       for key, value in attributes.items())]

    def count(self, kind: str) -> int:
        """Return the number of records in the file."""
        with self._thread_lock:
            return len(self._sync(kind).fragments)

    def iterate(self, kind: str) -> Iterator[Record]:
        """Yield the records of the file in file (insertion) order."""
        for record, _ in self.iterate_serialized(kind):
            yield record

    def iterate_serialized(self, kind: str
                           ) -> Iterator[Tuple[Record, Optional[bytes]]]:
        """Yield each record with the JSON bytes this store keeps of it."""
        with self._thread_lock:
            fragments = list(self._sync(kind).fragments.values())
        for fragment in fragments:
            yield orjson.loads(fragment), fragment

    def apply(self, kind: str, operations: Sequence[Operation]) -> List[int]:
        """Apply `operations` to the file in one atomic replacement.

        Holds the lock, re-reads the file if another process wrote it,
        checks every operation, then writes once. Nothing is written when
        every operation is a no-op (a `Delete` of absent ids).
        """
        with self.lock(kind):
            state = self._sync(kind)
            fragments = dict(state.fragments)
            results = [_apply_one(fragments, op) for op in operations]
            if any(results):
                path = self.path(kind)
                write_atomically(path, _join(fragments))
                state.fragments = fragments
                state.version = self._stat(path)
            return results

    def ids_older(self, kind: str, cutoffs: Dict[str, datetime],
                  limit: Optional[int] = None) -> List[str]:
        """Return the ids of records older than `cutoffs` (a scan)."""
        found = []
        for record in self.iterate(kind):
            if limit is not None and len(found) >= limit:
                break
            if any(_timestamp_older(record.get(name), cutoff)
                   for name, cutoff in cutoffs.items()):
                found.append(record.get("id"))
        return found


def _apply_one(fragments: Dict[str, bytes], op: Operation) -> int:
    """Apply one operation to `fragments` in place; return its count."""
    if isinstance(op, Insert):
        if not op.replace and op.record["id"] in fragments:
            raise DuplicateRecordError(
                "record {} already exists".format(op.record["id"]))
        fragments[op.record["id"]] = _serialize(op.record)
        return 1
    if isinstance(op, Delete):
        removed = [fragments.pop(i) for i in op.ids if i in fragments]
        return len(removed)
    fragment = fragments.get(op.id)
    if fragment is None:
        raise RecordMissingError("record {} no longer exists".format(op.id))
    record = orjson.loads(fragment)
    for key, value in op.expected.items():
        if record.get(key) != value:
            raise RecordConflictError(
                "record {}: {} changed since it was read".format(op.id, key))
    record.update(op.changes)
    fragments[op.id] = _serialize(record)
    return 1


def _serialize(record: Record) -> bytes:
    """Return `record` as JSON bytes of exactly their size.

    orjson returns its output in a 4 KiB buffer; kept as it is, 100,000
    records would hold 400 MB, so the bytes are copied to their size.
    """
    return bytes(memoryview(orjson.dumps(record)))


def _join(fragments: Dict[str, bytes]) -> bytes:
    """Return the JSON object `{id: record}` built from `fragments`."""
    return b"{" + b",".join(
        orjson.dumps(record_id) + b":" + fragment
        for record_id, fragment in fragments.items()) + b"}"


def write_atomically(path: str, data: bytes) -> None:
    """Replace the file at `path` with `data`, all or nothing.

    The data goes to a temporary file (mode 0600) in the same folder, is
    flushed and fsynced, then moved over `path` with `os.replace`, and the
    folder is fsynced so that the rename survives a crash. Raises `OSError`
    when the file cannot be written; `path` is then intact.
    """
    folder = os.path.dirname(path)
    handle = tempfile.NamedTemporaryFile(
        "wb", dir=folder, prefix=os.path.basename(path) + ".",
        suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def corrupt_message(path: str, reason: object) -> str:
    """Return the one-line error for an unreadable store file."""
    text = str(reason).splitlines()[0] if str(reason) else "unreadable"
    return "cannot read {}: {}; the file was left untouched".format(
        path, text)


def read_json_records(path: str) -> Dict[str, Record]:
    """Return the records of the JSON store file at `path` (missing: {}).

    Used by the import and export commands. Raises `CorruptStoreError`.
    """
    return JsonFileStore._read(path)
