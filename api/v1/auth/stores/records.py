#!/usr/bin/env python3
"""Session store over `UserSession` records (JSON file or database).

With the JSON default the records live in `.db_UserSession.json`, so they
survive a restart and are shared by every process of one working
directory (spec A5); with `DATABASE_URL` they live in its
`user_sessions` table and are shared by every host.
"""
from datetime import datetime
from typing import List, Optional, Tuple

from api.v1.auth.stores.base import (Cutoffs, SessionRecord, SessionStore,
                                     session_handle)
from models.user_session import UserSession


class RecordSessionStore(SessionStore):
    """Sessions as `UserSession` objects; the record store is the authority.

    A record reads back with `last_seen` = the `updated_at` of the
    `UserSession`, `epoch` = its `_auth_epoch`, and `amr`, `auth_time`,
    `ip`, `user_agent` from its private fields of the same names.
    """

    @staticmethod
    def _find(session_id: str) -> Optional[UserSession]:
        """Return the `UserSession` of `session_id`, or None."""
        found = UserSession.search({"session_id": session_id})
        return found[0] if found else None

    @staticmethod
    def _record(session: UserSession) -> SessionRecord:
        """Return the `SessionRecord` of a `UserSession`."""
        amr = getattr(session, "_amr", None)
        return SessionRecord(
            session.user_id, session.created_at, session.updated_at,
            session._auth_epoch,
            tuple(amr) if isinstance(amr, list) else None,
            getattr(session, "_auth_time", None),
            getattr(session, "_ip", None),
            getattr(session, "_user_agent", None))

    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id`, or None."""
        session = self._find(session_id)
        return None if session is None else self._record(session)

    def create(self, session_id: str, record: SessionRecord,
               expires_at: Optional[datetime] = None,
               cutoffs: Optional[Cutoffs] = None) -> bool:
        """Save a new `UserSession`, purging some expired ones with it.

        Writes `.db_UserSession.json` once (or one database transaction).
        """
        with UserSession.locked():
            if self._find(session_id) is not None:
                return False
            session = UserSession(
                user_id=record.user_id, session_id=session_id,
                _auth_epoch=record.epoch, created_at=record.created_at,
                _amr=list(record.amr) if record.amr else None,
                _auth_time=record.auth_time, _ip=record.ip,
                _user_agent=record.user_agent)
            UserSession.save_purging(session, _field_cutoffs(cutoffs))
            return True

    def touch(self, session_id: str, last_seen: datetime,
              expires_at: Optional[datetime] = None) -> bool:
        """Move `updated_at` of the session to `last_seen` if it exists.

        An update of one field of an existing record: it never re-creates
        a session deleted meanwhile.
        """
        session = self._find(session_id)
        return session is not None and session.mark_used(last_seen)

    def set_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        """Move `_auth_time` of the session if it still exists.

        An update of one field of the existing record (never a re-create).
        """
        session = self._find(session_id)
        return session is not None and session.reauthenticated(auth_time)

    def delete(self, session_id: str) -> bool:
        """Delete the `UserSession` of `session_id`; False if absent."""
        ids = [s.id for s in UserSession.search({"session_id": session_id})]
        return UserSession.remove_many(ids) > 0

    def sessions_of(self, user_id: str) -> List[Tuple[str, SessionRecord]]:
        """Return `(handle, record)` of the sessions of `user_id`."""
        return [(session_handle(s.session_id), self._record(s))
                for s in UserSession.search({"user_id": user_id})
                if isinstance(s.session_id, str)]

    def delete_by_handles(self, user_id: str, handles: List[str]) -> int:
        """Delete the sessions of `user_id` named by `handles`, at once."""
        wanted = set(handles)
        return UserSession.remove_many(
            [s.id for s in UserSession.search({"user_id": user_id})
             if isinstance(s.session_id, str)
             and session_handle(s.session_id) in wanted])

    def purge(self, cutoffs: Cutoffs) -> int:
        """Delete every expired `UserSession`, in one write."""
        fields = _field_cutoffs(cutoffs)
        if not fields:
            return 0
        return UserSession.remove_many(UserSession.ids_older_than(fields))


def _field_cutoffs(cutoffs: Optional[Cutoffs]) -> dict:
    """Return `cutoffs` as `UserSession` field names to datetimes."""
    if not cutoffs:
        return {}
    fields = {}
    if cutoffs.created_before is not None:
        fields["created_at"] = cutoffs.created_before
    if cutoffs.last_seen_before is not None:
        fields["updated_at"] = cutoffs.last_seen_before
    return fields
