#!/usr/bin/env python3
"""In-memory session store over a plain dict of session id to value."""
import itertools
import threading
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from api.v1.auth.stores.base import (Cutoffs, SessionRecord, SessionStore,
                                     record_matches_cutoffs, session_handle)

_FRONT_SWEEP = 16


class MemorySessionStore(SessionStore):
    """Session records in dicts of this process (lost on restart).

    `records` is the backing dict that checker scripts print, such as
    `SessionAuth.user_id_by_session_id`. Its values keep the contract's
    shapes: the user id itself (`plain=True`, `SessionAuth`), or the
    session dictionary `{"user_id": str, "created_at": datetime}`
    (`SessionExpAuth`). What the contract does not show (the credential
    epoch, the last use, the creation time of a plain session) lives in
    `meta`; `by_user` maps a user id to its session ids (an ordered dict
    used as a set). Other code may change `records` directly (clear it,
    plant an entry), so both are checked against it before use.
    """

    def __init__(self, records: Dict[str, Any],
                 by_user: Dict[str, Dict[str, None]],
                 meta: Dict[str, Dict[str, Any]], plain: bool) -> None:
        """Wrap the backing dicts; `plain` picks the value shape."""
        self.records = records
        self.by_user = by_user
        self.meta = meta
        self.plain = plain
        self._lock = threading.RLock()

    def _user_id_of(self, value: Any) -> Optional[str]:
        """Return the user id a stored value names, or None."""
        if isinstance(value, dict):
            value = value.get("user_id")
        return value if isinstance(value, str) else None

    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id`, or None.

        With the dict shape, a value that is not a dict is no session
        (spec §6.2); `created_at` must be a datetime to count.
        """
        value = self.records.get(session_id)
        if value is None:
            return None
        if not self.plain and not isinstance(value, dict):
            return None
        meta = self.meta.get(session_id) or {}
        created_at = (meta.get("created_at") if self.plain
                      else value.get("created_at"))
        if not isinstance(created_at, datetime):
            created_at = None
        return SessionRecord(self._user_id_of(value), created_at,
                             meta.get("last_seen"), meta.get("epoch"),
                             meta.get("amr"), meta.get("auth_time"),
                             meta.get("ip"), meta.get("user_agent"))

    def create(self, session_id: str, record: SessionRecord,
               expires_at: Optional[datetime] = None,
               cutoffs: Optional[Cutoffs] = None) -> bool:
        """Store `record` under `session_id` in the contract's shape.

        With `cutoffs`, the oldest few sessions are checked and the
        expired ones dropped: the dict keeps insertion (creation) order,
        so the front is where sessions expire first.
        """
        with self._lock:
            if session_id in self.records:
                return False
            if cutoffs:
                self._sweep_front(cutoffs)
            if self.plain:
                self.records[session_id] = record.user_id
            else:
                self.records[session_id] = {"user_id": record.user_id,
                                            "created_at": record.created_at}
            self.meta[session_id] = {"epoch": record.epoch,
                                     "last_seen": record.last_seen,
                                     "created_at": record.created_at,
                                     "amr": record.amr,
                                     "auth_time": record.auth_time,
                                     "ip": record.ip,
                                     "user_agent": record.user_agent}
            self.by_user.setdefault(record.user_id, {})[session_id] = None
            return True

    def _sweep_front(self, cutoffs: Cutoffs) -> None:
        """Delete expired sessions among the oldest few (lock held)."""
        front = list(itertools.islice(self.records, _FRONT_SWEEP))
        for session_id in front:
            record = self.get(session_id)
            if record is not None and record_matches_cutoffs(record,
                                                             cutoffs):
                self.delete(session_id)

    def touch(self, session_id: str, last_seen: datetime,
              expires_at: Optional[datetime] = None) -> bool:
        """Record a use of `session_id`; False if it is gone."""
        with self._lock:
            if session_id not in self.records:
                return False
            self.meta.setdefault(session_id, {})["last_seen"] = last_seen
            return True

    def set_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        """Move `auth_time` of `session_id`; False if it is gone."""
        with self._lock:
            if session_id not in self.records:
                return False
            self.meta.setdefault(session_id, {})["auth_time"] = auth_time
            return True

    def delete(self, session_id: str) -> bool:
        """Delete `session_id`; return False if it was not stored."""
        with self._lock:
            self.meta.pop(session_id, None)
            if session_id not in self.records:
                return False
            user_id = self._user_id_of(self.records.pop(session_id))
            ids = self.by_user.get(user_id)
            if ids is not None:
                ids.pop(session_id, None)
                if not ids:
                    del self.by_user[user_id]
            return True

    def _session_ids_of(self, user_id: str) -> List[str]:
        """Return the stored session ids of `user_id` (index, no scan)."""
        with self._lock:
            ids = list(self.by_user.get(user_id, ()))
        return [sid for sid in ids
                if self._user_id_of(self.records.get(sid)) == user_id]

    def sessions_of(self, user_id: str) -> List[Tuple[str, SessionRecord]]:
        """Return `(handle, record)` of the sessions of `user_id`."""
        found = []
        for session_id in self._session_ids_of(user_id):
            record = self.get(session_id)
            if record is not None:
                found.append((session_handle(session_id), record))
        return found

    def delete_by_handles(self, user_id: str, handles: List[str]) -> int:
        """Delete the sessions of `user_id` named by `handles`."""
        wanted = set(handles)
        return sum(1 for session_id in self._session_ids_of(user_id)
                   if session_handle(session_id) in wanted
                   and self.delete(session_id))

    def purge(self, cutoffs: Cutoffs) -> int:
        """Delete the expired records; return how many were deleted."""
        if not cutoffs:
            return 0
        expired = []
        for session_id in list(self.records):
            record = self.get(session_id)
            if record is not None and record_matches_cutoffs(record,
                                                             cutoffs):
                expired.append(session_id)
        return sum(1 for session_id in expired if self.delete(session_id))
