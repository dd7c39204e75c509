"""Health probes (account-security §6.1) over private stores.

`/api/v1/health/live` touches no store; `/api/v1/health/ready` has one
check per store role in use, answers within about a second even when a
store hangs, and both are open under every `AUTH_TYPE`, never limited.
"""
import shutil
import time

import pytest

from conftest import ALL_TYPES, api_server, basic_header, create_user
from faultlib import RedisServer, free_port, wait_until
from models import store_health

READY = "/api/v1/health/ready"
LIVE = "/api/v1/health/live"
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="redis-server is not installed")


@pytest.fixture(autouse=True)
def fresh_breakers():
    store_health.reset()
    yield
    store_health.reset()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(str(tmp_path / "redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("auth_type", ALL_TYPES)
def test_both_probes_are_open_under_every_auth_type(make_app, auth_type):
    client = make_app(auth_type).test_client()
    live = client.get(LIVE)
    assert (live.status_code, live.get_json()) == (200, {"status": "ok"})
    ready = client.get(READY)
    assert (ready.status_code, ready.get_json()) == (
        200, {"status": "ok", "checks": {"records": "ok"}})
    wrong = client.get(READY, headers=basic_header("x@y.z", "bad"))
    assert wrong.status_code == 200


def test_the_probes_are_never_rate_limited(make_app):
    client = make_app("basic_auth", login_limit_per_address="2 per hour"
                      ).test_client()
    assert {client.get(READY).status_code for _ in range(30)} == {200}
    assert {client.get(LIVE).status_code for _ in range(30)} == {200}


@needs_redis
def test_one_check_per_role_and_each_says_what_fails(make_app,
                                                     redis_server):
    app = make_app("session_auth", session_store_url=redis_server.url,
                   store_retry_seconds=0.2, store_timeout_seconds=0.3)
    client = app.test_client()
    assert client.get(READY).get_json() == {"status": "ok", "checks": {
        "records": "ok", "sessions": "ok", "limits": "ok"}}
    redis_server.stop()
    assert wait_until(lambda: client.get(READY).status_code == 503, 5)
    down = client.get(READY)
    assert down.get_json() == {"status": "unavailable", "checks": {
        "records": "ok", "sessions": "unavailable",
        "limits": "unavailable"}}
    assert client.get(LIVE).status_code == 200
    redis_server.start()
    assert wait_until(lambda: client.get(READY).status_code == 200, 5)


@needs_redis
def test_limits_in_memory_have_no_check(make_app, redis_server):
    app = make_app("session_auth", session_store_url=redis_server.url,
                   ratelimit_storage_uri="memory://")
    assert app.test_client().get(READY).get_json()["checks"] == {
        "records": "ok", "sessions": "ok"}


@needs_redis
def test_a_hung_store_cannot_stall_the_probe(make_app, redis_server):
    app = make_app("session_auth", session_store_url=redis_server.url,
                   store_timeout_seconds=5, store_retry_seconds=30)
    client = app.test_client()
    assert client.get(READY).status_code == 200
    app.extensions["session_api.health"]._last = None   # no cached answer
    redis_server.pause()
    try:
        began = time.monotonic()
        answer = client.get(READY)
        took = time.monotonic() - began
        live_began = time.monotonic()
        assert client.get(LIVE).status_code == 200
        live = time.monotonic() - live_began
    finally:
        redis_server.resume()
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["sessions"] == "unavailable"
    assert took < 1.5 and live < 0.2


def test_an_unreachable_database_starts_and_reports_not_ready(workdir):
    url = "postgresql://postgres@127.0.0.1:{}/x".format(free_port())
    with api_server(workdir, DATABASE_URL=url) as server:
        import requests
        assert requests.get(server.url + "/api/v1/status").status_code \
            == 200
        began = time.monotonic()
        ready = requests.get(server.url + READY)
        assert time.monotonic() - began < 3
        assert (ready.status_code, ready.json()) == (503, {
            "status": "unavailable", "checks": {"records": "unavailable"}})
        assert "Traceback" not in server.output()


def test_ready_with_a_database(make_app, database):
    create_user()
    answer = make_app("session_db_auth").test_client().get(READY)
    assert (answer.status_code, answer.get_json()) == (
        200, {"status": "ok", "checks": {"records": "ok"}})
