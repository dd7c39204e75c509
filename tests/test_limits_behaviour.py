"""The limits on password checks: what issue 23 found untested.

The `limits` in-memory storage and the limiter read `time.time()`; the
tests give both a clock they move by hand (`limiter_clock`), so a window
frees without waiting for it. Each test names the defect it was seen to
catch (planted, run, restored).
"""
import logging
import math
from types import SimpleNamespace

import limits.storage.memory
import pytest

from api.v1 import rate_limit
from api.v1.auth.events import email_digest
from conftest import basic_header, create_user, free_port, login

pytestmark = pytest.mark.quick_hashing

ME = "/api/v1/users/me"
TOO_MANY = {"error": "Too many requests"}
RIGHT = basic_header("bob@hbtn.io", "H0lberton!")
WRONG = basic_header("bob@hbtn.io", "wrong")


class LimiterClock:
    """`time.time()` for the limiter and its memory storage, moved by hand.
    """

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def limiter_clock(monkeypatch):
    """Give the limiter and the `limits` memory storage a hand-moved clock.
    """
    fake = LimiterClock(1_800_000_000.25)
    module = SimpleNamespace(time=fake.time)
    monkeypatch.setattr(limits.storage.memory, "time", module)
    monkeypatch.setattr(rate_limit, "time", module)
    return fake


def wrong_login(client, email="bob@hbtn.io"):
    """Log in with a wrong password; return the response."""
    return login(client, email, "wrong-password")


@pytest.mark.parametrize("auth_type", ["session_auth", "basic_auth"])
def test_a_check_while_the_limiters_storage_is_down_answers_503(
        make_app, auth_type):
    """Redis of `RATELIMIT_STORAGE_URI` refuses connections: 503, not 500.

    Defect caught: `AttemptLimits.attempt` without its `StorageError`
    mapping (the request then answers 500).
    """
    create_user()
    app = make_app(auth_type, ratelimit_storage_uri="redis://127.0.0.1:"
                   "{}/0".format(free_port()))
    client = app.test_client()
    if auth_type == "basic_auth":
        response = client.get(ME, headers=RIGHT)
    else:
        response = login(client)
    assert response.status_code == 503
    assert response.get_json() == {"error": "Service unavailable"}
    assert b"rate-limit" not in response.data


def test_the_cause_of_a_503_is_logged(make_app, caplog):
    """The answer hides the cause; the log names it for the operator."""
    create_user()
    app = make_app("session_auth", ratelimit_storage_uri="redis://"
                   "127.0.0.1:{}/0".format(free_port()))
    assert login(app.test_client()).status_code == 503
    assert "store limits unavailable: ConnectionError" in caplog.text


def test_the_account_wide_budget_is_each_accounts_own(make_app):
    """Failures against bob never spend amy's account-wide budget.

    Defect caught: the account-wide counter keyed without the user id
    (every account then shares one budget).
    """
    create_user()
    create_user("amy@hbtn.io")
    app = make_app("session_auth", login_limit_account_wide="2 per hour")
    client = app.test_client()
    assert [wrong_login(client).status_code for _ in range(3)] == \
        [401, 401, 429]
    assert wrong_login(client, "amy@hbtn.io").status_code == 401
    assert login(client, "amy@hbtn.io").status_code == 200


def test_account_names_are_keyed_by_the_secret_key():
    """Counters name accounts by an HMAC under `SECRET_KEY`: another key
    gives other names, and an email that is not valid UTF-8 text (a lone
    surrogate, from a script) still gets one.

    Defects caught: the secret key ignored, and the surrogates refused.
    """
    from api.v1.config import Settings
    email = "bob@hbtn.io"
    one = rate_limit.AttemptLimits(Settings(secret_key="k" * 32))
    two = rate_limit.AttemptLimits(Settings(secret_key="j" * 32))
    none = rate_limit.AttemptLimits(Settings())
    assert len({one.account_name(email), two.account_name(email),
                none.account_name(email)}) == 3
    assert one.account_name("BOB@hbtn.io") == one.account_name(email)
    odd = one.account_name("b\ud800b@hbtn.io")
    assert len(odd) == 32 and odd != one.account_name("b@hbtn.io")


def limited_events(caplog):
    """Return the `limited` auth event lines logged so far."""
    return [r.getMessage() for r in caplog.records
            if r.name == "api.auth" and "event=limited" in r.getMessage()]


@pytest.mark.parametrize("via", ["login", "basic"])
def test_each_refusal_logs_one_limited_event(make_app, caplog, via):
    """A 429 logs `limited` with the limit, the user, the way in, and a
    digest of the email, never the email (spec §6.4).

    Defect caught: `_refused` logging another event name or dropping a
    field (mutmut's survivors before this test).
    """
    caplog.set_level(logging.INFO, logger="api.auth")
    user = create_user()
    auth_type = "session_auth" if via == "login" else "basic_auth"
    app = make_app(auth_type, login_limit_per_account="1 per minute",
                   basic_cache_seconds=0)
    client = app.test_client()
    for _ in range(2):
        if via == "login":
            wrong_login(client)
        else:
            client.get(ME, headers=WRONG)
    assert limited_events(caplog) == [
        "auth event=limited email={} limit=per_account user={} via={}"
        .format(email_digest("bob@hbtn.io"), user.id, via)]
    assert "bob@hbtn.io" not in caplog.text


def test_the_per_address_refusal_logs_its_limit(make_app, caplog):
    """Unknown emails from one address: `limit=per_address user=-`."""
    caplog.set_level(logging.INFO, logger="api.auth")
    app = make_app("session_auth", login_limit_per_address="1 per minute")
    client = app.test_client()
    assert [wrong_login(client, "x{}@hbtn.io".format(i)).status_code
            for i in range(2)] == [404, 429]
    assert limited_events(caplog) == [
        "auth event=limited email={} limit=per_address user=- via=login"
        .format(email_digest("x1@hbtn.io"))]


def test_the_account_wide_refusal_logs_its_limit(make_app, caplog):
    """The account-wide limit names itself in its `limited` event."""
    caplog.set_level(logging.INFO, logger="api.auth")
    user = create_user()
    app = make_app("session_auth", login_limit_account_wide="1 per hour")
    client = app.test_client()
    assert [wrong_login(client).status_code for _ in range(2)] == [401, 429]
    assert limited_events(caplog) == [
        "auth event=limited email={} limit=account_wide user={} via=login"
        .format(email_digest("bob@hbtn.io"), user.id)]


def test_a_429_spends_no_other_budget(make_app, limiter_clock):
    """Refused attempts count nowhere: each window frees exactly its limit.

    3 per minute per account, 10 per hour per address. After 3 failures
    and 5 refusals for bob, and a minute, bob has exactly 3 attempts
    again; the address has spent 6 of its 10, so 4 more go through.
    Defect caught: a refusal by the per-account limit not giving back
    the per-address count it had taken (the address is then spent).
    """
    create_user()
    app = make_app("session_auth", login_limit_per_account="3 per minute",
                   login_limit_per_address="10 per hour")
    client = app.test_client()
    assert [wrong_login(client).status_code for _ in range(8)] == \
        [401] * 3 + [429] * 5
    limiter_clock.advance(61)
    assert [wrong_login(client).status_code for _ in range(4)] == \
        [401] * 3 + [429]
    others = [wrong_login(client, "u{}@hbtn.io".format(i)).status_code
              for i in range(5)]
    assert others == [404] * 4 + [429]


def test_retry_after_is_never_0_nor_before_the_window_frees(
        make_app, limiter_clock):
    """`Retry-After` is the whole seconds until the window frees, rounded up.

    The window of 1 per minute starts at the first failure (a fraction
    of a second past a whole one). Defect caught: `_retry_after` rounding
    down (`int`, `math.floor`): 29 instead of 30, and 0 at the end.
    """
    create_user()
    app = make_app("session_auth", login_limit_per_account="1 per minute")
    client = app.test_client()
    assert wrong_login(client).status_code == 401
    frees_at = limiter_clock.now + 60
    for step in (0.0, 30.5, 29.3, 0.15):
        limiter_clock.advance(step)
        response = wrong_login(client)
        assert response.status_code == 429
        assert response.get_json() == TOO_MANY
        wait = int(response.headers["Retry-After"])
        assert wait >= 1
        assert wait == math.ceil(frees_at - limiter_clock.now)
    limiter_clock.advance(frees_at - limiter_clock.now)
    assert wrong_login(client).status_code == 401


def test_retry_after_of_the_account_wide_limit(make_app, limiter_clock):
    """The account-wide window (an hour, aligned): rounded up as well.

    Defect caught: rounding down in `_hit_account_wide`.
    """
    create_user()
    app = make_app("session_auth", login_limit_account_wide="2 per hour")
    client = app.test_client()
    limiter_clock.now = 3600 * 500_000 + 1800.4
    assert [wrong_login(client).status_code for _ in range(2)] == [401] * 2
    response = wrong_login(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1800"


def test_the_right_basic_password_never_meets_429(make_app, verifications):
    """Every success gives its attempt back, cache or not.

    With the cache off, 12 requests with the right password under a
    limit of 3 per minute all pass, each with its own password check.
    Defect caught: `BasicAuth.current_user` not calling `succeeded`.
    """
    create_user()
    app = make_app("basic_auth", login_limit_per_account="3 per minute",
                   basic_cache_seconds=0)
    client = app.test_client()
    statuses = [client.get(ME, headers=RIGHT).status_code
                for _ in range(12)]
    assert statuses == [200] * 12
    assert len(verifications) == 12


def test_basic_checks_the_limit_before_the_password(make_app,
                                                    verifications):
    """Past the limit the right password is refused too, unverified.

    Defect caught: the limit counted after the password check (the
    right password then passes, and every guess costs an argon2 run).
    """
    create_user()
    app = make_app("basic_auth", login_limit_per_account="3 per minute",
                   basic_cache_seconds=0)
    client = app.test_client()
    assert [client.get(ME, headers=WRONG).status_code
            for _ in range(3)] == [403] * 3
    assert len(verifications) == 3
    response = client.get(ME, headers=RIGHT)
    assert response.status_code == 429
    assert response.get_json() == TOO_MANY
    assert int(response.headers["Retry-After"]) >= 1
    assert len(verifications) == 3
    assert client.get(ME, headers=WRONG).status_code == 429
    assert len(verifications) == 3


def test_a_cached_basic_credential_spends_no_attempt(make_app,
                                                     verifications):
    """Answers from the cache leave the whole budget to failures.

    After 10 cached successes, 3 failures still get their 3 password
    checks (403), and only the 4th is refused. Defect caught: the limit
    counted before the cache is asked (cached successes never give
    their attempt back, and bob meets 429 at his 4th request).
    """
    create_user()
    app = make_app("basic_auth", login_limit_per_account="3 per minute")
    client = app.test_client()
    statuses = [client.get(ME, headers=RIGHT).status_code
                for _ in range(10)]
    assert statuses == [200] * 10
    assert len(verifications) == 1                # then from the cache
    assert [client.get(ME, headers=WRONG).status_code
            for _ in range(4)] == [403] * 3 + [429]
    assert len(verifications) == 4
