"""The user authentication service's limits (spec §9), with bursts.

Accounts made here through `DB` carry a bcrypt hash of cost 4 (about 1 ms
to check) so that 50 guesses stay quick; the service itself hashes with
cost 12. Redis is the real server of `TEST_REDIS_URL`.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest
import requests

from conftest import free_port, live_server
from uas import SERVICE, service_module

pytestmark = pytest.mark.quick_hashing


@pytest.fixture
def checkpw_calls(monkeypatch):
    """Count the calls of `bcrypt.checkpw`, the password checks."""
    calls = []
    real = bcrypt.checkpw

    def spy(password, hashed):
        calls.append(password)
        return real(password, hashed)
    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return calls


@pytest.fixture
def hashpw_calls(monkeypatch):
    """Count the calls of `bcrypt.hashpw`, the registrations' bcrypt runs."""
    calls = []
    real = bcrypt.hashpw

    def spy(password, salt):
        calls.append(password)
        return real(password, salt)
    monkeypatch.setattr(bcrypt, "hashpw", spy)
    return calls


def make_auth(**values):
    """Return an `Auth` made with `Settings(**values)`."""
    settings = service_module("settings").Settings(**values)
    return service_module("auth").Auth(settings)


@pytest.fixture
def kept_url(workdir):
    """Return a SQLite `UAS_DATABASE_URL` holding bob (password `right`)."""
    url = "sqlite:///" + str(workdir / "kept.db")
    service_module("db").DB(url).add_user(
        "bob@me.com", bcrypt.hashpw(b"right", bcrypt.gensalt(4)))
    return url


def parallel(count, call):
    """Run `call(i)` for i in range(count) in threads released together."""
    go = threading.Barrier(count)

    def run(i):
        go.wait()
        return call(i)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.real_hashing
def test_account_limit_spans_addresses(kept_url, checkpw_calls):
    auth = make_auth(database_url=kept_url)
    assert auth.throttled_login("bob@me.com", "right",
                                "10.1.0.1") == (True, None)
    outcomes = parallel(60, lambda i: auth.throttled_login(
        "bob@me.com", "guess{}".format(i), "10.2.0.{}".format(i)))
    checked = [o for o in outcomes if o.retry_after is None]
    refused = [o for o in outcomes if o.retry_after is not None]
    assert len(checked) == 50 and not any(o.valid for o in checked)
    assert len(refused) == 10
    # The hour's window: longer than any one-minute limit could give.
    assert all(60 < o.retry_after <= 3600 for o in refused), refused
    assert len(checkpw_calls) == 1 + 50
    outcome = auth.throttled_login("bob@me.com", "right", "10.3.0.1")
    assert (outcome.valid, outcome.retry_after > 60) == (False, True)
    # Other names from a fresh address are not held back.
    assert auth.throttled_login("alice@me.com", "x",
                                "10.3.0.1") == (False, None)
    assert auth.throttled_login("BOB@me.com", "right",
                                "10.3.0.1") == (False, None)


def test_email_variants_never_spend_the_account_budget(kept_url,
                                                       checkpw_calls):
    auth = make_auth(database_url=kept_url, login_limit_per_account="3/hour")
    variants = ["BOB@me.com", "Bob@Me.Com", " bob@me.com", "bob@me.com "]
    for i, email in enumerate(variants):
        assert auth.throttled_login(email, "right", "10.4.0.{}".format(
            i)) == (False, None)
    assert auth.throttled_login("bob@me.com", "right",
                                "10.4.1.0") == (True, None)
    # The control: three real failures do spend it.
    for i in range(3):
        assert auth.throttled_login("bob@me.com", "wrong", "10.4.2.{}".format(
            i)) == (False, None)
    assert auth.throttled_login("bob@me.com", "right",
                                "10.4.3.0").retry_after > 60
    assert len(checkpw_calls) == len(variants) + 1 + 3


@pytest.fixture
def service(workdir, monkeypatch):
    """Return the app module with a fresh `AUTH` of contract settings."""
    app_module = service_module("app")
    monkeypatch.setattr(app_module, "AUTH", make_auth())
    return app_module


def client_at(service, address):
    """Return a test client whose requests come from `address`."""
    client = service.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.mark.real_hashing
def test_registrations_are_counted_before_bcrypt(service, hashpw_calls):
    for _ in range(12):              # refused input costs nothing
        assert client_at(service, "192.0.2.7").post(
            "/users", data={"email": "x@me.com"}).status_code == 400
    responses = parallel(25, lambda i: client_at(service, "192.0.2.7").post(
        "/users", data={"email": "u{}@me.com".format(i),
                        "password": "pwd"}))
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] * 10 + [429] * 15, statuses
    assert len(hashpw_calls) == 10
    for response in responses:
        if response.status_code == 429:
            assert response.get_json() == {"message": "too many requests"}
            assert 1 <= int(response.headers["Retry-After"]) <= 60
    response = client_at(service, "192.0.2.8").post(
        "/users", data={"email": "other@me.com", "password": "pwd"})
    assert (response.status_code, response.get_json()) == (
        200, {"email": "other@me.com", "message": "user created"})


def test_counters_are_shared_through_redis(workdir, redis_url):
    first = service_module("throttle").Throttle(redis_url)
    second = service_module("throttle").Throttle(redis_url)
    for throttle in (first, second, first, second, first):
        assert throttle.login("bob@me.com", "10.0.0.1", True).retry_after \
            == 0
    assert second.login("bob@me.com", "10.0.0.1", True).retry_after >= 1
    assert second.login("bob@me.com", "10.0.0.2", True).retry_after == 0
    for i in range(10):
        assert (first, second)[i % 2].registration("10.0.0.1") \
            .retry_after == 0
    assert first.registration("10.0.0.1").retry_after >= 1


@pytest.mark.real_hashing
def test_two_servers_share_counters_in_redis(workdir, redis_url):
    url = "sqlite:///" + str(workdir / "shared.db")
    env = {"UAS_DATABASE_URL": url, "RATELIMIT_STORAGE_URI": redis_url}
    app = [str(SERVICE / "app.py")]
    with live_server(app, workdir, env, probe="/") as one, \
            live_server(app, workdir, env, probe="/") as two:
        servers = [one.url, two.url]

        def register(i):
            return requests.post(servers[i % 2] + "/users", data={
                "email": "u{}@me.com".format(i), "password": "pwd"},
                timeout=30).status_code
        assert sorted(parallel(11, register)) == [200] * 10 + [429]

        def guess(i):
            return requests.post(servers[i % 2] + "/sessions", data={
                "email": "u0@me.com", "password": "wrong"},
                timeout=30).status_code
        assert sorted(parallel(7, guess)) == [401] * 5 + [429] * 2
        response = requests.post(servers[1] + "/sessions", data={
            "email": "u0@me.com", "password": "pwd"})
        assert response.status_code == 429
        assert response.json() == {"message": "too many requests"}
    assert "Traceback" not in one.output() + two.output()


def test_counters_down_answer_503(service, monkeypatch):
    down = "redis://127.0.0.1:{}/0".format(free_port())
    auth = make_auth(ratelimit_storage_uri=down)
    monkeypatch.setattr(service, "AUTH", auth)
    client = service.app.test_client()
    for path, data in (("/users", {"email": "a@me.com", "password": "x"}),
                       ("/sessions", {"email": "a@me.com", "password": "x"})):
        response = client.post(path, data=data)
        assert (response.status_code, response.get_json()) == (
            503, {"message": "service unavailable"})
        assert "Set-Cookie" not in response.headers
    assert auth.create_session("a@me.com") is None        # never registered
    assert client.get("/").status_code == 200
