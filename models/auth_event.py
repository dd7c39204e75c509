#!/usr/bin/env python3
"""AuthEvent module: a user's security events (account-security §6.4).

Each event is one record of kind `AuthEvent`: `{"id", "user_id", "type",
"ip", "user_agent", "created_at"}` (UTC). They live in the record store
beside users and sessions: the `auth_events` table under `DATABASE_URL`
(migration 0003), `.db_AuthEvent.json` otherwise, so that every process
and host sharing the store sees them. Events older than `AUTH_EVENTS_DAYS`
are purged a few at each write, as sessions are (amortised).
"""
from datetime import timedelta
from typing import Dict, List, Optional

from models import clock
from models.base import Base, format_timestamp

PURGE_SWEEP = 64
"""How many stored events a new event's write examines for expiry."""
USER_AGENT_MAX = 256
"""The longest `user_agent` kept, in characters (§6.4)."""


class AuthEvent(Base):
    """One security event of one user: its type, when, and from where.

    `type` is one of the §6.4 (and §7.4) names; `ip` and `user_agent`
    describe the request that caused it (None when there was none, as
    for a command-line action). `created_at` is when it happened (UTC).
    """

    _indexed = ("user_id",)

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize an event from `user_id`, `type`, `ip`, `user_agent`.

        Each is a str or None; `user_agent` is cut at `USER_AGENT_MAX`
        characters. Also accepts the keys of `Base`; raises `ValueError`
        on a malformed timestamp.
        """
        super().__init__(*args, **kwargs)
        self.user_id = kwargs.get("user_id")
        self.type = kwargs.get("type")
        self.ip = kwargs.get("ip")
        agent = kwargs.get("user_agent")
        self.user_agent = (agent[:USER_AGENT_MAX]
                           if isinstance(agent, str) else None)

    def listed(self) -> Dict[str, Optional[str]]:
        """Return the event as the listing shows it (§6.4).

        `{"type", "at", "ip", "user_agent"}`, `at` UTC in the contract's
        format; `ip` and `user_agent` None when unknown.
        """
        return {"type": self.type, "at": format_timestamp(self.created_at),
                "ip": self.ip, "user_agent": self.user_agent}

    @classmethod
    def record(cls, user_id: str, event_type: str, ip: Optional[str],
               user_agent: Optional[str], days: int) -> "AuthEvent":
        """Store a new event and purge some older than `days` days.

        One write stores the event and deletes up to about `PURGE_SWEEP`
        expired ones. Returns the stored event; raises the store's errors
        (`StoreUnavailableError`, `OSError`).
        """
        event = cls(user_id=user_id, type=event_type, ip=ip,
                    user_agent=user_agent)
        cutoff = clock.utcnow() - timedelta(days=max(1, days))
        expired = cls.ids_older_than({"created_at": cutoff},
                                     sweep=PURGE_SWEEP)
        cls._persist([event], removals=expired)
        return event

    @classmethod
    def of_user(cls, user_id: str, limit: int,
                days: Optional[int] = None) -> List["AuthEvent"]:
        """Return at most `limit` events of `user_id`, newest first.

        Events are kept in the order they were written, so reversing
        that order also orders events of the same second newest first.
        With `days`, events older than that many days (not yet purged)
        are left out.
        """
        events = cls.search({"user_id": user_id})
        if days is not None:
            cutoff = clock.utcnow() - timedelta(days=max(1, days))
            events = [event for event in events
                      if event.created_at >= cutoff]
        events.reverse()
        return events[:max(0, limit)]
