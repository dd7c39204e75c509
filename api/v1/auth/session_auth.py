#!/usr/bin/env python3
"""Session authentication: a session id in a cookie names the user."""
import uuid
from typing import Any, Dict, Optional, TypeVar

from flask import Response

from api.v1.auth.auth import Auth
from api.v1.auth.events import log_event
from api.v1.auth.stores.base import SessionRecord, SessionStore
from api.v1.auth.stores.memory import MemorySessionStore
from api.v1.config import Settings
from models.user import User, credentials_changed


class SessionAuth(Auth):
    """Authenticate requests by a session id kept in memory (spec §6.1).

    The flow is written here once: cookie, then session id, then user id,
    then `User.get`. Subclasses change how a session record is made
    (`_new_record`), judged (`_user_id_of_record`) and where it is kept
    (`default_store`). Session ids are uuid4 strings: 122 random bits.
    """

    user_id_by_session_id: Dict[str, Any] = {}
    _session_ids_by_user: Dict[str, Dict[str, None]] = {}

    def __init__(self, settings: Optional[Settings] = None,
                 store: Optional[SessionStore] = None) -> None:
        """Create a session auth over `store` (default: `default_store()`).

        Every session of a user ends when the user's password changes or
        the user is removed.
        """
        super().__init__(settings)
        self.store = store if store is not None else self.default_store()
        credentials_changed.connect(self._on_credentials_changed)

    def default_store(self) -> SessionStore:
        """Return the store over the class-level `user_id_by_session_id`."""
        return MemorySessionStore(SessionAuth.user_id_by_session_id,
                                  SessionAuth._session_ids_by_user)

    def create_session(self, user_id: str = None) -> str:
        """Create a session for `user_id` (a str) and return its id.

        Returns None if `user_id` is None or not a str; `""` gets a session
        (A8). One user may hold several sessions.
        """
        if not isinstance(user_id, str):
            return None
        session_id = str(uuid.uuid4())
        self.store.set(session_id, self._new_record(user_id))
        return session_id

    def _new_record(self, user_id: str) -> SessionRecord:
        """Return the record stored for a new session: the user id."""
        return user_id

    def user_id_for_session_id(self, session_id: str = None) -> str:
        """Return the user id of `session_id`, or None.

        None if `session_id` is None or not a str, or is not a live session.
        """
        if not isinstance(session_id, str):
            return None
        record = self.store.get(session_id)
        if record is None:
            return None
        return self._user_id_of_record(session_id, record)

    def _user_id_of_record(self, session_id: str,
                           record: SessionRecord) -> Optional[str]:
        """Return the user id a live record names: here the record itself."""
        return record

    def current_user(self, request=None) -> TypeVar('User'):
        """Return the `User` named by the request's session cookie, or None.

        None when the cookie is missing or unknown, or the user is gone.
        """
        user_id = self.user_id_for_session_id(self.session_cookie(request))
        if user_id is None:
            return None
        return User.get(user_id)

    def destroy_session(self, request=None) -> bool:
        """End the session named by the request's cookie (logout).

        Returns False when `request` is None, has no session cookie, or
        its session id names no live session; True once it is deleted.
        """
        if request is None:
            return False
        session_id = self.session_cookie(request)
        if session_id is None:
            return False
        if self.user_id_for_session_id(session_id) is None:
            return False
        return self.store.delete(session_id)

    def revoke_user_sessions(self, user_id: str) -> int:
        """End every session of `user_id`; return how many were ended."""
        count = self.store.delete_user_sessions(user_id)
        if count:
            log_event("sessions_revoked", user=user_id, count=count)
        return count

    def _on_credentials_changed(self, user: User) -> None:
        """End the sessions of `user` after its credentials changed."""
        self.revoke_user_sessions(user.id)

    def cookie_max_age(self) -> Optional[int]:
        """Return the cookie's Max-Age in seconds: None (a browser session)."""
        return None

    def set_session_cookie(self, response: Response,
                           session_id: str) -> None:
        """Set the session cookie on `response`.

        The cookie is `<SESSION_NAME>=<session id>; Path=/` with HttpOnly
        and SameSite=Lax, plus Secure when `SESSION_COOKIE_SECURE` is set
        and Max-Age when sessions expire (RFC 6265; OWASP Session
        Management Cheat Sheet).
        """
        response.set_cookie(self.settings.session_name, session_id,
                            max_age=self.cookie_max_age(),
                            **self._cookie_flags())

    def clear_session_cookie(self, response: Response) -> None:
        """Make the client drop the session cookie (Max-Age=0)."""
        response.delete_cookie(self.settings.session_name,
                               **self._cookie_flags())

    def _cookie_flags(self) -> Dict[str, Any]:
        """Return the attributes shared by setting and clearing the cookie.

        A cookie is only replaced by one with the same path (RFC 6265
        §5.3), so both must agree.
        """
        return {"path": "/", "secure": self.settings.session_cookie_secure,
                "httponly": True, "samesite": "Lax"}
