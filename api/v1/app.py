#!/usr/bin/env python3
"""Route module for the API: the application factory, `app` and `auth`.

`python3 -m api.v1.app` serves the API on `API_HOST`:`API_PORT`
(default 0.0.0.0:5000). `auth` is chosen by `AUTH_TYPE` (spec §1).
"""
import importlib
import logging
import sys
from typing import Callable, Optional, Tuple

import click
from flask import Flask, Response, abort, jsonify, request
from flask_cors import CORS

from api.v1.config import (AUTH_EXTENSION, SETTINGS_EXTENSION, Settings,
                           load_settings)
from models.store import StoreError

AUTH_CLASSES = {
    "auth": ("api.v1.auth.auth", "Auth"),
    "basic_auth": ("api.v1.auth.basic_auth", "BasicAuth"),
    "session_auth": ("api.v1.auth.session_auth", "SessionAuth"),
    "session_exp_auth": ("api.v1.auth.session_exp_auth", "SessionExpAuth"),
    "session_db_auth": ("api.v1.auth.session_db_auth", "SessionDBAuth"),
}
EXCLUDED_PATHS = ['/api/v1/status/', '/api/v1/unauthorized/',
                  '/api/v1/forbidden/', '/api/v1/auth_session/login/']
ERROR_BODIES = {
    401: {"error": "Unauthorized"},
    403: {"error": "Forbidden"},
    404: {"error": "Not found"},
    413: {"error": "Content too large"},
    500: {"error": "Internal server error"},
}

ErrorHandler = Callable[[Exception], Tuple[Response, int]]

logger = logging.getLogger(__name__)


def make_auth(settings: Settings) -> Optional[object]:
    """Return the auth instance `settings.auth_type` names, or None.

    Only the chosen class's module is imported. An unset `AUTH_TYPE` gives
    None (no filtering); an unknown one gives None and one warning (A2).
    """
    if settings.auth_type is None:
        return None
    target = AUTH_CLASSES.get(settings.auth_type)
    if target is None:
        logger.warning("unknown AUTH_TYPE %r: authentication is off; use "
                       "one of %s", settings.auth_type,
                       ", ".join(sorted(AUTH_CLASSES)))
        return None
    module_name, class_name = target
    auth_class = getattr(importlib.import_module(module_name), class_name)
    return auth_class(settings=settings)


def _error_handler(status: int) -> ErrorHandler:
    """Return an error handler answering `status` with its JSON body."""
    def handler(error: Exception) -> Tuple[Response, int]:
        """Answer with the contract's JSON error body."""
        return jsonify(ERROR_BODIES[status]), status
    handler.__name__ = "error_{}".format(status)
    return handler


def create_app(settings: Optional[Settings] = None) -> Flask:
    """Build the API application for `settings` (default: the environment).

    Registers the blueprint, CORS for `/api/v1/*`, the JSON error handlers,
    the authentication guard, the login rate limits and the
    `purge-sessions` command. The auth instance (None without auth) is
    `app.extensions[AUTH_EXTENSION]`. Raises `StoreError` when
    `.db_User.json` cannot be read.
    """
    # Imported here, not at the top: importing the views loads
    # .db_User.json, and a corrupt file must surface as a StoreError from
    # this call so that `python3 -m api.v1.app` can stop with one line.
    from api.v1.views import app_views
    from api.v1.rate_limit import init_login_limits

    settings = settings if settings is not None else load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.register_blueprint(app_views)
    CORS(app, resources={r"/api/v1/*": {"origins": "*"}})
    auth = make_auth(settings)
    app.extensions[AUTH_EXTENSION] = auth
    app.extensions[SETTINGS_EXTENSION] = settings
    for status in ERROR_BODIES:
        app.register_error_handler(status, _error_handler(status))
    init_login_limits(app, settings)

    @app.before_request
    def guard() -> None:
        """Refuse requests without valid credentials (spec §2.2)."""
        if auth is None:
            return
        if not auth.require_auth(request.path, EXCLUDED_PATHS):
            return
        if auth.authorization_header(request) is None \
                and auth.session_cookie(request) is None:
            abort(401)
        request.current_user = auth.current_user(request)
        if request.current_user is None:
            abort(403)

    @app.after_request
    def no_store(response: Response) -> Response:
        """Keep API answers, which may hold user data, out of caches."""
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.cli.command("purge-sessions")
    def purge_sessions() -> None:
        """Delete every expired session of the active session store."""
        purge = getattr(auth, "purge_expired", None)
        if purge is None:
            raise click.UsageError(
                "AUTH_TYPE must be session_exp_auth or session_db_auth")
        click.echo("purged {} expired sessions".format(purge()))

    return app


try:
    app = create_app()
except StoreError as exc:
    if __name__ != "__main__":
        raise
    sys.exit("error: {}".format(exc))
auth = app.extensions[AUTH_EXTENSION]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    settings = app.extensions[SETTINGS_EXTENSION]
    app.run(host=settings.api_host, port=settings.api_port)
