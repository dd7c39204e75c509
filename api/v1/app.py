#!/usr/bin/env python3
"""Route module for the API: the application factory, `app` and `auth`.

`python3 -m api.v1.app` serves the API on `API_HOST`:`API_PORT`
(default 0.0.0.0:5000). `auth` is chosen by `AUTH_TYPE` (spec §1).
"""
import importlib
import logging
import re
import sys
from typing import Callable, List, Optional, Tuple, TypeVar

from flask import Flask, Request, Response, abort, jsonify, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from api.v1.config import (AUTH_EXTENSION, FLOW_EXTENSION,
                           HEALTH_EXTENSION, LIMITER_EXTENSION,
                           MAIL_EXTENSION, SETTINGS_EXTENSION, Settings,
                           load_settings)
from api.v1.json_provider import OrjsonProvider
from api.v1.mail.transport import MailConfigError
from models import store_health
from models.store import (RecordConflictError, RecordMissingError,
                          StoreConfigError, StoreError,
                          StoreUnavailableError)

AUTH_CLASSES = {
    "auth": ("api.v1.auth.auth", "Auth"),
    "basic_auth": ("api.v1.auth.basic_auth", "BasicAuth"),
    "session_auth": ("api.v1.auth.session_auth", "SessionAuth"),
    "session_exp_auth": ("api.v1.auth.session_exp_auth", "SessionExpAuth"),
    "session_db_auth": ("api.v1.auth.session_db_auth", "SessionDBAuth"),
}
EXCLUDED_PATHS = ['/api/v1/status/', '/api/v1/unauthorized/',
                  '/api/v1/forbidden/', '/api/v1/auth_session/login/']
PUBLIC_PATHS = EXCLUDED_PATHS + ['/api/v1/openapi.json/', '/api/v1/docs*',
                                 '/api/v1/auth_session/login/mfa/',
                                 '/api/v1/auth_session/passkeys/login/',
                                 '/api/v1/auth_session/passkeys/login/'
                                 'options/', '/account*',
                                 '/api/v1/health/*']
"""The contract's excluded paths, the API's own description, the second
login step (account-security §4.3), the passkey login steps (§5.2, open),
the account page, which signs in through the API, and the health probes
(§6.1)."""
RETRY_AFTER_SECONDS = "5"
"""`Retry-After` of a 503 for a store that cannot serve (§8.1)."""
EX_CONFIG = 78
"""Exit status for a configuration error (`sysexits.h` `EX_CONFIG`)."""
GUNICORN_BOOT_ERROR = 3
"""Exit status that makes gunicorn's master stop instead of respawning."""
UNSAFE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
ERROR_BODIES = {
    400: {"error": "Bad request"},
    401: {"error": "Unauthorized"},
    403: {"error": "Forbidden"},
    404: {"error": "Not found"},
    409: {"error": "Conflict"},
    413: {"error": "Content too large"},
    429: {"error": "Too many requests"},
    500: {"error": "Internal server error"},
    503: {"error": "Service unavailable"},
}
CROSS_SITE = {"error": "Cross-site request refused"}

ErrorHandler = Callable[[Exception], Tuple[Response, int]]
T = TypeVar("T")

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
    """Return an error handler answering `status` with its JSON body.

    Headers the error carries (`Retry-After` of a 429) are kept.
    """
    def handler(error: Exception) -> Tuple[Response, int]:
        """Answer with the API's JSON error body."""
        response = jsonify(ERROR_BODIES[status])
        if isinstance(error, HTTPException):
            for name, value in error.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
        return response, status
    handler.__name__ = "error_{}".format(status)
    return handler


def is_cross_site(settings: Settings, req: Request) -> bool:
    """Return True if a browser marks the request `req` as cross-site.

    That is `Sec-Fetch-Site: cross-site`, or an `Origin` header that is
    neither this server's own origin nor one of `ALLOWED_ORIGINS` (OWASP
    CSRF Prevention Cheat Sheet, "verifying origin with standard
    headers"). Requests without these headers (curl, scripts, old
    browsers on same-origin requests) are not cross-site.
    """
    if req.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return True
    origin = req.headers.get("Origin")
    if origin is None:
        return False
    origin = origin.rstrip("/").lower()
    own = "{}://{}".format(req.scheme, req.host).lower()
    return origin != own and origin not in settings.allowed_origins


def _prepare_stores(settings: Settings, auth: Optional[object]) -> None:
    """Point the models at the settings' store and check it can be read.

    Raises `StoreError` when a store file is corrupt and
    `StoreConfigError` when the database refuses the configuration (no
    such database, a wrong password, a malformed URL), so that start-up
    stops with one line; a database that cannot be reached only logs a
    warning (requests answer 503 until it is back, §8.2).
    """
    from api.v1.auth.stores.records import RecordSessionStore
    from models import base, row_cache
    from models.user import User
    from models.user_session import UserSession

    _configured("DATABASE_URL", lambda: base.use_database(
        settings.database_url, settings.database_pool_size))
    row_cache.attach(base.get_store(), settings.listen_url,
                     settings.read_cache_size, settings.read_cache_strict)
    try:
        User.load_from_file()
        if isinstance(getattr(auth, "store", None), RecordSessionStore):
            UserSession.load_from_file()
    except StoreConfigError:
        raise
    except StoreUnavailableError as exc:
        logger.warning("%s; requests answer 503 until it is back", exc)


def _configured(variable: str, build: Callable[[], T]) -> T:
    """Return `build()`; a malformed URL becomes a `StoreConfigError`.

    `variable` names the setting in the message (`DATABASE_URL`), so
    that start-up stops with one line naming what to fix (§8.2).
    """
    from limits.errors import ConfigurationError
    try:
        return build()
    except (ValueError, ConfigurationError) as exc:
        text = _without_passwords(str(exc))
        if not text.startswith(variable):
            text = "{}: {}".format(variable, text)
        raise StoreConfigError(
            "{}; fix the URL (see the README)".format(text)) from exc


def _without_passwords(text: str) -> str:
    """Return `text` with the password of every URL in it masked.

    `scheme://user:secret@host` becomes `scheme://user:***@host`: error
    texts of libraries quote the URL they refused, and no log line may
    hold a password (account-security §6.3).
    """
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def create_app(settings: Optional[Settings] = None) -> Flask:
    """Build the API application for `settings` (default: the environment).

    Registers the blueprint, CORS for `/api/v1/*`, the JSON error handlers,
    the cross-site check, the authentication guard, the limits on password
    checks, mail (with `MAIL_URL`) and the `flask` commands. The auth
    instance (None without auth) is `app.extensions[AUTH_EXTENSION]`.
    Raises `StoreError` when a store file cannot be read,
    `StoreConfigError` for a store that refuses the configuration or a
    malformed store URL, and `MailConfigError` for a malformed
    `MAIL_URL`.
    """
    from models import base

    settings = settings if settings is not None else load_settings()
    store_health.configure(settings.store_retry_seconds)
    # The record store first: importing the views reads the users from it.
    _configured("DATABASE_URL", lambda: base.use_database(
        settings.database_url, settings.database_pool_size))
    # Imported here, not at the top: importing the views loads
    # .db_User.json, and a corrupt file must surface as a StoreError from
    # this call so that `python3 -m api.v1.app` can stop with one line.
    from api.v1.account import account_page
    from api.v1.cli import register_commands
    from api.v1.views import app_views

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.register_blueprint(app_views)
    app.register_blueprint(account_page)
    CORS(app, resources={r"/api/v1/*": {"origins": "*"}})
    auth = _attach_services(app, settings)
    public_paths = PUBLIC_PATHS + _add_mail(app, settings, auth)
    _register_error_handlers(app)
    _register_hooks(app, settings, auth, public_paths)
    register_commands(app, auth, settings)
    return app


def _attach_services(app: Flask, settings: Settings) -> Optional[object]:
    """Build the auth, the stores and the limits; keep them in `app`.

    They go to `app.extensions` under the names of `api.v1.config`, and
    the auth instance (returned, None without auth) gets the limits and
    the flow store. Raises `StoreError` when a store file is corrupt,
    `StoreConfigError` for a malformed store URL or a refused database
    configuration.
    """
    from api.v1.auth.stores.flow import make_flow_store
    from api.v1.health import HealthChecks
    from api.v1.rate_limit import AttemptLimits

    auth = _configured("SESSION_STORE_URL", lambda: make_auth(settings))
    _prepare_stores(settings, auth)
    flows = _configured("SESSION_STORE_URL", lambda: make_flow_store(
        settings, getattr(auth, "store", None)))
    limits = _configured("RATELIMIT_STORAGE_URI",
                         lambda: AttemptLimits(settings, flows))
    if auth is not None:
        auth.limits = limits
        auth.flows = flows
    app.extensions[AUTH_EXTENSION] = auth
    app.extensions[SETTINGS_EXTENSION] = settings
    app.extensions[LIMITER_EXTENSION] = limits
    app.extensions[FLOW_EXTENSION] = flows
    app.extensions[HEALTH_EXTENSION] = HealthChecks.for_app(
        settings, flows, limits)
    return auth


def _register_error_handlers(app: Flask) -> None:
    """Answer every error with the API's JSON body (`ERROR_BODIES`).

    A store that is down answers 503, a record that vanished 404 and a
    stale write 409.
    """
    for status in ERROR_BODIES:
        app.register_error_handler(status, _error_handler(status))
    app.register_error_handler(StoreUnavailableError, _store_unavailable)
    app.register_error_handler(RecordMissingError, _error_handler(404))
    app.register_error_handler(RecordConflictError, _error_handler(409))


def _register_hooks(app: Flask, settings: Settings, auth: Optional[object],
                    public_paths: List[str]) -> None:
    """Add the request id, the metrics, the guard and `Cache-Control`.

    The request id and the metrics come first, so that answers the guard
    gives carry an id and are counted too. A PostgreSQL row cache wraps
    the WSGI app in `models.row_cache.SyncMiddleware`, which sends the
    cache's round trip as a request arrives. The guard leaves `public_paths`
    open (the contract's excluded paths, the API's description and, with
    mail on, recovery).
    """
    from api.v1 import logs, metrics
    from models import base, row_cache

    logs.install(app, settings)
    metrics.install(app, settings)
    if getattr(base.get_store(), "row_cache", None) is not None:
        # Only a PostgreSQL row cache syncs per request; other stores keep
        # the hot path free of it.
        app.wsgi_app = row_cache.SyncMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, lambda: getattr(base.get_store(), "row_cache", None))

    @app.before_request
    def guard() -> Optional[Tuple[Response, int]]:
        """Refuse cross-site writes, then requests without valid credentials.

        The credentials check is the contract's filter (spec §2.2). CORS
        preflights (OPTIONS) carry no credentials by design and pass, so
        that flask-cors can answer them.
        """
        req = request._get_current_object()
        if req.path == metrics.METRICS_PATH:
            # Outside the API's guard (§6.2): its own token protects it.
            return None
        if req.method in UNSAFE_METHODS and is_cross_site(settings, req):
            return jsonify(CROSS_SITE), 403
        if auth is None or req.method == "OPTIONS":
            return None
        if not auth.require_auth(req.path, public_paths):
            return None
        if auth.authorization_header(req) is None \
                and auth.session_cookie(req) is None:
            abort(401)
        req.current_user = auth.current_user(req)
        if req.current_user is None:
            abort(403)
        return None

    @app.after_request
    def no_store(response: Response) -> Response:
        """Keep API answers, which may hold user data, out of caches."""
        response.headers["Cache-Control"] = "no-store"
        return response


def _add_mail(app: Flask, settings: Settings,
              auth: Optional[object]) -> List[str]:
    """Set up mail (account-security §7); return the paths to leave open.

    Keeps a `Mailer` at `app.extensions[MAIL_EXTENSION]` when `MAIL_URL`
    is set (None with mail off) and registers the recovery routes and
    the recovery page, which answer 404 unless mail is on under a
    session `AUTH_TYPE`. Only then are their paths open (returned for
    the guard): with mail off the teaching contract's surface is
    unchanged. Raises `MailConfigError` for a malformed `MAIL_URL` or
    `RECOVERY_LIMIT_PER_ADDRESS`.
    """
    from api.v1.auth.session_auth import SessionAuth
    from api.v1.mail.outbox import Mailer
    from api.v1.views.recover_page import PAGE_PATHS, recover_page
    from api.v1.views.recovery import (RECOVERY_PATHS, check_recovery_limit,
                                       recovery_views)

    mailer = Mailer(app, settings) if settings.mail_url else None
    if mailer is not None:
        check_recovery_limit(settings.recovery_limit_per_address)
    app.extensions[MAIL_EXTENSION] = mailer
    app.register_blueprint(recovery_views)
    app.register_blueprint(recover_page)
    if mailer is None or not isinstance(auth, SessionAuth):
        return []
    return RECOVERY_PATHS + PAGE_PATHS


def _store_unavailable(error: StoreUnavailableError) -> Tuple[Response, int]:
    """Answer 503 with `Retry-After: 5` when a store cannot serve (§8.1).

    The attempts this request counted against the login limits are given
    back: an attempt that could not be checked is not counted. The cause
    is logged once per change of state by `models.store_health`, not
    here once per request.
    """
    from flask import current_app
    logger.debug("503: %s", error)
    limits = current_app.extensions.get(LIMITER_EXTENSION)
    if limits is not None:
        limits.forgive_pending()
    response = jsonify(ERROR_BODIES[503])
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response, 503


def _stop(exc: Exception, status: int) -> None:
    """Stop the process with the one line of `exc` and exit `status`."""
    print("error: {}".format(exc), file=sys.stderr, flush=True)
    sys.exit(status)


try:
    app = create_app()
except StoreConfigError as exc:
    _stop(exc, GUNICORN_BOOT_ERROR if "gunicorn" in sys.modules
          and __name__ != "__main__" else EX_CONFIG)
except (StoreError, MailConfigError) as exc:
    if __name__ != "__main__":
        raise
    _stop(exc, 1)
auth = app.extensions[AUTH_EXTENSION]


if __name__ == "__main__":
    from api.v1.logs import configure_logging

    settings = app.extensions[SETTINGS_EXTENSION]
    configure_logging(settings)
    app.run(host=settings.api_host, port=settings.api_port)
