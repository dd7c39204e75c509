#!/usr/bin/env python3
"""DB module: the SQLite database of the authentication service."""
import os
import threading

from sqlalchemy import create_engine
from sqlalchemy.ext.declarative import declarative_base  # noqa: F401
from sqlalchemy.exc import InvalidRequestError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import NoResultFound
from sqlalchemy.orm.session import Session

from user import Base, User

DB_FILE = "a.db"
DB_FILE_MODE = 0o600


def _make_private(path: str) -> None:
    """Create the file `path` if missing, and make it mode 0600.

    The database holds live session ids and reset tokens, which are as
    good as passwords while they last, so only its owner may read it
    (OWASP Session Management Cheat Sheet). SQLite gives its journal
    files the database file's mode. Raises `OSError` if the file cannot
    be opened or changed.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, DB_FILE_MODE)
    try:
        # os.open's mode is ignored for an existing file, and fchmod
        # changes the file already opened, not whatever the path names now.
        os.fchmod(descriptor, DB_FILE_MODE)
    finally:
        os.close(descriptor)


class DB:
    """DB class: add, find and update users in `a.db`.

    The database is the file `a.db` in the current working directory, mode
    0600, and every `DB()` starts with an empty `users` table. One memoized
    session serves the process; a lock lets one thread use it at a time,
    because a SQLAlchemy `Session` must not be shared by concurrent
    threads.
    """

    def __init__(self) -> None:
        """Create the engine, then drop and recreate every table.

        `a.db` is created (or tightened) with mode 0600 before SQLAlchemy
        opens it. Raises `OSError` if that fails.
        """
        _make_private(DB_FILE)
        self._engine = create_engine("sqlite:///" + DB_FILE, echo=False)
        Base.metadata.drop_all(self._engine)
        Base.metadata.create_all(self._engine)
        self.__session = None
        self._lock = threading.RLock()

    @property
    def _session(self) -> Session:
        """Memoized session object, built on first use."""
        if self.__session is None:
            DBSession = sessionmaker(bind=self._engine,
                                     expire_on_commit=False)
            self.__session = DBSession()
        return self.__session

    def add_user(self, email: str, hashed_password: str) -> User:
        """Store a new user and return it, with its `id` filled in.

        Raises the SQLAlchemy error of a failed commit (after a rollback).
        """
        with self._lock:
            user = User(email=email, hashed_password=hashed_password)
            self._session.add(user)
            self._commit()
            return user

    def find_user_by(self, **kwargs) -> User:
        """Return the first user whose columns equal the keyword arguments.

        Raises `NoResultFound` when no user matches, and
        `InvalidRequestError` for a keyword that is not a column. A value
        of None matches NULL.
        """
        with self._lock:
            columns = User.__table__.columns.keys()
            if not kwargs or any(key not in columns for key in kwargs):
                raise InvalidRequestError(
                    "find_user_by takes column names: {}".format(
                        ", ".join(columns)))
            user = self._session.query(User).filter_by(**kwargs).first()
            self._session.commit()
            if user is None:
                raise NoResultFound("no user matches {}".format(
                    sorted(kwargs)))
            return user

    def update_user(self, user_id: int, **kwargs) -> None:
        """Set the given columns of user `user_id`, then commit.

        Raises `ValueError` for a keyword that is not a column, checked
        before anything changes, and `NoResultFound` for an unknown id.
        """
        with self._lock:
            columns = User.__table__.columns.keys()
            for key in kwargs:
                if key not in columns:
                    raise ValueError("{} is not a column of users".format(
                        key))
            user = self.find_user_by(id=user_id)
            for key, value in kwargs.items():
                setattr(user, key, value)
            self._commit()

    def consume_reset_token(self, user_id: int, reset_token: str,
                            **kwargs) -> bool:
        """Use up `reset_token` of user `user_id` and set the given columns.

        One conditional `UPDATE users SET ..., reset_token = NULL WHERE
        id = :user_id AND reset_token = :reset_token`, so of several
        concurrent callers with one token exactly one matches the row,
        even across processes sharing `a.db` (OWASP Forgot Password Cheat
        Sheet: tokens are single-use). `user_id` is an int, `reset_token`
        a str; the keyword arguments are column values. Returns True if
        the token was consumed, False if no row matched (unknown, used or
        None/empty token, unknown id); nothing changes then. Raises
        `ValueError` for a keyword that is not a column, before anything
        changes.
        """
        columns = User.__table__.columns.keys()
        for key in kwargs:
            if key not in columns:
                raise ValueError("{} is not a column of users".format(key))
        # None would compile to IS NULL and match every token-less user.
        if not isinstance(reset_token, str) or not reset_token:
            return False
        values = dict(kwargs, reset_token=None)
        with self._lock:
            try:
                matched = self._session.query(User).filter(
                    User.id == user_id, User.reset_token == reset_token
                ).update(values, synchronize_session="evaluate")
            except SQLAlchemyError:
                self._session.rollback()
                raise
            self._commit()
            return matched == 1

    def _commit(self) -> None:
        """Commit the session, rolling back if the commit fails."""
        try:
            self._session.commit()
        except SQLAlchemyError:
            self._session.rollback()
            raise
