#!/usr/bin/env python3
"""Session authentication with an absolute lifetime and an idle timeout."""
from datetime import datetime, timedelta
from typing import Optional

from api.v1.auth.events import log_event
from api.v1.auth.session_auth import SessionAuth
from api.v1.auth.stores.base import (SessionRecord, SessionStore,
                                     record_user_id)
from api.v1.config import Settings
from models import clock

PURGE_INTERVAL = timedelta(seconds=60)


class SessionExpAuth(SessionAuth):
    """Sessions that end `SESSION_DURATION` seconds after they start.

    `session_duration` (seconds, from `SESSION_DURATION`; 0 or less means
    no expiry, A19) is the absolute lifetime; `idle_timeout` (seconds,
    from `SESSION_IDLE_TIMEOUT`, 0 means off) ends a session unused for
    that long (OWASP Session Management Cheat Sheet). The expiry rule is
    written once, in `is_expired`. Expired sessions are deleted when they
    are looked up, and all of them at most once a minute when a session
    is created.
    """

    def __init__(self, settings: Optional[Settings] = None,
                 store: Optional[SessionStore] = None) -> None:
        """Create the auth; durations come from `settings` (or the env)."""
        super().__init__(settings, store)
        self.session_duration = self.settings.session_duration
        self.idle_timeout = self.settings.session_idle_timeout
        self._touch_every = timedelta(seconds=max(1, self.idle_timeout // 20))
        self._next_purge = clock.utcnow() + PURGE_INTERVAL

    def create_session(self, user_id: str = None) -> str:
        """Create a session dictionary for `user_id`; return its id.

        The record is `{"user_id": user_id, "created_at": <now, UTC>}`.
        Returns None if `user_id` is None or not a str.
        """
        session_id = super().create_session(user_id)
        if session_id is not None and clock.utcnow() >= self._next_purge:
            self.purge_expired()
        return session_id

    def _new_record(self, user_id: str) -> SessionRecord:
        """Return a new session dictionary stamped now (UTC)."""
        now = clock.utcnow()
        record = {"user_id": user_id, "created_at": now}
        if self.idle_timeout > 0:
            record["last_seen"] = now
        return record

    def user_id_for_session_id(self, session_id: str = None) -> str:
        """Return the user id of a live, unexpired `session_id`, or None.

        None if `session_id` is not a str, is unknown, or has expired.
        """
        return super().user_id_for_session_id(session_id)

    def _user_id_of_record(self, session_id: str,
                           record: SessionRecord) -> Optional[str]:
        """Return the record's user id unless it expired; mark it used."""
        if not isinstance(record, dict):
            return None
        now = clock.utcnow()
        if self.is_expired(record, now):
            if self.store.delete(session_id):
                log_event("session_expired", user=record_user_id(record))
            return None
        last_seen = record.get("last_seen")
        if self.idle_timeout > 0 and isinstance(last_seen, datetime) \
                and now - last_seen >= self._touch_every:
            self.store.set(session_id, dict(record, last_seen=now))
        return record.get("user_id")

    def is_expired(self, record: SessionRecord,
                   now: Optional[datetime] = None) -> bool:
        """Return True if the session dictionary `record` has expired.

        With `session_duration` > 0 it expires when `created_at` plus
        `session_duration` seconds is before `now` (UTC), or when it has no
        `created_at`. With `idle_timeout` > 0 it also expires when
        `last_seen` (else `created_at`) plus `idle_timeout` seconds is
        before `now`.
        """
        now = clock.utcnow() if now is None else now
        created_at = record.get("created_at")
        if self.session_duration > 0:
            if not isinstance(created_at, datetime):
                return True
            lifetime = timedelta(seconds=self.session_duration)
            if created_at + lifetime < now:
                return True
        if self.idle_timeout > 0:
            last_seen = record.get("last_seen") or created_at
            if not isinstance(last_seen, datetime):
                return True
            if last_seen + timedelta(seconds=self.idle_timeout) < now:
                return True
        return False

    def purge_expired(self) -> int:
        """Delete every expired session; return how many were deleted."""
        self._next_purge = clock.utcnow() + PURGE_INTERVAL
        if self.session_duration <= 0 and self.idle_timeout <= 0:
            return 0
        return self.store.purge(self.is_expired)

    def cookie_max_age(self) -> Optional[int]:
        """Return `session_duration` when sessions expire, else None."""
        return self.session_duration if self.session_duration > 0 else None
