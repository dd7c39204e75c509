#!/usr/bin/env python3
"""The session store contract that the session auth classes rely on.

A session record is what an auth class keeps for a session id: the user id
itself (a `str`, `SessionAuth`) or a session dictionary
`{"user_id": str, "created_at": datetime, "last_seen": datetime}` with
naive UTC datetimes (`SessionExpAuth` and `SessionDBAuth`). A store keeps
records by session id and knows which session ids belong to which user, so
that every session of one user can be ended without a scan. Stores never
decide about expiry: the auth class passes its rule to `purge`.
"""
from abc import ABC, abstractmethod
from typing import Any, Callable, List, Optional

SessionRecord = Any


def record_user_id(record: SessionRecord) -> Optional[str]:
    """Return the user id held by `record`, or None if it holds none."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        user_id = record.get("user_id")
        return user_id if isinstance(user_id, str) else None
    return None


class SessionStore(ABC):
    """Where session records live (Django's session backend contract).

    Methods that child classes must implement: `get`, `set`, `delete`,
    `session_ids_of` and `purge`.
    """

    @abstractmethod
    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id`, or None if there is none.

        A lookup never creates a record.
        """

    @abstractmethod
    def set(self, session_id: str, record: SessionRecord) -> None:
        """Create or replace the record of `session_id`."""

    @abstractmethod
    def delete(self, session_id: str) -> bool:
        """Delete the record of `session_id`; return False if it was absent."""

    @abstractmethod
    def session_ids_of(self, user_id: str) -> List[str]:
        """Return the session ids whose record holds `user_id`."""

    @abstractmethod
    def purge(self, is_expired: Callable[[SessionRecord], bool]) -> int:
        """Delete every record for which `is_expired(record)` is True.

        Returns the number of records deleted.
        """

    def delete_user_sessions(self, user_id: str) -> int:
        """Delete every session of `user_id`; return how many were deleted."""
        return sum(1 for session_id in self.session_ids_of(user_id)
                   if self.delete(session_id))
