"""The service's DB, as scripts use it: a None or empty token never matches.

The `Auth` layer refuses such tokens before it asks the database (see
`test_uas_units.py`); these tests hold the `DB` layer to the same rule on
its own, since scripts call it directly (issue 23). Each names the defect
it was seen to catch (planted, run, restored).
"""
import pytest

from uas import service_module


@pytest.fixture
def db(workdir):
    return service_module("db").DB()


@pytest.mark.parametrize("token", [None, ""])
def test_consuming_a_none_or_empty_token_changes_nobody(db, token):
    """Users without a token hold NULL: a None token must not match them.

    Defect caught: `DB.consume_reset_token` without its guard (the NULL
    comparison then matches and resets the first token-less user).
    """
    first = db.add_user("first@bob.com", "hash-1")
    second = db.add_user("second@bob.com", "hash-2")
    db.update_user(second.id, reset_token="a-real-token")
    for user in (first, second):
        assert db.consume_reset_token(user.id, token,
                                      hashed_password="hacked") is False
    assert db.find_user_by(id=first.id).hashed_password == "hash-1"
    assert db.find_user_by(id=second.id).hashed_password == "hash-2"
    assert db.find_user_by(id=second.id).reset_token == "a-real-token"
    assert db.consume_reset_token(second.id, "a-real-token",
                                  hashed_password="new") is True
    assert db.find_user_by(id=second.id).hashed_password == "new"
