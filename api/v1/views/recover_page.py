#!/usr/bin/env python3
"""The recovery page: `GET /account/recover` and its files.

account-security §7.4: a plain HTML page (HTML, CSS and JS shipped in
`api/v1/mail/page/`, no CDN) that asks for the email ("Forgot your
password?", posting `POST /api/v1/auth_session/recovery`) or, with
`#token=...` in the URL fragment, for the new password (posting
`.../recovery/confirm`). Its files are served under
`/account/recover/static/`. Every answer carries `Referrer-Policy:
no-referrer` and a strict Content-Security-Policy (no inline script or
style, nothing from elsewhere). The page exists only when recovery
does (mail on under a session `AUTH_TYPE`), else 404.
"""
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

from api.v1.views.recovery import require_recovery

recover_page = Blueprint("recover_page", __name__)
PAGE_FOLDER = Path(__file__).resolve().parent.parent / "mail" / "page"
PAGE_FILES = frozenset(("recover.css", "recover.js"))
"""The files served under `/account/recover/static/`; others are 404."""
PAGE_PATHS = ["/account/recover*"]
"""The page's open paths, for the guard."""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'")


def _harden(response: Response) -> Response:
    """Add the page's security headers to `response` and return it."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@recover_page.route("/account/recover", methods=["GET"],
                    strict_slashes=False)
def recover() -> Response:
    """GET /account/recover: the recovery page (text/html, 200)."""
    require_recovery()
    return _harden(send_from_directory(PAGE_FOLDER, "recover.html",
                                       max_age=0))


@recover_page.route("/account/recover/static/<name>", methods=["GET"])
def recover_file(name: str) -> Response:
    """GET /account/recover/static/<name>: the page's CSS or JS.

    404 for any name but `recover.css` and `recover.js`.
    """
    require_recovery()
    if name not in PAGE_FILES:
        abort(404)
    return _harden(send_from_directory(PAGE_FOLDER, name, max_age=0))
