#!/usr/bin/env python3
"""UserSession module: session records stored in `.db_UserSession.json`."""
from models.base import Base


class UserSession(Base):
    """A session record: the session id and the id of its user.

    `created_at` (UTC) starts the absolute lifetime; `updated_at` (UTC) is
    the last time the session was used when an idle timeout is set.
    """

    _indexed = ("session_id", "user_id")

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize a UserSession from `user_id` and `session_id` (str)."""
        super().__init__(*args, **kwargs)
        self.user_id = kwargs.get('user_id')
        self.session_id = kwargs.get('session_id')
