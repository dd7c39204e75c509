#!/usr/bin/env python3
"""The `app_views` blueprint of API v1 and the views registered on it."""
from typing import Optional

from flask import Blueprint, current_app

from api.v1.config import AUTH_EXTENSION

app_views = Blueprint("app_views", __name__, url_prefix="/api/v1")


def active_auth() -> Optional[object]:
    """Return the auth instance of the app serving this request, or None.

    For the module-level app this is `api.v1.app.auth`; reading it from
    the app, not by importing `api.v1.app`, avoids the circular import of
    spec A28 and lets tests build apps with other settings.
    """
    return current_app.extensions.get(AUTH_EXTENSION)


from api.v1.views.index import *  # noqa: E402,F401,F403
from api.v1.views.users import *  # noqa: E402,F401,F403
from api.v1.views.session_auth import *  # noqa: E402,F401,F403
from models.user import User  # noqa: E402

User.load_from_file()
