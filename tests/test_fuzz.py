"""Property-based test: arbitrary requests never crash and never write.

Each example runs in a folder of its own, with nothing held in memory from
the examples before it.
"""
import os
import string
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (basic_header, create_user, login, reset_state,
                      session_id_of)

pytestmark = pytest.mark.quick_hashing

PRINTABLE = st.text(alphabet=string.printable.strip("\r\n\x0b\x0c") + " ",
                    max_size=60)
PATHS = st.one_of(
    st.sampled_from([
        "/api/v1/status", "/api/v1/stats", "/api/v1/users",
        "/api/v1/users/me", "/api/v1/users/{id}", "/api/v1/users/nope",
        "/api/v1/auth_session/login", "/api/v1/auth_session/logout",
        "/api/v1/unauthorized", "/api/v1/forbidden", "/"]),
    st.text(alphabet=string.ascii_letters + string.digits + "/._-%~*",
            max_size=40).map(lambda p: "/api/v1/" + p))
BODIES = st.one_of(
    st.none(), st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["email", "password", "first_name",
                                     "last_name"]),
                    st.one_of(st.none(), st.integers(), PRINTABLE,
                              st.lists(st.integers(), max_size=2)),
                    max_size=4))
WRITES = {"POST", "PUT", "DELETE"}


def request_kwargs(body, content_type, headers):
    """Turn a generated body into test-client keyword arguments."""
    kwargs = {"headers": headers}
    if isinstance(body, dict):
        if content_type == "application/json":
            kwargs["json"] = body
        else:
            kwargs["data"] = {k: str(v) for k, v in body.items()}
    elif body is not None:
        kwargs["data"] = body
        if content_type:
            kwargs["content_type"] = content_type
    return kwargs


@pytest.mark.parametrize("auth_type", [None, "basic_auth", "session_db_auth"])
@settings(deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       path=PATHS, body=BODIES,
       content_type=st.sampled_from([None, "application/json",
                                     "application/x-www-form-urlencoded",
                                     "text/plain", "multipart/form-data"]),
       authorization=st.one_of(st.none(), PRINTABLE,
                               PRINTABLE.map(lambda t: "Basic " + t),
                               st.just("valid")),
       cookie=st.one_of(st.none(), PRINTABLE, st.just("valid")))
def test_arbitrary_requests(make_app, workdir, auth_type, method, path,
                            body, content_type, authorization, cookie):
    folder = tempfile.mkdtemp(dir=str(workdir))
    os.chdir(folder)
    reset_state()
    bob = create_user("bob@hbtn.io", "H0lberton!")
    app = make_app(auth_type)
    client = app.test_client()
    headers = {}
    authorised = auth_type is None
    if authorization == "valid":
        headers.update(basic_header("bob@hbtn.io", "H0lberton!"))
        authorised = authorised or auth_type == "basic_auth"
    elif authorization is not None:
        headers["Authorization"] = authorization
    if cookie == "valid" and auth_type == "session_db_auth":
        client.set_cookie("_my_session_id",
                          session_id_of(login(app.test_client())))
        authorised = True
    elif cookie not in (None, "valid"):
        client.set_cookie("_my_session_id", cookie)
    store = os.path.join(folder, ".db_User.json")
    before = open(store, "rb").read()
    response = client.open(path.replace("{id}", bob.id), method=method,
                           **request_kwargs(body, content_type, headers))
    assert response.status_code < 500, response.data
    if response.status_code != 405 and response.status_code >= 400:
        assert response.is_json
    if open(store, "rb").read() != before:
        assert authorised and method in WRITES
        assert response.status_code in (200, 201)
