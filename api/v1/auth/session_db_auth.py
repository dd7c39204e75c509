#!/usr/bin/env python3
"""Session authentication whose sessions live in `.db_UserSession.json`."""
from typing import Any, Optional

from api.v1.auth.session_auth import UNSET_EPOCH
from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.auth.stores.base import SessionStore
from api.v1.auth.stores.records import RecordSessionStore


class SessionDBAuth(SessionExpAuth):
    """Expiring sessions stored as `UserSession` records (spec §6.4).

    The record store is the authority: sessions survive a restart (A5)
    and are shared by every process of the same working directory, or by
    every host with `DATABASE_URL` (or `SESSION_STORE_URL`, which puts
    them in Redis instead). The expiry rule is the one of `SessionExpAuth`
    (A6).
    """

    def default_store(self) -> SessionStore:
        """Return the store of `UserSession` records."""
        return RecordSessionStore()

    def create_session(self, user_id: str = None,
                       epoch: Optional[int] = UNSET_EPOCH,
                       **context: Any) -> str:
        """Store a new `UserSession` for `user_id`; return its session id.

        Writes `.db_UserSession.json` (or the database). Returns None if
        `user_id` is None or not a str.
        """
        return super().create_session(user_id, epoch, **context)

    def user_id_for_session_id(self, session_id: str = None) -> str:
        """Return the user id of the stored, unexpired session, or None."""
        return super().user_id_for_session_id(session_id)

    def destroy_session(self, request=None) -> bool:
        """Delete the `UserSession` named by the request's cookie.

        Returns True if a record was removed; False for no request, no
        cookie, or an unknown or expired session id.
        """
        return super().destroy_session(request)
