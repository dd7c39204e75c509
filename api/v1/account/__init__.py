#!/usr/bin/env python3
"""The account page: `GET /account` and its files (account-security §5.3).

One self-service page, shipped in this folder (`static/`: HTML, CSS and
plain JS, no CDN, no build step) and served under `/account/static/`.
The page talks to the API routes only; the one helper it has here draws
the QR code of a TOTP `otpauth` URI as SVG on the server (`segno`), so
that no script or image comes from another host.

Every answer of the page carries a strict Content-Security-Policy (no
inline script or style, nothing from another origin, `frame-ancestors
'none'`) and the headers of the OWASP HTTP Headers Cheat Sheet.
"""
import io
import os
from typing import Tuple

from flask import Blueprint, Response, jsonify, request

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' blob:; connect-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
"""No inline script or style, no other host, no framing (OWASP
Content Security Policy Cheat Sheet; ASVS 5.0 3.4.3)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
MAX_URI = 2048
"""The longest `otpauth` URI drawn, in characters."""

account_page = Blueprint("account_page", __name__, static_folder=STATIC,
                         static_url_path="/account/static")


RECOVER_LINK = ('<p class="forgot"><a id="recover-link" '
                'href="/account/recover">Forgot your password?</a></p>')
"""The login form's link to the recovery page, shown with mail on."""


@account_page.after_request
def security_headers(response: Response) -> Response:
    """Add the page's security headers to every answer of the blueprint."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


@account_page.route("/account", methods=["GET"], strict_slashes=False)
def account() -> Response:
    """GET /account: the account page (HTML; the session is the cookie).

    The page is told whether the request carried a session cookie (its
    value is never put in the page), so that a visitor without one goes
    straight to the login form instead of asking a guarded route. With
    mail on (`MAIL_URL`) the login form links to `/account/recover`.
    """
    from flask import current_app

    from api.v1.config import MAIL_EXTENSION, SETTINGS_EXTENSION

    name = current_app.extensions[SETTINGS_EXTENSION].session_name
    with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as page:
        html = page.read()
    html = html.replace("{{session_cookie}}",
                        "yes" if request.cookies.get(name) else "no")
    html = html.replace("{{recover_link}}", RECOVER_LINK if current_app
                        .extensions.get(MAIL_EXTENSION) is not None else "")
    return Response(html, mimetype="text/html")


@account_page.route("/account/totp-qr", methods=["POST"],
                    strict_slashes=False)
def totp_qr() -> Tuple[Response, int]:
    """POST /account/totp-qr: draw an `otpauth://` URI as a QR code.

    JSON body `{"otpauth_uri": "otpauth://totp/..."}` (at most 2,048
    characters). Returns 200 `image/svg+xml`; 400 `{"error": "Wrong
    format"}` for anything else. Nothing is stored or logged: the URI
    holds the TOTP secret the page was just given.
    """
    import segno

    body = request.get_json(silent=True)
    uri = body.get("otpauth_uri") if isinstance(body, dict) else None
    if not isinstance(uri, str) or not uri.startswith("otpauth://") \
            or len(uri) > MAX_URI:
        return jsonify({"error": "Wrong format"}), 400
    out = io.BytesIO()
    try:
        code = segno.make(uri, error="m")
    except segno.DataOverflowError:
        # The limit counts characters; a QR code holds bytes.
        return jsonify({"error": "Wrong format"}), 400
    code.save(out, kind="svg", scale=5, border=2, xmldecl=False,
              title="TOTP QR code")
    return Response(out.getvalue(), mimetype="image/svg+xml"), 200
