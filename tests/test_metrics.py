"""Prometheus metrics (account-security §6.2), in one process.

The series live in the process's default registry, shared by every app
the tests build, so each test reads the change of a value around what
it does.
"""
import pytest
from prometheus_client import REGISTRY

from tests.conftest import basic_header, create_user, login

LOGINS = "auth_logins_total"


def value(name, **labels):
    """Return a sample's value in the process registry (0 if absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """The change of several samples between construction and `of()`."""

    def __init__(self, *keys):
        self.keys = keys
        self.before = {key: value(key[0], **dict(key[1:])) for key in keys}

    def of(self, name, **labels):
        key = (name,) + tuple(sorted(labels.items()))
        before = self.before.get(key, 0.0)
        return value(name, **labels) - before


def key(name, **labels):
    return (name,) + tuple(sorted(labels.items()))


def scrape(client, **headers):
    response = client.get("/metrics", headers=headers)
    return response.status_code, response.get_data(as_text=True)


def test_off_by_default(make_app):
    client = make_app("session_auth").test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found"}


@pytest.mark.parametrize("auth_type", [None, "basic_auth", "session_auth"])
def test_outside_the_guard(make_app, auth_type):
    client = make_app(auth_type, metrics_enabled=True).test_client()
    status, body = scrape(client)
    assert status == 200
    assert "# TYPE http_requests_total counter" in body
    assert "# TYPE http_request_duration_seconds histogram" in body
    for series in ("auth_logins_total", "auth_sessions_created_total",
                   "auth_sessions_ended_total", "auth_limited_total"):
        assert "# TYPE {} counter".format(series) in body
    # Credentials of the API are neither needed nor looked at.
    assert scrape(client, **basic_header("x@y.z", "bad"))[0] == 200


def test_token(make_app):
    client = make_app("basic_auth", metrics_enabled=True,
                      metrics_token="s3cret-token").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "Basic s3cret-token"},
                    {"Authorization": "s3cret-token"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.get_json() == {"error": "Unauthorized"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    status, body = scrape(client, Authorization="Bearer s3cret-token")
    assert status == 200 and "http_requests_total" in body


def test_route_label_is_the_rule_not_the_path(make_app):
    client = make_app(None, metrics_enabled=True).test_client()
    rule = "/api/v1/users/<user_id>"
    counted = key("http_requests_total", method="GET", route=rule,
                  status="404")
    unmatched = key("http_requests_total", method="GET",
                    route="<unmatched>", status="404")
    delta = Delta(counted, unmatched)
    for number in range(300):
        assert client.get("/api/v1/users/id-{}".format(
            number)).status_code == 404
        client.get("/no/such/{}".format(number))
    client.open("/api/v1/status", method="BREW")
    assert delta.of("http_requests_total", method="GET", route=rule,
                    status="404") == 300
    assert delta.of("http_requests_total", method="GET",
                    route="<unmatched>", status="404") == 300
    body = scrape(client)[1]
    routes = {line.split('route="')[1].split('"')[0]
              for line in body.splitlines()
              if line.startswith("http_requests_total{")}
    assert not any(r.startswith(("/api/v1/users/id-", "/no/such"))
                   for r in routes)
    assert "BREW" not in body and 'method="OTHER"' in body
    assert value("http_request_duration_seconds_count", route=rule) >= 300


def test_login_results_and_sessions(make_app):
    app = make_app("session_auth", metrics_enabled=True,
                   login_limit_per_account="2 per minute")
    client = app.test_client()
    create_user()
    keys = [key(LOGINS, result=r) for r in (
        "success", "wrong_password", "unknown_email", "limited")] + [
        key("auth_sessions_created_total"),
        key("auth_limited_total", limit="per_account")] + [
        key("auth_sessions_ended_total", reason=r) for r in (
            "logout", "revoked", "credentials_changed")]
    delta = Delta(*keys)
    assert login(client).status_code == 200
    other = app.test_client()
    assert login(other).status_code == 200
    assert login(app.test_client(), "nobody@hbtn.io").status_code == 404
    assert client.delete("/api/v1/auth_session/sessions").get_json() == {
        "revoked": 1}
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
    attacker = app.test_client()
    for _ in range(2):
        assert login(attacker, password="bad").status_code == 401
    for _ in range(3):
        assert login(attacker, password="bad").status_code == 429
    assert delta.of(LOGINS, result="success") == 2
    assert delta.of(LOGINS, result="unknown_email") == 1
    assert delta.of(LOGINS, result="wrong_password") == 2
    assert delta.of(LOGINS, result="limited") == 3
    assert delta.of("auth_limited_total", limit="per_account") == 3
    assert delta.of("auth_sessions_created_total") == 2
    assert delta.of("auth_sessions_ended_total", reason="revoked") == 1
    assert delta.of("auth_sessions_ended_total", reason="logout") == 1


def test_password_change_ends_sessions_as_credentials_changed(make_app):
    app = make_app("session_auth", metrics_enabled=True)
    create_user()
    client, other = app.test_client(), app.test_client()
    login(client)
    login(other)
    delta = Delta(key("auth_sessions_ended_total",
                      reason="credentials_changed"),
                  key("auth_sessions_ended_total", reason="revoked"))
    assert client.put("/api/v1/users/me/password", json={
        "current_password": "H0lberton!",
        "new_password": "a new long passphrase"}).status_code == 200
    assert delta.of("auth_sessions_ended_total",
                    reason="credentials_changed") == 2
    assert delta.of("auth_sessions_ended_total", reason="revoked") == 0


def test_expired_session(make_app, frozen_clock):
    app = make_app("session_exp_auth", metrics_enabled=True,
                   session_duration=60)
    create_user()
    client = app.test_client()
    login(client)
    delta = Delta(key("auth_sessions_ended_total", reason="expired"))
    frozen_clock.advance(120)
    assert client.get("/api/v1/users/me").status_code == 403
    assert delta.of("auth_sessions_ended_total", reason="expired") == 1


def test_disabled_metrics_count_no_requests(make_app):
    client = make_app(None).test_client()
    sample = key("http_requests_total", method="GET",
                 route="/api/v1/status", status="200")
    delta = Delta(sample)
    client.get("/api/v1/status")
    assert delta.of("http_requests_total", method="GET",
                    route="/api/v1/status", status="200") == 0


def test_event_table_drives_the_login_results(make_app):
    """Second-step names (issue 15) and Basic attempts, through log_event.
    """
    from api.v1.auth.events import log_event
    app = make_app("session_auth", metrics_enabled=True)
    user = create_user()
    keys = [key(LOGINS, result=r) for r in (
        "second_factor_required", "second_factor_failed", "limited",
        "wrong_password")] + [key("auth_limited_total", limit="per_address")]
    delta = Delta(*keys)
    with app.test_request_context():
        log_event("second_factor_required", user=user.id)
        log_event("login_failed", reason="wrong_code", user=user.id)
        log_event("login_failed", reason="passkey", user=user.id)
        log_event("limited", limit="per_address", user=user.id, via="mfa")
        log_event("limited", limit="per_address", user=user.id,
                  via="basic")
    assert delta.of(LOGINS, result="second_factor_required") == 1
    assert delta.of(LOGINS, result="second_factor_failed") == 1
    assert delta.of(LOGINS, result="wrong_password") == 1
    assert delta.of(LOGINS, result="limited") == 1
    assert delta.of("auth_limited_total", limit="per_address") == 2
