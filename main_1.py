#!/usr/bin/env python3
"""Checker script (Part 2 task 2): `SessionAuth.create_session`."""
from api.v1.auth.session_auth import SessionAuth

sa = SessionAuth()

print("{}: {}".format(type(sa.user_id_by_session_id),
                      sa.user_id_by_session_id))

for user_id in [None, 89, "abcde", "fghij", "abcde"]:
    session = sa.create_session(user_id)
    print("{} => {}: {}".format(user_id, session, sa.user_id_by_session_id))
