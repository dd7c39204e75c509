"""Side-by-side measurements of the session paths, printed as ratios.

Run from the repository root: `.venv/bin/python bench/bench_sessions.py`
(optional: `--sessions N`, default 10000). It works in a temporary folder.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from api.v1.app import create_app  # noqa: E402
from api.v1.config import Settings  # noqa: E402
from models import base  # noqa: E402
from models.user import User  # noqa: E402
from models.user_session import UserSession  # noqa: E402


def per_call(func, repeat):
    """Return the median seconds per call of `func` over `repeat` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed_sessions(count, user_id):
    """Store `count` session records in one write; return their ids."""
    sessions = [UserSession(user_id=user_id, session_id=str(uuid.uuid4()))
                for _ in range(count)]
    UserSession.save_many(sessions)
    base._TABLES.clear()
    return [s.session_id for s in sessions]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10000)
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="bench-sessions-"))

    user = User(email="bench@x.io")
    user.password = "bench-pwd"
    user.save()
    ids = seed_sessions(args.sessions, user.id)
    target = ids[len(ids) // 2]
    UserSession.count()                       # load once, outside timing

    indexed = per_call(lambda: UserSession.search({"session_id": target}),
                       200)
    scanned = per_call(lambda: [s for s in UserSession.all()
                                if s.session_id == target], 50)
    print("session lookup among {} sessions".format(args.sessions))
    print("  indexed search  {:10.1f} us".format(indexed * 1e6))
    print("  full scan       {:10.1f} us".format(scanned * 1e6))
    print("  ratio scan / indexed: {:.0f}x".format(scanned / indexed))

    timings = {}
    for auth_type in ("session_auth", "session_db_auth"):
        app = create_app(Settings(auth_type=auth_type))
        auth = app.extensions["session_api.auth"]
        client = app.test_client()
        client.set_cookie("_my_session_id", auth.create_session(user.id))
        assert client.get("/api/v1/users/me").status_code == 200
        timings[auth_type] = per_call(
            lambda: client.get("/api/v1/users/me"), 300)
    print("GET /api/v1/users/me through the guard ({} stored sessions)"
          .format(args.sessions + 1))
    for auth_type, seconds in timings.items():
        print("  {:16s} {:10.1f} us".format(auth_type, seconds * 1e6))
    print("  ratio file / memory store: {:.2f}x".format(
        timings["session_db_auth"] / timings["session_auth"]))

    app = create_app(Settings(auth_type="session_auth",
                              login_limit_per_account="1000000 per minute",
                              login_limit_per_address="1000000 per minute"))
    client = app.test_client()

    def attempt(email):
        return lambda: client.post("/api/v1/auth_session/login", data={
            "email": email, "password": "wrong-pwd"})
    known = per_call(attempt("bench@x.io"), 40)
    unknown = per_call(attempt("nobody@x.io"), 40)
    print("failed login, argon2id m=19 MiB t=2 p=1")
    print("  known email, wrong password {:8.2f} ms".format(known * 1e3))
    print("  unknown email               {:8.2f} ms".format(unknown * 1e3))
    print("  ratio unknown / known: {:.2f}".format(unknown / known))


if __name__ == "__main__":
    main()
