#!/usr/bin/env python3
"""Request ids and the log format of the Session API (account-security §6.3).

`install(app)` gives every request an id: the client's `X-Request-ID`
when it matches `[A-Za-z0-9._-]{1,128}`, else a new random one, echoed
in the answer's `X-Request-ID`. Under `LOG_FORMAT=json` it also writes
one `"event": "request"` line per answer.

`configure_logging(settings)` sets the format of the `api` loggers (and
Werkzeug's) on a stream, by default stderr: `text` (the default) as
before, without terminal colour codes unless the stream is a terminal;
`json` one JSON object a line (python-json-logger), with `ts` (UTC, ISO
8601), `level`, and the request's `request_id` on every line written
while a request is served.

What is logged is chosen, not filtered: request lines hold the method,
the path without its query, the status, the time, the client address
and the user id; auth lines hold the fields `log_event` is given. None
holds a password, a session id, a cookie, an `Authorization` value, a
TOTP secret, a recovery code or an `mfa_token` (OWASP Logging Cheat
Sheet).
"""
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, TextIO

from flask import Flask, Response, request
from pythonjsonlogger.json import JsonFormatter

from models.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
LOGGERS = ("api", "werkzeug")
"""The loggers `configure_logging` formats: the API's and the dev server's."""
_ID_KEY = "session_api.request_id"
_START_KEY = "session_api.request_start"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"

request_logger = logging.getLogger("api.request")


def request_started(environ: Dict[str, Any]) -> Optional[float]:
    """Return the `time.perf_counter()` at the start of the request.

    `environ` is the request's WSGI environment; None before `install`'s
    first hook ran.
    """
    return environ.get(_START_KEY)


def request_id() -> Optional[str]:
    """Return the id of the request being served, or None outside one."""
    try:
        return request.environ.get(_ID_KEY)
    except RuntimeError:
        return None


def _incoming_id(value: Optional[str]) -> str:
    """Return the client's request id if well-formed, else a new one."""
    if value is not None and REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def install(app: Flask, settings: Settings) -> None:
    """Give `app`'s requests an id, and log them under `LOG_FORMAT=json`.

    Must be called before any other `before_request` function is
    registered, so that answers the guard gives carry an id too.
    """
    log_requests = settings.log_format == "json"

    @app.before_request
    def take_request_id() -> None:
        """Keep or make the request's id; note the start time.

        The start time (`request_started`) also serves the metrics.
        """
        environ = request.environ
        environ[_START_KEY] = time.perf_counter()
        environ[_ID_KEY] = _incoming_id(environ.get("HTTP_X_REQUEST_ID"))

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        """Echo the id; write the request line under `LOG_FORMAT=json`."""
        rid = request.environ.get(_ID_KEY)
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        if log_requests:
            _log_request(response)
        return response


def _log_request(response: Response) -> None:
    """Write the `"event": "request"` line of the answer `response`."""
    started = request.environ.get(_START_KEY)
    duration = (time.perf_counter() - started) * 1000 if started else 0.0
    fields: Dict[str, Any] = {
        "event": "request", "method": request.method,
        "path": request.path, "status": response.status_code,
        "duration_ms": round(duration, 3),
        "remote_addr": request.remote_addr}
    user = getattr(request, "current_user", None)
    if getattr(user, "id", None) is not None:
        fields["user_id"] = user.id
    request_logger.info("%s %s %s", request.method, request.path,
                        response.status_code, extra=fields)


class RequestIdFilter(logging.Filter):
    """Add `request_id` to each record written while a request is served.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set `record.request_id` (when in a request); keep the record."""
        if getattr(record, "request_id", None) is None:
            rid = request_id()
            if rid is not None:
                record.request_id = rid
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: `ts`, `level`, then the record's fields.

    Lines with an `event` field (requests, auth events) carry their
    fields only; other lines carry `logger` and `message`.
    """

    def __init__(self) -> None:
        """Create the formatter; records keep their own `extra` fields."""
        super().__init__("%(message)s")

    def add_fields(self, log_data: Dict[str, Any],
                   record: logging.LogRecord,
                   message_dict: Dict[str, Any]) -> None:
        """Fill `log_data` from `record`, `ts` and `level` first."""
        log_data["ts"] = datetime.fromtimestamp(
            record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
        log_data["level"] = record.levelname
        super().add_fields(log_data, record, message_dict)
        if "event" in log_data:
            log_data.pop("message", None)
        else:
            log_data["logger"] = record.name


def make_handler(settings: Settings,
                 stream: Optional[TextIO] = None) -> logging.Handler:
    """Return a handler writing to `stream` (stderr) in `LOG_FORMAT`."""
    handler = logging.StreamHandler(stream if stream is not None
                                    else sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(settings: Settings, stream: Optional[TextIO] = None,
                      handlers: Optional[List[logging.Handler]] = None
                      ) -> None:
    """Send the `api` and `werkzeug` loggers' lines out in `LOG_FORMAT`.

    `handlers` replaces the default one (a handler on `stream`, stderr).
    Under `json` the dev server's own request lines are dropped (the
    API writes its own) and its colour codes are off; under `text` they
    are off when the stream is not a terminal.
    """
    from werkzeug import serving

    chosen = handlers if handlers is not None else [
        make_handler(settings, stream)]
    target = stream if stream is not None else sys.stderr
    if settings.log_format == "json" or not _is_terminal(target):
        # Werkzeug styles status codes with ANSI codes whatever the
        # stream; it offers no switch but this module flag.
        serving._log_add_style = False
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in chosen:
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if settings.log_format == "json":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _is_terminal(stream: Any) -> bool:
    """Return True if `stream` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
