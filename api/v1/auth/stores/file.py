#!/usr/bin/env python3
"""File-backed session store: `UserSession` records in `.db_UserSession.json`.

Records survive a restart of the server and are shared by every process
that runs in the same working directory (spec A5).
"""
from datetime import datetime
from typing import Callable, List, Optional

from api.v1.auth.stores.base import SessionRecord, SessionStore
from models.user_session import UserSession


class FileSessionStore(SessionStore):
    """Session records as `UserSession` objects (the file is the authority).

    A record reads back as `{"user_id", "created_at", "last_seen"}`, where
    `last_seen` is the `updated_at` of the `UserSession`.
    """

    @staticmethod
    def _find(session_id: str) -> Optional[UserSession]:
        """Return the `UserSession` of `session_id`, or None."""
        found = UserSession.search({"session_id": session_id})
        return found[0] if found else None

    @staticmethod
    def _record(session: UserSession) -> SessionRecord:
        """Return the session dictionary of a `UserSession`."""
        return {"user_id": session.user_id,
                "created_at": session.created_at,
                "last_seen": session.updated_at}

    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the session dictionary of `session_id`, or None."""
        session = self._find(session_id)
        return None if session is None else self._record(session)

    def set(self, session_id: str, record: SessionRecord) -> None:
        """Create the `UserSession` of `session_id`, or mark it as used.

        Writes `.db_UserSession.json`.
        """
        session = self._find(session_id)
        if session is None:
            session = UserSession(user_id=record.get("user_id"),
                                  session_id=session_id)
            created_at = record.get("created_at")
            if isinstance(created_at, datetime):
                session.created_at = created_at
        session.save()

    def delete(self, session_id: str) -> bool:
        """Delete the `UserSession` of `session_id`; False if absent."""
        ids = [s.id for s in UserSession.search({"session_id": session_id})]
        return UserSession.remove_many(ids) > 0

    def session_ids_of(self, user_id: str) -> List[str]:
        """Return the session ids of `user_id` (indexed, no scan)."""
        return [s.session_id
                for s in UserSession.search({"user_id": user_id})]

    def delete_user_sessions(self, user_id: str) -> int:
        """Delete every session of `user_id` in one write."""
        return UserSession.remove_many(
            [s.id for s in UserSession.search({"user_id": user_id})])

    def purge(self, is_expired: Callable[[SessionRecord], bool]) -> int:
        """Delete every expired `UserSession` in one write."""
        expired = [s.id for s in UserSession.all()
                   if is_expired(self._record(s))]
        return UserSession.remove_many(expired)
