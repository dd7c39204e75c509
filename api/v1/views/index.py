#!/usr/bin/env python3
"""Index views: status, stats and the two error probes."""
from flask import abort, jsonify

from api.v1.views import app_views, policy_principal
from models.user import User


@app_views.route('/status', methods=['GET'], strict_slashes=False)
def status() -> str:
    """GET /api/v1/status: return `{"status": "OK"}`."""
    return jsonify({"status": "OK"})


@app_views.route('/stats', methods=['GET'], strict_slashes=False)
def stats() -> str:
    """GET /api/v1/stats: return the number of each object, `{"users": N}`.

    Under `USERS_POLICY=owner` only administrators may read it (403).
    """
    if policy_principal() is not None:
        abort(403)
    stats = {}
    stats['users'] = User.count()
    return jsonify(stats)


@app_views.route('/unauthorized', methods=['GET'], strict_slashes=False)
def unauthorized() -> str:
    """GET /api/v1/unauthorized: answer 401 `{"error": "Unauthorized"}`."""
    abort(401)


@app_views.route('/forbidden', methods=['GET'], strict_slashes=False)
def forbidden() -> str:
    """GET /api/v1/forbidden: answer 403 `{"error": "Forbidden"}`."""
    abort(403)
