#!/usr/bin/env python3
"""Cross-site request check of the authentication service.

A small self-contained copy of the Session API's `is_cross_site`
(`api/v1/app.py`): the service runs as `python3 app.py` from its own
folder, where the `api` package is not importable, and importing it would
also load the whole Session API. The rule follows the OWASP CSRF
Prevention Cheat Sheet ("Fetch Metadata headers" and "verifying origin
with standard headers"); `Sec-Fetch-Site` and `Origin` are set by the
browser and cannot be forged by a page's script.
"""
from typing import Mapping, Optional

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Fetch Metadata values of requests that did not come from another site:
# `none` is a navigation the user started (address bar, bookmark).
NOT_CROSS_SITE = ("same-origin", "same-site", "none")
DEFAULT_PORTS = {"http": "80", "https": "443"}


def _origin(text: str) -> str:
    """Return `text` (`scheme://host[:port]`) lower-cased, canonical.

    A trailing slash and the scheme's default port are dropped, so that
    `https://Example.com:443/` and `https://example.com` compare equal
    (RFC 6454 §6.1).
    """
    origin = text.strip().rstrip("/").lower()
    scheme, _, host = origin.partition("://")
    port = DEFAULT_PORTS.get(scheme)
    if port and host.endswith(":" + port):
        host = host[:-len(port) - 1]
    return "{}://{}".format(scheme, host)


def is_cross_site(headers: Mapping[str, str], scheme: str,
                  host: str) -> bool:
    """Return True if a browser marks the request as from another site.

    `headers` are the request's headers, `scheme` (`http`, `https`) and
    `host` (`host[:port]`) the server's own origin as the request reached
    it. `Sec-Fetch-Site: cross-site` is cross-site; `same-origin`,
    `same-site` and `none` are not. Without that header (older browsers),
    an `Origin` other than the server's own, `null` included, is
    cross-site. A request with neither header (curl, scripts) is not.
    """
    fetch_site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if fetch_site == "cross-site":
        return True
    if fetch_site in NOT_CROSS_SITE:
        return False
    origin: Optional[str] = headers.get("Origin")
    if origin is None:
        return False
    return _origin(origin) != _origin("{}://{}".format(scheme, host))
