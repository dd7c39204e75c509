#!/usr/bin/env python3
"""Base module: the model class and its store of objects (spec §4.1).

`DATA` maps a class name to a dict of id to object, as in the shipped
code. Records persist through a `RecordStore`: the JSON files
`.db_<Class>.json` of the working directory by default, or the database
of `DATABASE_URL`.

With the JSON files, `DATA` holds every stored object. Before the first
read or write of a class in a process, and whenever another process has
changed the file since, the class is (re)loaded (A27), so `count`, `get`
and `search` never raise `KeyError`, and a save from a fresh process adds
to the file instead of wiping it. With a database, every call asks the
database and `DATA` holds only objects placed there by hand.

Writes are row-level on every store. Each stored object remembers the
record it was read as; `save()` inserts a new object, and for a stored one
changes only the fields that differ, only while the record exists and only
if those fields still hold what was read. A stale object therefore raises
`RecordMissingError` or `RecordConflictError` instead of bringing back a
deleted record or writing an old password over a new one.
"""
import itertools
import threading
import uuid
from datetime import datetime
from typing import (ContextManager, Dict, Hashable, Iterable, List, Optional,
                    Sequence, Tuple, TypeVar)

import orjson

from models import clock
from models.settings import load_settings
from models.store import (CorruptStoreError, Delete, Insert, Operation,
                          Record, RecordStore, Update)
from models.store_factory import make_record_store

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
DATA = {}

_MISSING = object()
_store: Optional[RecordStore] = None
_store_lock = threading.Lock()
_TABLES: Dict[str, "_Table"] = {}
_SWEEP_MIN = 64


def set_store(store: RecordStore) -> None:
    """Make `store` the record store of every model class.

    Every class is read from the new store at its next use; the previous
    store is closed.
    """
    global _store
    with _store_lock:
        previous, _store = _store, store
        _TABLES.clear()
    if previous is not None and previous is not store:
        previous.close()


def use_database(database_url: Optional[str], pool_size: int = 5) -> None:
    """Make the record store the one `database_url` names (None: JSON).

    Keeps the current store when it already is that one, so that its
    cache and connections live on. Raises `ValueError` for an unsupported
    URL.
    """
    current = _store
    if current is not None \
            and current.database_url == (database_url or None):
        return
    set_store(make_record_store(database_url, pool_size))


def get_store() -> RecordStore:
    """Return the record store, creating it from the settings at first use.

    The default comes from `DATABASE_URL` (read by `models.settings`, the
    one place that reads the environment): unset gives the JSON files.
    """
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                settings = load_settings()
                _store = make_record_store(settings.database_url,
                                           settings.database_pool_size)
    return _store


def format_timestamp(moment: datetime) -> str:
    """Return `moment` as `TIMESTAMP_FORMAT` text, such as 2017-09-25T01:55:17.

    `isoformat` gives the same text several times faster than `strftime`
    for the years 1000 to 9999 of a naive datetime, which is every stamp
    of the clock.
    """
    if moment.tzinfo is None and moment.year >= 1000:
        return moment.isoformat(timespec="seconds")
    return moment.strftime(TIMESTAMP_FORMAT)


def _hashable(value: object) -> bool:
    """Return True if `value` can be a dict key."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Table:
    """The objects of one class read from a cached store, with indexes.

    An index maps an attribute value to the ids holding it, in insertion
    order, so a search by that attribute does not scan every object. It
    reflects the values as they were when each object was stored.
    """

    def __init__(self, objects: Dict[str, "Base"],
                 version: Optional[Hashable],
                 indexed: Tuple[str, ...]) -> None:
        """Wrap `objects`, read at store `version`, and index them."""
        self.objects = objects
        self.version = version
        self.indexed = indexed
        self.sweep_at = 0
        self.index: Dict[str, Dict[Hashable, object]] = {
            attr: {} for attr in indexed}
        self.keys: Dict[str, tuple] = {}
        for obj in list(objects.values()):
            self._add_to_index(obj)

    def put(self, obj: "Base") -> None:
        """Store `obj` under its id and index it."""
        self.objects[obj.id] = obj
        self._add_to_index(obj)

    def discard(self, obj_id: str) -> Optional["Base"]:
        """Remove the object `obj_id`; return it, or None if absent."""
        self._drop_from_index(obj_id)
        return self.objects.pop(obj_id, None)

    def candidates(self, attributes: dict) -> Optional[List["Base"]]:
        """Return the objects an index offers for `attributes`.

        Returns None when no indexed attribute is asked for (or its value
        is unhashable): the caller must then scan every object.
        """
        for attr in self.indexed:
            value = attributes.get(attr, _MISSING)
            if value is _MISSING or not _hashable(value):
                continue
            ids = self.index[attr].get(value, ())
            if isinstance(ids, str):
                ids = (ids,)
            return [self.objects[i] for i in list(ids) if i in self.objects]
        return None

    def sweep(self, size: int) -> List["Base"]:
        """Return about `size` objects, continuing after the last sweep.

        Successive sweeps go round every object, so a caller can examine a
        little of the table at each write (an amortised purge).
        """
        total = len(self.objects)
        if total == 0:
            return []
        start = self.sweep_at if self.sweep_at < total else 0
        size = min(total, max(size, _SWEEP_MIN, total // 8))
        values = self.objects.values()
        chosen = list(itertools.islice(values, start, start + size))
        if len(chosen) < size:
            chosen += list(itertools.islice(values, 0, size - len(chosen)))
        self.sweep_at = (start + size) % total
        return chosen

    def _add_to_index(self, obj: "Base") -> None:
        """Index `obj` under its current values of the indexed attributes.

        An index entry is the one id holding a value, or an ordered dict
        (used as a set) when several do: most values are unique, and a
        plain id costs far less memory than a dict per user.
        """
        values = tuple(getattr(obj, attr, None) for attr in self.indexed)
        if self.keys.get(obj.id) == values:
            return
        self._drop_from_index(obj.id)
        for attr, value in zip(self.indexed, values):
            if not _hashable(value):
                continue
            index = self.index[attr]
            held = index.get(value)
            if held is None:
                index[value] = obj.id
            elif isinstance(held, str):
                if held != obj.id:
                    index[value] = {held: None, obj.id: None}
            else:
                held[obj.id] = None
        self.keys[obj.id] = values

    def _drop_from_index(self, obj_id: str) -> None:
        """Remove `obj_id` from every index."""
        values = self.keys.pop(obj_id, None)
        if values is None:
            return
        for attr, value in zip(self.indexed, values):
            if not _hashable(value):
                continue
            index = self.index[attr]
            held = index.get(value)
            if held == obj_id:
                del index[value]
            elif isinstance(held, dict):
                held.pop(obj_id, None)
                if len(held) == 1:
                    index[value] = next(iter(held))


class Base():
    """Base class of the stored models: id, timestamps and persistence.

    Subclasses list in `_indexed` the attributes that searches use most;
    the JSON store indexes them in memory, a database has indexes on them.
    The record an object was read or saved as is kept outside its
    `__dict__` (so `to_json` never shows it) to write only what changed.
    """

    __slots__ = ("__dict__", "__weakref__", "_stored")
    _indexed: Tuple[str, ...] = ()

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize an instance from keyword arguments.

        `id` defaults to a new uuid4 string; `created_at` and `updated_at`
        accept a `TIMESTAMP_FORMAT` string (UTC) or a `datetime`, and
        default to now (UTC). Raises `ValueError` on a malformed timestamp.
        Creating an object does not store it: call `save()`.
        """
        s_class = str(self.__class__.__name__)
        if DATA.get(s_class) is None:
            DATA[s_class] = {}

        self.id = kwargs['id'] if 'id' in kwargs else str(uuid.uuid4())
        self.created_at = self._timestamp(kwargs.get('created_at'))
        self.updated_at = self._timestamp(kwargs.get('updated_at'))

    @staticmethod
    def _timestamp(value: object) -> datetime:
        """Return `value` as a naive UTC datetime; None gives now."""
        if value is None:
            return clock.utcnow()
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and len(value) == 19 and value[10] == "T":
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        return datetime.strptime(value, TIMESTAMP_FORMAT)

    def __eq__(self, other: TypeVar('Base')) -> bool:
        """Return True if `other` has the same type and the same id."""
        if type(self) is not type(other):
            return False
        if not isinstance(self, Base):
            return False
        return (self.id == other.id)

    def to_json(self, for_serialization: bool = False) -> dict:
        """Return a dict of the object's attributes.

        Attributes whose name starts with `_` are left out unless
        `for_serialization` is True; datetimes become `TIMESTAMP_FORMAT`
        strings such as `"2017-09-25T01:55:17"` (A1).
        """
        result = {}
        for key, value in self.__dict__.items():
            if not for_serialization and key[0] == '_':
                continue
            if type(value) is datetime:
                result[key] = format_timestamp(value)
            else:
                result[key] = value
        return result

    @classmethod
    def _record_problem(cls, record: Record) -> Optional[str]:
        """Return why `record` cannot be an object of this class, or None.

        Timestamps are checked by the constructor and ids by the stores (a
        JSON record's id must be its key; a column's is text); subclasses
        check the other fields they rely on. None here.
        """
        return None

    @classmethod
    def _from_record(cls, record: Record,
                     serialized: Optional[bytes] = None) -> "Base":
        """Build a stored object from `record`; raise `CorruptStoreError`.

        The object remembers what it was read as: `serialized` (the
        store's own JSON of the record, shared, so it costs no memory) or
        else `record` itself.
        """
        try:
            problem = cls._record_problem(record)
            if problem is not None:
                raise ValueError(problem)
            obj = cls(**record)
        except (TypeError, ValueError) as exc:
            raise CorruptStoreError(
                "cannot read {}: record {!r}: {}; it was left untouched"
                .format(get_store().location(cls.__name__),
                        record.get("id"), exc)) from exc
        obj._stored = serialized if serialized is not None else record
        return obj

    def _snapshot(self) -> Optional[Record]:
        """Return the record this object was last read or saved as."""
        stored = getattr(self, "_stored", None)
        if isinstance(stored, bytes):
            stored = orjson.loads(stored)
        return stored

    @classmethod
    def load_from_file(cls) -> None:
        """Reset the objects of this class, then read them from the store.

        With the JSON default, reads `.db_<ClassName>.json` in the working
        directory (a missing file gives no objects). With `DATABASE_URL`,
        creates the schema if the database is empty and resets `DATA` of
        this class to `{}`. Raises `CorruptStoreError` naming the file
        when it cannot be read (`DATA` and the file are then unchanged),
        `StoreUnavailableError` when the database cannot be reached.
        """
        store = get_store()
        store.prepare()
        if store.cached:
            cls._load(store, store.version(cls.__name__))
        else:
            DATA[cls.__name__] = {}

    @classmethod
    def _load(cls, store: RecordStore,
              version: Optional[Hashable]) -> _Table:
        """Build the table of this class from `store` and publish it."""
        s_class = cls.__name__
        objects = {}
        for record, serialized in store.iterate_serialized(s_class):
            obj = cls._from_record(record, serialized)
            objects[obj.id] = obj
        table = _Table(objects, version, cls._indexed)
        DATA[s_class] = objects
        _TABLES[s_class] = table
        return table

    @classmethod
    def _refresh(cls, store: RecordStore) -> _Table:
        """Return the current table, loading it if it is absent or stale.

        Costs one `stat` of the store file when nothing changed.
        """
        s_class = cls.__name__
        version = store.version(s_class)
        table = _TABLES.get(s_class)
        if (table is not None and table.objects is DATA.get(s_class)
                and table.version == version):
            return table
        return cls._load(store, version)

    def _operation(self) -> Optional[Operation]:
        """Return the write that stores this object, or None if unchanged.

        A new object (never read nor saved, or whose id changed) is an
        `Insert`; a stored one an `Update` of the fields that differ from
        the record it was read as, expecting their old values.
        """
        record = self.to_json(True)
        stored = self._snapshot()
        if stored is None or stored.get("id") != self.id:
            return Insert(record)
        changes = {key: value for key, value in record.items()
                   if stored.get(key, _MISSING) != value}
        if not changes:
            return None
        expected = {key: stored.get(key) for key in changes
                    if key != "updated_at"}
        return Update(self.id, changes, expected)

    @classmethod
    def _persist(cls, objects: Sequence["Base"],
                 removals: Iterable[str] = ()) -> List[int]:
        """Write `objects` and delete the ids `removals`, in one write.

        Returns the store's count per operation (the last one is the
        `Delete`, when there are removals). Raises the store's errors;
        then nothing is written and the cached objects are re-read.
        """
        s_class = cls.__name__
        pending = [(obj, obj._operation()) for obj in objects]
        pending = [(obj, op) for obj, op in pending if op is not None]
        ops: List[Operation] = [op for _, op in pending]
        removals = tuple(i for i in removals if isinstance(i, str))
        if removals:
            ops.append(Delete(removals))
        if not ops:
            return []
        store = get_store()
        with store.lock(s_class):
            table = cls._refresh(store) if store.cached else None
            try:
                results = store.apply(s_class, ops)
            except BaseException:
                _TABLES.pop(s_class, None)
                raise
            for obj, op in pending:
                if isinstance(op, Insert):
                    obj._stored = op.record
                    if table is not None:
                        table.put(obj)
                else:
                    obj._stored = dict(obj._snapshot(), **op.changes)
                    if table is not None:
                        cls._sync_cached(table, obj, op)
            if table is not None:
                for obj_id in removals:
                    table.discard(obj_id)
                table.version = store.version(s_class)
        return results

    @staticmethod
    def _sync_cached(table: _Table, obj: "Base", op: Update) -> None:
        """Carry an update of `obj` over to the cached object of its id."""
        cached = table.objects.get(obj.id)
        if cached is None:
            table.put(obj)
            return
        if cached is not obj:
            for key in op.changes:
                if key in obj.__dict__:
                    setattr(cached, key, obj.__dict__[key])
            cached._stored = dict(cached._snapshot(), **op.changes)
        table.put(cached)

    @classmethod
    def save_to_file(cls) -> None:
        """Store every object this process holds in `DATA` for the class.

        New objects are inserted and changed ones updated, in one write;
        records other processes wrote are kept. Raises `OSError` if the
        file cannot be written, and the errors of `save()` for a stale
        object.
        """
        cls._persist(list(DATA.get(cls.__name__, {}).values()))

    def save(self) -> None:
        """Store this object: set `updated_at` to now (UTC), then persist.

        A new object is inserted (one with an existing id replaces it).
        A stored object changes only the fields that differ from what was
        read. Raises `RecordMissingError` when its record was deleted
        meanwhile (it is not created again), `RecordConflictError` when a
        changed field was changed by someone else since it was read,
        `DuplicateRecordError` when a database refuses a taken email,
        `OSError` or `StoreUnavailableError` when the store cannot be
        written; nothing is stored then.
        """
        self.updated_at = clock.utcnow()
        type(self)._persist([self])

    @classmethod
    def save_many(cls, objects: Sequence["Base"]) -> None:
        """Save several objects of this class in one write.

        Each is stamped and written as `save()` would; raises the same
        errors, and then none of them is stored.
        """
        for obj in objects:
            obj.updated_at = clock.utcnow()
        cls._persist(list(objects))

    def remove(self) -> None:
        """Delete this object from the store if it is stored there."""
        self.__class__.remove_many([self.id])

    @classmethod
    def remove_many(cls, ids: Iterable[str]) -> int:
        """Delete the stored objects whose id is in `ids`, in one write.

        Returns the number of objects deleted (0 writes nothing).
        """
        results = cls._persist([], removals=list(ids))
        return results[-1] if results else 0

    @classmethod
    def ids_older_than(cls, cutoffs: Dict[str, datetime],
                       sweep: Optional[int] = None) -> List[str]:
        """Return ids of objects in which a field of `cutoffs` is older.

        `cutoffs` maps datetime attributes to naive UTC datetimes; an
        object qualifies when the attribute is missing or strictly before
        its cutoff. With `sweep`, examine only about that many objects,
        going on where the previous sweep stopped (an amortised purge);
        a database returns at most `sweep` ids.
        """
        store = get_store()
        if not store.cached:
            return store.ids_older(cls.__name__, cutoffs, sweep)
        table = cls._refresh(store)
        pool = (table.sweep(sweep) if sweep is not None
                else list(table.objects.values()))
        return [obj.id for obj in pool if any(
            not isinstance(getattr(obj, name, None), datetime)
            or getattr(obj, name) < cutoff
            for name, cutoff in cutoffs.items())]

    @classmethod
    def locked(cls) -> ContextManager[None]:
        """Return a context manager holding the store lock of this class.

        With the JSON files no other thread or process writes this class
        while it is held, so a search followed by a save inside it cannot
        race. A database needs no such lock: its unique constraints refuse
        a duplicate instead (`DuplicateRecordError`).
        """
        return get_store().lock(cls.__name__)

    @classmethod
    def count(cls) -> int:
        """Return the number of stored objects of this class."""
        store = get_store()
        if store.cached:
            return len(cls._refresh(store).objects)
        return store.count(cls.__name__)

    @classmethod
    def all(cls) -> Iterable[TypeVar('Base')]:
        """Return every stored object of this class, in store order."""
        return cls.search()

    @classmethod
    def get(cls, id: str) -> TypeVar('Base'):
        """Return the stored object with this `id`, or None."""
        if not _hashable(id):
            return None
        store = get_store()
        if store.cached:
            return cls._refresh(store).objects.get(id)
        if not isinstance(id, str):
            return None
        record = store.get(cls.__name__, id)
        return None if record is None else cls._from_record(record)

    @classmethod
    def search(cls, attributes: dict = {}) -> List[TypeVar('Base')]:
        """Return the stored objects whose attributes equal `attributes`.

        `attributes` maps attribute names to values; an empty dict returns
        every object, in store order. An unknown attribute matches nothing.
        """
        store = get_store()
        if store.cached:
            table = cls._refresh(store)
            pool = table.candidates(attributes) if attributes else None
            if pool is None:
                pool = list(table.objects.values())
        elif attributes:
            pool = [cls._from_record(record)
                    for record in store.find(cls.__name__, attributes)]
        else:
            pool = [cls._from_record(record)
                    for record in store.iterate(cls.__name__)]

        def _search(obj: Base) -> bool:
            """Return True if `obj` has every asked attribute value."""
            if len(attributes) == 0:
                return True
            for k, v in attributes.items():
                if (getattr(obj, k, _MISSING) != v):
                    return False
            return True
        return list(filter(_search, pool))
