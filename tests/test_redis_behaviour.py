"""Redis sessions: a touch never revives, uses keep sessions and index alive.

Redis counts key lifetimes in its own (real) time while the tests move the
project's clock by hand; `age` moves Redis's view of time by the same
amount, by shortening every key's remaining lifetime (a key whose
lifetime runs out is deleted, as Redis would).
"""
import hashlib

import pytest
import redis
from flask import Flask, request

from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.auth.stores.base import SessionRecord
from api.v1.auth.stores.redis_store import RedisSessionStore
from api.v1.config import Settings
from conftest import create_user, login, session_id_of

ME = "/api/v1/users/me"
SESSIONS = "/api/v1/auth_session/sessions"


def age(db, seconds):
    """Make every key of `db` `seconds` older, as if Redis time passed."""
    for key in list(db.scan_iter()):
        left = db.pttl(key)
        if left < 0:
            continue
        if left <= seconds * 1000:
            db.delete(key)
        else:
            db.pexpire(key, left - seconds * 1000)


def key_of(session_id):
    """Return the Redis key of the session hash of `session_id`."""
    return "sa:s:" + hashlib.sha256(session_id.encode()).hexdigest()


def test_a_touch_after_another_process_deleted_the_session(redis_url,
                                                           frozen_clock):
    """The touch read the session, then another process logged it out.

    Defect caught: the touch script without its `EXISTS` check (it then
    writes `seen` into a new hash: a session with no user, and the
    index entry comes back too).
    """
    store = RedisSessionStore(redis_url)
    other = RedisSessionStore(redis_url)          # another process
    now = frozen_clock()
    assert store.create("sid", SessionRecord("u1", now, now, 0),
                        now.replace(hour=13))
    read = store.get("sid")
    assert other.delete("sid")
    store.get = lambda session_id: read           # read before the delete
    assert store.touch("sid", now, now.replace(hour=14)) is False
    db = redis.Redis.from_url(redis_url)
    assert db.exists(key_of("sid")) == 0
    assert db.zcard("sa:u:u1") == 0
    assert other.get("sid") is None


def test_a_request_racing_a_logout_does_not_revive_the_session(
        redis_url, frozen_clock):
    """As above, through the auth class a server uses.

    Defect caught: the same (the cookie then names a session again).
    """
    auth = SessionExpAuth(Settings(session_duration=3600,
                                   session_idle_timeout=60,
                                   session_store_url=redis_url))
    user_id = create_user("amy@hbtn.io").id
    session_id = auth.create_session(user_id)
    frozen_clock.advance(30)                      # due for a touch
    real_get = auth.store.get
    calls = []

    def read_then_logged_out_elsewhere(sid):
        """The request's reads; a logout lands just after the second."""
        record = real_get(sid)
        calls.append(sid)
        if len(calls) == 2:                       # the touch's own read
            RedisSessionStore(redis_url).delete(sid)
        return record
    auth.store.get = read_then_logged_out_elsewhere
    with Flask(__name__).test_request_context(
            headers={"Cookie": "_my_session_id=" + session_id}):
        auth.current_user(request)
    auth.store.get = real_get
    assert len(calls) == 2
    assert auth.store.get(session_id) is None
    assert auth.user_id_for_session_id(session_id) is None
    assert redis.Redis.from_url(redis_url).exists(key_of(session_id)) == 0


@pytest.mark.parametrize("duration", [0, 3600])
def test_a_session_in_use_outlives_the_idle_timeout_from_its_login(
        make_app, redis_url, frozen_clock, duration):
    """Used every 60 s under a 100 s idle timeout, for 10 minutes.

    The session stays valid and listed, its key's expiry is re-armed at
    each use, and the user's index lives at least as long as the
    session. Defects caught: the touch script not re-arming the key's
    `PEXPIRE` (the session ends 100 s after login), and not extending
    the index's expiry (the listing loses the session, then the index).
    """
    create_user()
    app = make_app("session_exp_auth", session_store_url=redis_url,
                   session_duration=duration, session_idle_timeout=100)
    client = app.test_client()
    session_id = session_id_of(login(client))
    db = redis.Redis.from_url(redis_url)
    index = [k for k in db.scan_iter("sa:u:*")]
    assert len(index) == 1
    for _ in range(10):
        frozen_clock.advance(60)
        age(db, 60)
        response = client.get(ME)
        assert response.status_code == 200
        assert db.pttl(index[0]) >= db.pttl(key_of(session_id)) > 90_000
        listed = client.get(SESSIONS).get_json()
        assert [s["current"] for s in listed] == [True]
    frozen_clock.advance(101)
    age(db, 101)
    assert client.get(ME).status_code == 403      # unused: idle timeout
