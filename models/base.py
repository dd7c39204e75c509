#!/usr/bin/env python3
"""Base module: the model class and its store of objects (spec §4.1).

`DATA` maps a class name to a dict of id to object, as in the shipped code.
Records persist through a `RecordStore` (JSON files `.db_<Class>.json` in
the working directory by default). Before the first read or write of a
class in a process, and whenever another process has changed the stored
records since, the class is (re)loaded from the store (A27), so `count`,
`get` and `search` never raise `KeyError`, and a save from a fresh process
adds to the file instead of wiping it. Every save or removal holds the
store's lock, re-reads changes made by other processes, then writes
atomically, so no update is lost when several processes share the files.
"""
import uuid
from datetime import datetime
from typing import (ContextManager, Dict, Hashable, Iterable, List, Optional,
                    Tuple, TypeVar)

from models import clock
from models.store import (CorruptStoreError, JsonFileStore, Record,
                          RecordStore)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
DATA = {}

_MISSING = object()
_store: RecordStore = JsonFileStore()
_TABLES: Dict[str, "_Table"] = {}


def set_store(store: RecordStore) -> None:
    """Make `store` the record store of every model class.

    Every class is reloaded from the new store at its next use.
    """
    global _store
    _store = store
    _TABLES.clear()


def _hashable(value: object) -> bool:
    """Return True if `value` can be a dict key."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Table:
    """The objects of one class, with an index per indexed attribute.

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
        self.index: Dict[str, Dict[Hashable, Dict[str, None]]] = {
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
            ids = list(self.index[attr].get(value, ()))
            return [self.objects[i] for i in ids if i in self.objects]
        return None

    def _add_to_index(self, obj: "Base") -> None:
        """Index `obj` under its current values of the indexed attributes."""
        values = tuple(getattr(obj, attr, None) for attr in self.indexed)
        if self.keys.get(obj.id) == values:
            return
        self._drop_from_index(obj.id)
        for attr, value in zip(self.indexed, values):
            if _hashable(value):
                self.index[attr].setdefault(value, {})[obj.id] = None
        self.keys[obj.id] = values

    def _drop_from_index(self, obj_id: str) -> None:
        """Remove `obj_id` from every index."""
        values = self.keys.pop(obj_id, None)
        if values is None:
            return
        for attr, value in zip(self.indexed, values):
            if not _hashable(value):
                continue
            ids = self.index[attr].get(value)
            if ids is not None:
                ids.pop(obj_id, None)
                if not ids:
                    del self.index[attr][value]


class Base():
    """Base class of the stored models: id, timestamps and persistence.

    Subclasses list in `_indexed` the attributes that searches use most;
    they are indexed in memory.
    """

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

        self.id = kwargs.get('id', str(uuid.uuid4()))
        self.created_at = self._timestamp(kwargs.get('created_at'))
        self.updated_at = self._timestamp(kwargs.get('updated_at'))

    @staticmethod
    def _timestamp(value: object) -> datetime:
        """Return `value` as a naive UTC datetime; None gives now."""
        if value is None:
            return clock.utcnow()
        if isinstance(value, datetime):
            return value
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
                result[key] = value.strftime(TIMESTAMP_FORMAT)
            else:
                result[key] = value
        return result

    @classmethod
    def load_from_file(cls) -> None:
        """Reset the objects of this class, then read them from the store.

        Reads `.db_<ClassName>.json` in the working directory; a missing
        file gives no objects. Raises `CorruptStoreError` naming the file
        when it cannot be read; `DATA` and the file are then unchanged.
        """
        cls._load(_store.version(cls.__name__))

    @classmethod
    def _load(cls, version: Optional[Hashable]) -> _Table:
        """Build the table of this class from the store and publish it."""
        s_class = cls.__name__
        records = _store.read(s_class)
        objects = {}
        for obj_id, record in records.items():
            try:
                objects[obj_id] = cls(**record)
            except (TypeError, ValueError) as exc:
                raise CorruptStoreError(
                    "cannot read {}: record {!r}: {}; the file was left "
                    "untouched".format(JsonFileStore.path(s_class),
                                       obj_id, exc)) from exc
        table = _Table(objects, version, cls._indexed)
        DATA[s_class] = objects
        _TABLES[s_class] = table
        return table

    @classmethod
    def _refresh(cls) -> _Table:
        """Return the current table, loading it if it is absent or stale.

        Costs one `stat` of the store file when nothing changed.
        """
        s_class = cls.__name__
        version = _store.version(s_class)
        table = _TABLES.get(s_class)
        if (table is not None and table.objects is DATA.get(s_class)
                and table.version == version):
            return table
        return cls._load(version)

    @classmethod
    def _write(cls, table: _Table) -> None:
        """Write every object of `table` to the store (lock held)."""
        s_class = cls.__name__
        records: Dict[str, Record] = {
            obj_id: obj.to_json(True)
            for obj_id, obj in list(table.objects.items())}
        _store.write(s_class, records)
        table.version = _store.version(s_class)

    @classmethod
    def save_to_file(cls) -> None:
        """Write every object of this class to `.db_<ClassName>.json`.

        Objects this process holds are merged over the records on disk, so
        records another process wrote are kept. Raises `OSError` if the
        file cannot be written (the old file is then intact).
        """
        s_class = cls.__name__
        with _store.lock(s_class):
            held = DATA.get(s_class, {})
            table = cls._refresh()
            if table.objects is not held:
                for obj in list(held.values()):
                    table.put(obj)
            cls._write(table)

    def save(self) -> None:
        """Store this object: set `updated_at` to now (UTC), then persist.

        Raises `OSError` if the store cannot be written; the object is then
        not stored.
        """
        cls = self.__class__
        self.updated_at = clock.utcnow()
        with _store.lock(cls.__name__):
            table = cls._refresh()
            previous = table.objects.get(self.id)
            table.put(self)
            try:
                cls._write(table)
            except BaseException:
                table.discard(self.id)
                if previous is not None:
                    table.put(previous)
                raise

    def remove(self) -> None:
        """Delete this object from the store if it is stored there."""
        self.__class__.remove_many([self.id])

    @classmethod
    def remove_many(cls, ids: Iterable[str]) -> int:
        """Delete the stored objects whose id is in `ids`, in one write.

        Returns the number of objects deleted (0 writes nothing).
        """
        with _store.lock(cls.__name__):
            table = cls._refresh()
            removed = [table.discard(obj_id) for obj_id in list(ids)
                       if _hashable(obj_id) and obj_id in table.objects]
            if not removed:
                return 0
            try:
                cls._write(table)
            except BaseException:
                for obj in removed:
                    table.put(obj)
                raise
            return len(removed)

    @classmethod
    def locked(cls) -> ContextManager[None]:
        """Return a context manager holding the store lock of this class.

        While it is held no other thread or process writes this class, so
        a search followed by a save inside it cannot race (for example the
        duplicate email check of `POST /api/v1/users`).
        """
        return _store.lock(cls.__name__)

    @classmethod
    def count(cls) -> int:
        """Return the number of stored objects of this class."""
        return len(cls._refresh().objects)

    @classmethod
    def all(cls) -> Iterable[TypeVar('Base')]:
        """Return every stored object of this class, in store order."""
        return cls.search()

    @classmethod
    def get(cls, id: str) -> TypeVar('Base'):
        """Return the stored object with this `id`, or None."""
        if not _hashable(id):
            return None
        return cls._refresh().objects.get(id)

    @classmethod
    def search(cls, attributes: dict = {}) -> List[TypeVar('Base')]:
        """Return the stored objects whose attributes equal `attributes`.

        `attributes` maps attribute names to values; an empty dict returns
        every object, in store order. An unknown attribute matches nothing.
        """
        table = cls._refresh()
        pool = table.candidates(attributes) if attributes else None
        if pool is None:
            pool = list(table.objects.values())

        def _search(obj: Base) -> bool:
            """Return True if `obj` has every asked attribute value."""
            if len(attributes) == 0:
                return True
            for k, v in attributes.items():
                if (getattr(obj, k, _MISSING) != v):
                    return False
            return True
        return list(filter(_search, pool))
