#!/usr/bin/env python3
"""Health probes: liveness and readiness (account-security §6.1).

Both are open under every `AUTH_TYPE` (they are among the app's public
paths) and never rate limited.
"""
from typing import Tuple

from flask import Response, current_app, jsonify

from api.v1.config import HEALTH_EXTENSION
from api.v1.views import app_views


@app_views.route('/health/live', methods=['GET'], strict_slashes=False)
def health_live() -> Response:
    """GET /api/v1/health/live: 200 `{"status": "ok"}`; touches no store.
    """
    return jsonify({"status": "ok"})


@app_views.route('/health/ready', methods=['GET'], strict_slashes=False)
def health_ready() -> Tuple[Response, int]:
    """GET /api/v1/health/ready: the state of each store role in use.

    200 `{"status": "ok", "checks": {role: "ok"}}` when every check
    passes, else 503 `{"status": "unavailable", "checks": {...}}` with
    each role `"ok"` or `"unavailable"`. Answers within about a second.
    """
    checks = current_app.extensions[HEALTH_EXTENSION].results()
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return jsonify(body), 200 if ready else 503
