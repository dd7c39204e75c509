#!/usr/bin/env python3
"""Session authentication: a session id in a cookie names the user."""
import dataclasses
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple, TypeVar

from flask import Response

from api.v1.auth.auth import Auth
from api.v1.auth.events import log_event
from api.v1.auth.stores.base import (Cutoffs, SessionRecord, SessionStore,
                                     session_handle)
from api.v1.auth.stores.memory import MemorySessionStore
from api.v1.config import Settings
from models import clock
from models.user import User, credentials_changed

MAX_SESSION_ID = 256
"""A cookie longer than this (or holding NUL) names no session."""
MAX_AGENT = 256
"""User agents are kept to this many characters (spec §6.4)."""
UNSET_EPOCH: Any = object()
_EARLIEST = datetime.min
"""Default of `create_session`'s `epoch`: read it from the stored user."""


class SessionAuth(Auth):
    """Authenticate requests by a session id kept in a store (spec §6.1).

    The flow is written here once: cookie, then session id, then user id,
    then `User.get`, then the credential epoch. Subclasses change the
    expiry rule (`expires_at`, `cutoffs`) and where sessions live
    (`default_store`); `SESSION_STORE_URL` puts every session type in
    Redis. Session ids are uuid4 strings: 122 random bits.
    """

    user_id_by_session_id: Dict[str, Any] = {}
    _session_ids_by_user: Dict[str, Dict[str, None]] = {}
    _session_meta: Dict[str, Dict[str, Any]] = {}

    def __init__(self, settings: Optional[Settings] = None,
                 store: Optional[SessionStore] = None) -> None:
        """Create a session auth over `store`.

        The default store is Redis when `SESSION_STORE_URL` is set, else
        `default_store()`. Every session of a user ends when the user's
        password changes, its sessions are revoked, or it is removed.
        """
        super().__init__(settings)
        if store is None:
            store = self._configured_store()
        self.store = store
        self._last_lookup = threading.local()
        credentials_changed.connect(self._on_credentials_changed)

    def _configured_store(self) -> SessionStore:
        """Return the store the settings name (Redis) or the default."""
        url = self.settings.session_store_url
        if url:
            from api.v1.auth.stores.redis_store import RedisSessionStore
            return RedisSessionStore(
                url, timeout=self.settings.store_timeout_seconds,
                stale_ttl=self.settings.session_store_ttl,
                cache_size=self.settings.read_cache_size)
        return self.default_store()

    def default_store(self) -> SessionStore:
        """Return the store over the class-level `user_id_by_session_id`."""
        return MemorySessionStore(SessionAuth.user_id_by_session_id,
                                  SessionAuth._session_ids_by_user,
                                  SessionAuth._session_meta, plain=True)

    def create_session(self, user_id: str = None,
                       epoch: Optional[int] = UNSET_EPOCH,
                       **context: Any) -> str:
        """Create a session for `user_id` (a str) and return its id.

        Returns None if `user_id` is None or not a str; `""` gets a session
        (A8). One user may hold several sessions. `epoch` is the credential
        epoch of the user as it was when the password was checked (the
        login passes it, so that a login racing a password change cannot
        keep a session); by default the stored user's current epoch.
        `context` may give `amr` (the RFC 8176 methods that authenticated
        the user, such as `["pwd", "otp"]`), `ip`, `user_agent` (cut at
        256 characters) and `auth_time` (naive UTC, default now: when
        those methods last authenticated the user).
        """
        if not isinstance(user_id, str):
            return None
        if epoch is UNSET_EPOCH:
            user = User.get(user_id)
            epoch = None if user is None else user.auth_epoch
        now = clock.utcnow()
        amr = context.get("amr")
        agent = context.get("user_agent")
        record = SessionRecord(
            user_id, now, now, epoch, tuple(amr) if amr else None,
            context.get("auth_time") or now,
            context.get("ip"), agent[:MAX_AGENT] if agent else None)
        expires_at = self.store_expires_at(record)
        cutoffs = self.store_cutoffs(now)
        while True:
            session_id = str(uuid.uuid4())
            if self.store.create(session_id, record, expires_at, cutoffs):
                return session_id

    def user_id_for_session_id(self, session_id: str = None) -> str:
        """Return the user id of `session_id`, or None.

        None if `session_id` is None or not a str, or is not a live
        session. A lookup only reads: it never deletes nor changes the
        record (spec §6.2).
        """
        record = self._live_record(session_id)
        return None if record is None else record.user_id

    def _live_record(self, session_id: object) -> Optional[SessionRecord]:
        """Return the record of a live `session_id`, or None.

        The record looked up (live or not) is kept for this thread, so
        that `current_user` reads the store once per request.
        """
        if not _usable(session_id):
            return None
        record = self.store.get(session_id)
        self._last_lookup.value = (session_id, record)
        if record is None or self.is_expired(record):
            return None
        return record

    def _looked_up(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record the last lookup of `session_id` found."""
        last = getattr(self._last_lookup, "value", None)
        self._last_lookup.value = None
        if last is not None and last[0] == session_id:
            return last[1]
        return self.store.get(session_id) if _usable(session_id) else None

    def is_expired(self, record: SessionRecord,
                   now: Optional[datetime] = None) -> bool:
        """Return False: these sessions never expire."""
        return False

    def expires_at(self, record: SessionRecord) -> Optional[datetime]:
        """Return when `record` expires (naive UTC): None, never."""
        return None

    def cutoffs(self, now: datetime) -> Cutoffs:
        """Return the expiry cut-offs at `now`: none."""
        return Cutoffs()

    def store_expires_at(self, record: SessionRecord) -> datetime:
        """Return when the store may drop `record` (naive UTC).

        The session's own end (`expires_at`), or, where that is unlimited,
        `SESSION_STORE_TTL` seconds after its last use: no session lives
        forever in a store (account-security §8.3).
        """
        ends = self.expires_at(record)
        if ends is not None:
            return ends
        seen = record.last_seen or record.created_at or clock.utcnow()
        return seen + timedelta(seconds=self.settings.session_store_ttl)

    def store_cutoffs(self, now: datetime) -> Cutoffs:
        """Return the cut-offs by which stores purge sessions at `now`.

        `cutoffs(now)`, or, where sessions never expire by rule, a last
        use more than `SESSION_STORE_TTL` seconds ago (§8.3); the
        contract's process dictionary keeps its own rule.
        """
        cutoffs = self.cutoffs(now)
        if cutoffs or isinstance(self.store, MemorySessionStore):
            return cutoffs
        return Cutoffs(None, now - timedelta(
            seconds=self.settings.session_store_ttl))

    def _renew_store_ttl(self, session_id: str,
                         record: Optional[SessionRecord]) -> None:
        """Renew the store lifetime of a session used now, if it is due.

        Only for sessions without an end of their own, in stores that
        drop or purge them (not the contract's process dictionary); at
        most once per `max(60 s, SESSION_STORE_TTL / 10)` (§8.3).
        """
        if record is None or self.expires_at(record) is not None \
                or isinstance(self.store, MemorySessionStore):
            return
        now = clock.utcnow()
        every = max(60, self.settings.session_store_ttl // 10)
        seen = record.last_seen or record.created_at
        if seen is not None and now - seen < timedelta(seconds=every):
            return
        used = dataclasses.replace(record, last_seen=now)
        self.store.touch(session_id, now, self.store_expires_at(used))

    def current_user(self, request=None) -> TypeVar('User'):
        """Return the `User` named by the request's session cookie, or None.

        None when the cookie is missing or names no live session, when the
        user is gone, or when the user's credential epoch moved on since
        the session was made (a password change or a revocation in any
        process). Each refused cookie logs one `auth` event line.
        """
        session_id = self.session_cookie(request)
        user_id = self.user_id_for_session_id(session_id)
        if session_id is None:
            return None
        record = self._looked_up(session_id)
        if user_id is None:
            self._log_refused(record)
            return None
        user = User.get(user_id)
        if user is None:
            log_event("session_refused", reason="user_gone", user=user_id)
            return None
        if _epoch(record) != user.auth_epoch:
            log_event("session_revoked", user=user_id)
            return None
        self._mark_used(session_id, record)
        return user

    def _log_refused(self, record: Optional[SessionRecord]) -> None:
        """Log why a presented session is refused: expired or unknown."""
        if record is None:
            log_event("session_refused", reason="unknown")
        else:
            log_event("session_expired", user=record.user_id or "-")

    def _mark_used(self, session_id: str,
                   record: Optional[SessionRecord]) -> None:
        """Record a use of the session: renew its store lifetime if due."""
        self._renew_store_ttl(session_id, record)

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

    def live_sessions(self, user: User) -> List[Tuple[str, SessionRecord]]:
        """Return `(handle, record)` of the live sessions of `user`.

        Expired sessions and sessions of an older credential epoch are
        left out, oldest first.
        """
        now = clock.utcnow()
        sessions = [(handle, record) for handle, record
                    in self.store.sessions_of(user.id)
                    if not self.is_expired(record, now)
                    and _epoch(record) == user.auth_epoch]
        return sorted(sessions, key=lambda item: (
            item[1].created_at or now, item[0]))

    def revoke_user_sessions(self, user_id: str,
                             keep: Optional[str] = None,
                             reason: str = "revoked") -> int:
        """End every session of `user_id` but the one whose handle is `keep`.

        `reason` is `revoked` (asked for) or `credentials_changed` (a
        new password or a moved epoch), for the metrics (§6.2). Returns
        how many were ended.
        """
        count = self.store.delete_user_sessions(user_id, keep)
        if count:
            log_event("sessions_revoked", user=user_id, count=count,
                      reason=reason)
        return count

    def end_oldest_sessions(self, user_id: str) -> int:
        """End the oldest sessions of `user_id` past `SESSIONS_PER_USER`.

        Called after each login, so that one user cannot pile up
        sessions without bound (each costs storage, and listing them
        costs every later request of the listing). 0 turns the cap off.
        Returns how many were ended.
        """
        cap = self.settings.sessions_per_user
        if cap <= 0:
            return 0
        sessions = self.store.sessions_of(user_id)
        if len(sessions) <= cap:
            return 0
        sessions.sort(key=lambda item: (item[1].created_at or _EARLIEST,
                                        item[0]))
        oldest = [handle for handle, _ in sessions[:len(sessions) - cap]]
        ended = self.store.delete_by_handles(user_id, oldest)
        if ended:
            log_event("sessions_capped", user=user_id, count=ended)
        return ended

    def revoke_session(self, user_id: str, handle: str) -> bool:
        """End the session of `user_id` whose handle is `handle`.

        Returns False when `user_id` holds no session with this handle.
        """
        ended = self.store.delete_by_handles(user_id, [handle]) > 0
        if ended:
            log_event("session_revoked_by_user", user=user_id)
        return ended

    @staticmethod
    def handle_of(session_id: str) -> str:
        """Return the public handle of `session_id` (SHA-256 hex)."""
        return session_handle(session_id)

    def purge_expired(self) -> int:
        """Delete every expired session; return how many were deleted."""
        return self.store.purge(self.store_cutoffs(clock.utcnow()))

    def _on_credentials_changed(self, user: User) -> None:
        """End the sessions of `user` after its credentials changed."""
        self.revoke_user_sessions(user.id, reason="credentials_changed")

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


def _epoch(record: Optional[SessionRecord]) -> int:
    """Return the credential epoch of `record`, 0 when none was recorded.

    A session written before epochs existed (or copied by `import-json`,
    or put in the contract's dictionary by a script) is of epoch 0, so a
    password change or a revocation, which moves the user's epoch past 0,
    ends it too (spec account-security §1.3).
    """
    if record is None or record.epoch is None:
        return 0
    return record.epoch


def _usable(session_id: object) -> bool:
    """Return True if `session_id` can name a session at all.

    A str of at most `MAX_SESSION_ID` characters without NUL; anything
    else names no session, before any store is asked (a NUL byte cannot
    even be sent to PostgreSQL; account-security §1.3).
    """
    return isinstance(session_id, str) and len(session_id) <= \
        MAX_SESSION_ID and "\x00" not in session_id
