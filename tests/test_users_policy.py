"""`USERS_POLICY=owner`: users reach only themselves, administrators all."""
import pytest

from models.user import User
from conftest import basic_header, create_user

FORBIDDEN = {"error": "Forbidden"}
BOB = ("bob@hbtn.io", "Bob-pwd!")
ANN = ("ann@hbtn.io", "Ann-pwd!")

pytestmark = [pytest.mark.usefixtures("database"),
              pytest.mark.quick_hashing]


def answer(response):
    return response.status_code, response.get_json()


@pytest.fixture
def people():
    return create_user(*BOB), create_user(*ANN)


def test_the_default_policy_is_the_contract(make_app, people):
    bob, ann = people
    client = make_app("basic_auth").test_client()
    headers = basic_header(*BOB)
    assert len(client.get("/api/v1/users", headers=headers).get_json()) == 2
    assert answer(client.get("/api/v1/users/" + ann.id,
                             headers=headers)) == (200, ann.to_json())
    assert client.get("/api/v1/stats", headers=headers).status_code == 200


def test_owner_policy_limits_a_user_to_itself(make_app, people):
    bob, ann = people
    client = make_app("basic_auth", users_policy="owner").test_client()
    headers = basic_header(*BOB)
    assert answer(client.get("/api/v1/users", headers=headers)) == (
        200, [bob.to_json()])
    assert answer(client.get("/api/v1/users/" + bob.id,
                             headers=headers)) == (200, bob.to_json())
    assert answer(client.get("/api/v1/users/me", headers=headers)) == (
        200, bob.to_json())
    for method, kwargs in (("get", {}), ("put", {"json": {"first_name": "X"}}),
                           ("delete", {})):
        for target in (ann.id, "no-such-id"):
            response = getattr(client, method)("/api/v1/users/" + target,
                                               headers=headers, **kwargs)
            assert answer(response) == (403, FORBIDDEN), (method, target)
    assert User.get(ann.id).first_name is None
    assert answer(client.get("/api/v1/stats", headers=headers)) == (
        403, FORBIDDEN)
    response = client.put("/api/v1/users/" + bob.id, headers=headers,
                          json={"first_name": "Bobby"})
    assert answer(response)[0] == 200
    assert client.delete("/api/v1/users/" + bob.id,
                         headers=headers).status_code == 200


def test_an_administrator_reaches_everyone(make_app, people):
    bob, ann = people
    bob.is_admin = True
    bob.save()
    client = make_app("basic_auth", users_policy="owner").test_client()
    headers = basic_header(*BOB)
    assert len(client.get("/api/v1/users", headers=headers).get_json()) == 2
    assert answer(client.get("/api/v1/users/" + ann.id,
                             headers=headers)) == (200, ann.to_json())
    assert answer(client.get("/api/v1/users/no-such-id",
                             headers=headers)) == (404, {"error":
                                                         "Not found"})
    assert answer(client.get("/api/v1/stats", headers=headers)) == (
        200, {"users": 2})


def test_a_grant_takes_effect_at_the_next_request(make_app, people):
    bob, ann = people
    client = make_app("basic_auth", users_policy="owner").test_client()
    headers = basic_header(*BOB)
    assert client.get("/api/v1/stats", headers=headers).status_code == 403
    granted = User.get(bob.id)
    granted.is_admin = True
    granted.save()
    assert client.get("/api/v1/stats", headers=headers).status_code == 200
    granted.is_admin = False
    granted.save()
    assert client.get("/api/v1/stats", headers=headers).status_code == 403


def test_the_flag_never_shows_nor_comes_from_the_api(make_app, people):
    bob, ann = people
    bob.is_admin = True
    bob.save()
    client = make_app("basic_auth", users_policy="owner").test_client()
    for listed in client.get("/api/v1/users",
                             headers=basic_header(*BOB)).get_json():
        assert set(listed) == {"id", "email", "first_name", "last_name",
                               "created_at", "updated_at"}
    response = client.put("/api/v1/users/" + ann.id,
                          headers=basic_header(*ANN),
                          json={"is_admin": True, "_is_admin": True})
    assert response.status_code == 200
    assert User.get(ann.id).is_admin is False
    created = client.post("/api/v1/users", headers=basic_header(*ANN),
                          json={"email": "eve@x.io", "password": "p",
                                "_is_admin": True, "is_admin": True})
    assert created.status_code == 201
    assert User.get(created.get_json()["id"]).is_admin is False


def test_the_policy_comes_from_the_environment():
    from api.v1.config import load_settings
    assert load_settings({"USERS_POLICY": "owner"}).users_policy == "owner"
    assert load_settings({"USERS_POLICY": " Owner "}).users_policy == "owner"
    assert load_settings({}).users_policy == "any"
    assert load_settings({"USERS_POLICY": "bogus"}).users_policy == "any"
