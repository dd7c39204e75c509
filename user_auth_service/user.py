#!/usr/bin/env python3
"""User model module: the `users` table of the authentication service."""
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class User(Base):
    """A registered user: email, bcrypt hash, session id and reset token.

    `email` is not unique in the table; `Auth.register_user` keeps emails
    unique (contract A18).
    """

    __tablename__ = "users"

    id = Column(Integer, primary_key=True)
    email = Column(String(250), nullable=False)
    hashed_password = Column(String(250), nullable=False)
    session_id = Column(String(250), nullable=True)
    reset_token = Column(String(250), nullable=True)
