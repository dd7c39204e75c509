#!/usr/bin/env python3
"""Prometheus metrics of the Session API (account-security §6.2).

The series are module-level `prometheus_client` objects, so that every
app of a process counts into one registry. `install(app, settings)`
times each request and serves `GET /metrics` when `METRICS_ENABLED` is
set; the auth series are counted by `api.v1.auth.events.log_event`.

Under gunicorn, `gunicorn.conf.py` points `PROMETHEUS_MULTIPROC_DIR` at a
fresh folder of the server before the workers start: each worker then
writes its values to files there, and `/metrics` sums them over every
worker, living or dead (the client library's multiprocess mode).
"""
import hmac
import time
from typing import Any, Dict, Optional, Tuple

from flask import Flask, Response, jsonify, request
from prometheus_client import (REGISTRY, CollectorRegistry, Counter,
                               Histogram, disable_created_metrics)
from prometheus_client.exposition import choose_encoder

from models.settings import Settings

METRICS_PATH = "/metrics"
UNMATCHED = "<unmatched>"
"""The `route` of a request that matches no URL rule."""
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                     "OPTIONS"))
"""Methods counted by name; any other is counted as `OTHER`, so that a
client cannot create label values at will."""
LIMITS = ("per_account", "per_address", "account_wide")
LOGIN_RESULTS = ("success", "wrong_password", "unknown_email", "limited",
                 "second_factor_required", "second_factor_failed")
"""The `result` values of `auth_logins_total` (§6.2)."""
END_REASONS = ("logout", "revoked", "expired", "credentials_changed")
"""The `reason` values of `auth_sessions_ended_total` (§6.2)."""
UNAUTHORIZED = {"error": "Unauthorized"}

# `_created` series are a single process's start times: summed over
# workers they mean nothing, and multiprocess mode drops them anyway.
disable_created_metrics()

REQUESTS = Counter("http_requests_total", "HTTP requests answered.",
                   ["method", "route", "status"])
DURATION = Histogram("http_request_duration_seconds",
                     "Time from the request's arrival to its answer.",
                     ["route"])
LOGINS = Counter("auth_logins_total", "Login attempts by result.",
                 ["result"])
SESSIONS_CREATED = Counter("auth_sessions_created_total",
                           "Sessions started by a login.")
SESSIONS_ENDED = Counter("auth_sessions_ended_total",
                         "Sessions ended, by reason.", ["reason"])
LIMITED = Counter("auth_limited_total",
                  "Attempts refused by a limit on password checks.",
                  ["limit"])
# Every fixed label value exists from the start, at 0, so that rate()
# and absent-series alerts work before the first event of each kind.
for _result in LOGIN_RESULTS:
    LOGINS.labels(result=_result)
for _reason in END_REASONS:
    SESSIONS_ENDED.labels(reason=_reason)
for _limit in LIMITS:
    LIMITED.labels(limit=_limit)


def route_of(url_rule: Optional[object]) -> str:
    """Return the `route` label of a request: its URL rule, or UNMATCHED.

    The rule (`/api/v1/users/<user_id>`), never the raw path, so that a
    million user ids make one label value.
    """
    rule = getattr(url_rule, "rule", None)
    return rule if isinstance(rule, str) else UNMATCHED


def render(settings: Settings, accept: Optional[str] = None
           ) -> Tuple[bytes, str]:
    """Return the exposition of every series, and its content type.

    The format is the one the `Accept` header `accept` prefers among
    those prometheus-client writes (the text format by default). With
    `PROMETHEUS_MULTIPROC_DIR` the values are read from that folder's
    files, summed over every worker that wrote there.
    """
    registry = REGISTRY
    if settings.prometheus_multiproc_dir:
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(
            registry, path=settings.prometheus_multiproc_dir)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def token_ok(settings: Settings, header: Optional[str]) -> bool:
    """Return True if `header` carries `Bearer <METRICS_TOKEN>`.

    Always True without a token. Compared in constant time.
    """
    if not settings.metrics_token:
        return True
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8", "replace"),
                               settings.metrics_token.encode("utf-8"))


def install(app: Flask, settings: Settings) -> None:
    """Time every request of `app` and serve `GET /metrics`.

    Does nothing unless `METRICS_ENABLED` is set (then `/metrics`
    answers 404 and requests cost nothing more). The request's start is
    the one `api.v1.logs.install` notes; call that first.
    """
    if not settings.metrics_enabled:
        return
    from api.v1.logs import request_started

    counters: Dict[Tuple[str, str, int], Any] = {}
    histograms: Dict[str, Any] = {}

    @app.after_request
    def observe(response: Response) -> Response:
        """Count the answer and its duration under the request's route.

        The series' children are kept per label values (a bounded set:
        routes, methods and statuses are few), which spares the client
        library's label checks at every request.
        """
        req = request._get_current_object()
        route = route_of(req.url_rule)
        method = req.method if req.method in METHODS else "OTHER"
        key = (method, route, response.status_code)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = REQUESTS.labels(
                method, route, str(response.status_code))
        counter.inc()
        started = request_started(req.environ)
        if started is not None:
            histogram = histograms.get(route)
            if histogram is None:
                histogram = histograms[route] = DURATION.labels(route)
            histogram.observe(time.perf_counter() - started)
        return response

    @app.route(METRICS_PATH, methods=["GET"])
    def metrics() -> Response:
        """GET /metrics: the Prometheus text format (§6.2).

        401 `{"error": "Unauthorized"}` with `WWW-Authenticate: Bearer`
        when `METRICS_TOKEN` is set and not presented (RFC 6750).
        """
        if not token_ok(settings, request.headers.get("Authorization")):
            response = jsonify(UNAUTHORIZED)
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        body, content_type = render(settings,
                                    request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type)
