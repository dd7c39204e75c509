#!/usr/bin/env python3
"""In-memory session store over a plain dict of session id to record."""
import threading
from typing import Callable, Dict, List, Optional

from api.v1.auth.stores.base import (SessionRecord, SessionStore,
                                     record_user_id)


class MemorySessionStore(SessionStore):
    """Session records in a dict of this process (lost on restart).

    `records` is the backing dict, such as `SessionAuth.user_id_by_session_id`,
    which checker scripts print; `by_user` maps a user id to its session ids
    (an ordered dict used as a set). Other code may change `records`
    directly (clear it, for instance), so the per-user index is checked
    against it before use.
    """

    def __init__(self, records: Dict[str, SessionRecord],
                 by_user: Dict[str, Dict[str, None]]) -> None:
        """Wrap the backing dict `records` and the index `by_user`."""
        self.records = records
        self.by_user = by_user
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id`, or None."""
        return self.records.get(session_id)

    def set(self, session_id: str, record: SessionRecord) -> None:
        """Store `record` under `session_id` and index it by user."""
        with self._lock:
            self.records[session_id] = record
            user_id = record_user_id(record)
            if user_id is not None:
                self.by_user.setdefault(user_id, {})[session_id] = None

    def delete(self, session_id: str) -> bool:
        """Delete `session_id`; return False if it was not stored."""
        with self._lock:
            record = self.records.pop(session_id, None)
            if record is None:
                return False
            user_id = record_user_id(record)
            ids = self.by_user.get(user_id)
            if ids is not None:
                ids.pop(session_id, None)
                if not ids:
                    del self.by_user[user_id]
            return True

    def session_ids_of(self, user_id: str) -> List[str]:
        """Return the stored session ids of `user_id` (index, no scan)."""
        with self._lock:
            ids = list(self.by_user.get(user_id, ()))
        return [sid for sid in ids
                if record_user_id(self.records.get(sid)) == user_id]

    def purge(self, is_expired: Callable[[SessionRecord], bool]) -> int:
        """Delete the expired records; return how many were deleted."""
        expired = [sid for sid, record in list(self.records.items())
                   if is_expired(record)]
        return sum(1 for sid in expired if self.delete(sid))
