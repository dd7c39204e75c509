"""Session records without a credential epoch count as epoch 0.

Records written before epochs existed, copied by `import-json`, or put in
the contract's dictionary by a script carry no epoch. They keep working
until the first password change or revocation of their user, which ends
them like any other session (account-security §1.3), on every store.
"""
import hashlib
import subprocess
import sys
import uuid

from api.v1.auth.session_auth import SessionAuth
from models.user import User
from models.user_session import UserSession
from conftest import create_user, server_env

ME = "/api/v1/users/me"
FORBIDDEN = {"error": "Forbidden"}


def me(app, session_id):
    """GET /users/me with `session_id` as the cookie: (status, body)."""
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id)
    answer = client.get(ME)
    return answer.status_code, answer.get_json()


def change_password_as_a_script(email):
    """Set a new password the way a checker script does."""
    user = User.search({"email": email})[0]
    user.password = "An0ther!pass"
    user.save()


def change_password_in_another_process(email, database_url):
    """Set a new password from a script run as a separate process."""
    code = ("from models.user import User\n"
            "u = User.search({'email': %r})[0]\n"
            "u.password = 'An0ther!pass'\nu.save()\n" % email)
    env = {"DATABASE_URL": database_url} if database_url else {}
    result = subprocess.run([sys.executable, "-c", code],
                            env=server_env(env), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_old_session_row_ends_at_a_scripts_password_change(
        make_app, database):
    user = create_user()
    app = make_app("session_db_auth", session_duration=0)
    session_id = str(uuid.uuid4())
    legacy = UserSession(user_id=user.id, session_id=session_id)
    assert legacy._auth_epoch is None
    legacy.save()
    assert me(app, session_id) == (200, User.get(user.id).to_json())

    change_password_in_another_process(user.email, database)

    assert me(app, session_id) == (403, FORBIDDEN)


def test_a_session_a_script_put_in_the_dictionary_ends_too(make_app):
    user = create_user()
    app = make_app("session_auth")
    session_id = str(uuid.uuid4())
    SessionAuth.user_id_by_session_id[session_id] = user.id
    assert me(app, session_id)[0] == 200

    User.get(user.id).revoke_sessions()

    assert me(app, session_id) == (403, FORBIDDEN)


def test_an_old_redis_hash_ends_at_a_password_change(make_app, redis_url):
    import redis
    user = create_user()
    app = make_app("session_auth", session_store_url=redis_url)
    session_id = str(uuid.uuid4())
    handle = hashlib.sha256(session_id.encode()).hexdigest()
    client = redis.Redis.from_url(redis_url)
    client.hset("sa:s:" + handle, mapping={"uid": user.id})
    client.close()
    assert me(app, session_id)[0] == 200

    change_password_as_a_script(user.email)

    assert me(app, session_id) == (403, FORBIDDEN)
