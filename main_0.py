#!/usr/bin/env python3
"""Checker script (Part 2 task 0): create bob and print his Basic token."""
import base64

from api.v1.auth.basic_auth import BasicAuth
from models.user import User

""" Create a user test """
user_email = "bob@hbtn.io"
user_clear_pwd = "H0lbertonSchool98!"

user = User()
user.email = user_email
user.password = user_clear_pwd
print("New user: {}".format(user.id))
user.save()

basic_clear = "{}:{}".format(user_email, user_clear_pwd)
print("Basic Base64: {}".format(
    base64.b64encode(basic_clear.encode('utf-8')).decode("utf-8")))
