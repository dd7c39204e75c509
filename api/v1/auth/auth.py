#!/usr/bin/env python3
"""Auth module: the base class of every authentication scheme."""
from typing import Any, List, Optional, TypeVar

from flask import request

from api.v1.config import Settings, load_settings


class Auth:
    """Authentication that recognises no principal (spec §5.1).

    Subclasses override `current_user`; this class holds the rules shared
    by every scheme: which paths need authentication, and where the
    credentials are in a request.
    """

    limits: Optional[Any] = None
    """The app's `AttemptLimits` on password checks, set by `create_app`;
    None outside an app (checker scripts), where nothing is limited."""
    flows: Optional[Any] = None
    """The app's flow store (`stores.flow`), set by `create_app`; None
    outside an app."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        """Create an Auth with `settings` (default: read the environment)."""
        self.settings = settings if settings is not None else load_settings()

    def require_auth(self, path: str, excluded_paths: List[str]) -> bool:
        """Return True if `path` needs authentication.

        `path` is a URL path such as `/api/v1/users`. It needs none when it
        is in `excluded_paths`, ignoring one trailing slash on either side;
        an excluded path ending with `*` matches every path that starts
        with the text before the `*` (spec A12). A None `path`, or None or
        empty `excluded_paths`, gives True.
        """
        if path is None or not excluded_paths:
            return True
        path = path if path.endswith("/") else path + "/"
        for excluded in excluded_paths:
            if not isinstance(excluded, str) or not excluded:
                continue
            if excluded.endswith("*"):
                if path.startswith(excluded[:-1]):
                    return False
            elif path == (excluded if excluded.endswith("/")
                          else excluded + "/"):
                return False
        return True

    def authorization_header(self, request=None) -> str:
        """Return the `Authorization` header of `request`, or None.

        None when `request` is None or has no such header.
        """
        if request is None:
            return None
        return request.headers.get("Authorization")

    def current_user(self, request=None) -> TypeVar('User'):
        """Return None: this scheme recognises no user."""
        return None

    def session_cookie(self, request=None) -> Optional[str]:
        """Return the value of the session cookie of `request`, or None.

        The cookie is named by `SESSION_NAME` (default `_my_session_id`,
        A16). None when `request` is None or has no such cookie.
        """
        if request is None:
            return None
        return request.cookies.get(self.settings.session_name)
