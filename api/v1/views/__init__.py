#!/usr/bin/env python3
"""The `app_views` blueprint of API v1 and the views registered on it."""
import logging
from typing import Optional

from flask import Blueprint, abort, current_app, request

from api.v1.config import AUTH_EXTENSION, SETTINGS_EXTENSION, Settings

app_views = Blueprint("app_views", __name__, url_prefix="/api/v1")


def active_auth() -> Optional[object]:
    """Return the auth instance of the app serving this request, or None.

    For the module-level app this is `api.v1.app.auth`; reading it from
    the app, not by importing `api.v1.app`, avoids the circular import of
    spec A28 and lets tests build apps with other settings.
    """
    return current_app.extensions.get(AUTH_EXTENSION)


def active_settings() -> Settings:
    """Return the settings of the app serving this request."""
    return current_app.extensions[SETTINGS_EXTENSION]


def policy_principal() -> Optional[object]:
    """Return the user whose reach `USERS_POLICY=owner` limits, or None.

    None when the policy is `any` (the contract: every authenticated user
    may reach every user), when the request has no authenticated user
    (no `AUTH_TYPE`), or when that user is an administrator.
    """
    if active_settings().users_policy != "owner":
        return None
    user = getattr(request, "current_user", None)
    if user is None or user.is_admin:
        return None
    return user


def require_reach(user_id: str) -> None:
    """Answer 403 when the policy keeps the caller away from `user_id`.

    Under `USERS_POLICY=owner` a user reaches only itself; whether another
    id exists is not revealed (403 either way).
    """
    principal = policy_principal()
    if principal is not None and principal.id != user_id:
        abort(403)


from api.v1.views.index import *  # noqa: E402,F401,F403
from api.v1.views.users import *  # noqa: E402,F401,F403
from api.v1.views.password import *  # noqa: E402,F401,F403
from api.v1.views.session_auth import *  # noqa: E402,F401,F403
from api.v1.views.passkeys import *  # noqa: E402,F401,F403
from api.v1.views.docs import *  # noqa: E402,F401,F403
from models.store import StoreUnavailableError  # noqa: E402
from models.user import User  # noqa: E402

try:
    User.load_from_file()
except StoreUnavailableError as exc:
    logging.getLogger(__name__).warning("%s", exc)
