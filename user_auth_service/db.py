#!/usr/bin/env python3
"""DB module: the database of the authentication service.

By default the SQLite file `a.db` in the working directory, wiped by every
`DB()` (the contract). `DB(url)` keeps its users in the database of a
SQLAlchemy URL instead (`UAS_DATABASE_URL`): SQLite by absolute path, or
PostgreSQL through the pinned psycopg 3 driver.
"""
import logging
import os
import threading
from typing import Any, Dict, Optional

from sqlalchemy import (Column, Float, Integer, String, Table, create_engine,
                        inspect, select)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (ArgumentError, IntegrityError,
                            InvalidRequestError, SQLAlchemyError)
from sqlalchemy.ext.declarative import declarative_base  # noqa: F401
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import NoResultFound
from sqlalchemy.orm.session import Session

from user import Base, User

DB_FILE = "a.db"
EMAIL_INDEX = "uas_users_email_unique"
"""The unique index a kept database gets on `users.email`."""
DB_FILE_MODE = 0o600
SECRET_COLUMNS = ("session_id", "reset_token")
# When each session id and reset token was issued (Unix seconds, UTC),
# beside `users`: task 0 prints the columns of `users`, which stay as given.
ISSUE_TIMES = Table(
    "issue_times", Base.metadata,
    Column("user_id", Integer, primary_key=True),
    Column("secret", String(32), primary_key=True),
    Column("issued_at", Float, nullable=False))


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


def engine_url(database_url: str) -> str:
    """Return the SQLAlchemy URL to connect with for `database_url`.

    `postgres://` and `postgresql://` use the pinned psycopg 3 driver
    (`postgresql+psycopg://`; SQLAlchemy's own default is psycopg2, not
    installed). A SQLite URL must name a file by absolute path
    (`sqlite:////abs/path.db`), so that the users do not depend on the
    working directory. Raises `ValueError` for any other URL.
    """
    for plain in ("postgres://", "postgresql://"):
        if database_url.startswith(plain):
            database_url = "postgresql+psycopg://" + database_url[len(plain):]
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ValueError("UAS_DATABASE_URL is not a SQLAlchemy URL") \
            from None
    backend = url.get_backend_name()
    if backend == "sqlite" and not os.path.isabs(url.database or ""):
        raise ValueError("UAS_DATABASE_URL must name a SQLite file by "
                         "absolute path: sqlite:////path/to/users.db")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError("UAS_DATABASE_URL must be a postgresql:// or "
                         "sqlite://// URL, not {!r}".format(backend))
    return database_url


class DuplicateEmail(ValueError):
    """The database refused a second user with the same email."""


def _open_kept(database_url: str) -> Engine:
    """Return an engine on `database_url` with its tables ready.

    Creates the missing tables and never drops one. A SQLite file is
    created with mode 0600. Raises `ValueError` for an unusable URL or a
    `users` table of another shape (for example the Session API's), and
    the SQLAlchemy error when the database cannot be reached.
    """
    url = make_url(engine_url(database_url))
    # Statement parameters hold bcrypt hashes and reset tokens: keep them
    # out of exception texts, which end up in logs.
    options: Dict[str, Any] = {"echo": False, "hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        _make_private(url.database)
    else:
        options.update(pool_pre_ping=True,
                       connect_args={"connect_timeout": 3})
    engine = create_engine(url, **options)
    try:
        Base.metadata.create_all(engine)
    except SQLAlchemyError:
        # Another process starting at the same time may have won the
        # CREATE TABLE race; a second pass finds its tables.
        Base.metadata.create_all(engine)
    found = {column["name"] for column in inspect(engine).get_columns(
        User.__tablename__)}
    if not set(User.__table__.columns.keys()) <= found:
        engine.dispose()
        raise ValueError("UAS_DATABASE_URL: its users table has other "
                         "columns; give the service a database of its own")
    _unique_emails(engine)
    return engine


def _unique_emails(engine: Engine) -> None:
    """Give a kept `users` table a unique index on `email`, if it can.

    Several processes may share a kept database, and the check-then-insert
    of `register_user` only excludes the threads of one process; the
    index makes the database refuse the second row. Task 0's model keeps
    `unique` off (its columns are printed), so the index lives beside it.
    A table that already holds a duplicate keeps working without it (a
    warning says so).
    """
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (email)".format(
                    EMAIL_INDEX, User.__tablename__))
    except SQLAlchemyError as exc:
        logging.getLogger(__name__).warning(
            "users.email is not unique in UAS_DATABASE_URL (%s); duplicate "
            "registrations from several processes are not refused",
            type(exc).__name__)


class DB:
    """DB class: add, find and update users.

    `DB()` is the contract's database: the file `a.db` in the current
    working directory, mode 0600, with an empty `users` table at every
    `DB()`. `DB(url)` keeps the users of the database at `url` (see
    `engine_url`). One memoized session serves the process; a lock lets
    one thread use it at a time, because a SQLAlchemy `Session` must not
    be shared by concurrent threads.
    """

    def __init__(self, url: Optional[str] = None) -> None:
        """Open the database: `a.db` wiped, or the one at `url` kept.

        `url` is None for the contract's `a.db` (created or tightened with
        mode 0600, then every table dropped and recreated), or a SQLAlchemy
        URL whose tables are created when missing. Raises `OSError` if the
        SQLite file cannot be opened, `ValueError` for an unusable `url`,
        and the SQLAlchemy error when its database cannot be reached.
        """
        if url is None:
            _make_private(DB_FILE)
            self._engine = create_engine("sqlite:///" + DB_FILE, echo=False,
                                         hide_parameters=True)
            Base.metadata.drop_all(self._engine)
            Base.metadata.create_all(self._engine)
        else:
            self._engine = _open_kept(url)
        # PostgreSQL keeps bcrypt's bytes out of a VARCHAR and cannot
        # store NUL; SQLite takes both (contract A5).
        self._text_only = self._engine.dialect.name != "sqlite"
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

        `hashed_password` may be bytes (bcrypt's output); on PostgreSQL it
        is stored as text. Raises `ValueError` for an email with NUL on
        PostgreSQL, `DuplicateEmail` (a `ValueError`) when a kept
        database's unique index refuses the email (another process
        registered it meanwhile), and the SQLAlchemy error of a failed
        commit (after a rollback).
        """
        if self._text_only and "\x00" in (email or ""):
            raise ValueError("an email cannot hold NUL characters")
        values = self._storable({"hashed_password": hashed_password})
        with self._lock:
            user = User(email=email, **values)
            self._session.add(user)
            try:
                self._commit()
            except IntegrityError as exc:
                raise DuplicateEmail(
                    "User {} already exists".format(email)) from exc
            return user

    def find_user_by(self, **kwargs) -> User:
        """Return the first user whose columns equal the keyword arguments.

        Raises `NoResultFound` when no user matches, and
        `InvalidRequestError` for a keyword that is not a column. A value
        of None matches NULL. The row is read afresh, so a change made by
        another process sharing the database is seen.
        """
        with self._lock:
            columns = User.__table__.columns.keys()
            if not kwargs or any(key not in columns for key in kwargs):
                raise InvalidRequestError(
                    "find_user_by takes column names: {}".format(
                        ", ".join(columns)))
            if self._text_only and any(
                    isinstance(value, str) and "\x00" in value
                    for value in kwargs.values()):
                raise NoResultFound("no stored value holds NUL")
            user = self._session.query(User).filter_by(
                **kwargs).populate_existing().first()
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
            _check_columns(kwargs)
            user = self.find_user_by(id=user_id)
            for key, value in self._storable(kwargs).items():
                setattr(user, key, value)
            self._commit()

    def update_user_if(self, user_id: int, expected: Dict[str, Any],
                       **kwargs) -> bool:
        """Set the given columns of user `user_id` if `expected` still holds.

        One conditional `UPDATE users SET ... WHERE id = :user_id AND
        <column> = <value>...` for the columns of `expected` (values as
        stored), so a change committed meanwhile by any process makes it
        match nothing. Returns True if the row was updated. Raises
        `ValueError` for a name that is not a column, before anything
        changes.
        """
        _check_columns(kwargs)
        _check_columns(expected)
        values = self._storable(kwargs)
        with self._lock:
            try:
                matched = self._session.query(User).filter(
                    User.id == user_id, *[
                        getattr(User, column) == value
                        for column, value in expected.items()]
                ).update(values, synchronize_session="evaluate")
            except SQLAlchemyError:
                self._session.rollback()
                raise
            self._commit()
            return matched == 1

    def note_issued(self, user_id: int, column: str,
                    issued_at: float) -> None:
        """Record that secret `column` of user `user_id` is new as of now.

        `column` is `session_id` or `reset_token`, `issued_at` the time in
        Unix seconds (UTC), kept in the table `issue_times` beside `users`
        for `issued_at_of`. Call it just before storing the new secret with
        `update_user`: the old secret may then look new for a moment, but
        the new one never looks old. Raises `ValueError` for another
        column.
        """
        if column not in SECRET_COLUMNS:
            raise ValueError("{} is not a secret column".format(column))
        insert = (postgresql_insert if self._text_only else sqlite_insert)
        upsert = insert(ISSUE_TIMES).values(
            user_id=user_id, secret=column, issued_at=issued_at
        ).on_conflict_do_update(index_elements=["user_id", "secret"],
                                set_={"issued_at": issued_at})
        with self._lock:
            try:
                self._session.execute(upsert)
            except SQLAlchemyError:
                self._session.rollback()
                raise
            self._commit()

    def issued_at_of(self, user_id: int, column: str) -> Optional[float]:
        """Return when `column` of user `user_id` was last issued, or None.

        The time is Unix seconds (UTC) as `note_issued` stored it; None
        when no issue of this secret was ever noted.
        """
        query = select(ISSUE_TIMES.c.issued_at).where(
            ISSUE_TIMES.c.user_id == user_id, ISSUE_TIMES.c.secret == column)
        with self._lock:
            try:
                issued_at = self._session.execute(query).scalar()
            finally:
                self._session.commit()
            return issued_at

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
        _check_columns(kwargs)
        # None would compile to IS NULL and match every token-less user.
        if not isinstance(reset_token, str) or not reset_token:
            return False
        return self.update_user_if(user_id, {"reset_token": reset_token},
                                   **dict(kwargs, reset_token=None))

    def _commit(self) -> None:
        """Commit the session, rolling back if the commit fails."""
        try:
            self._session.commit()
        except SQLAlchemyError:
            self._session.rollback()
            raise

    def _storable(self, values: Dict[str, Any]) -> Dict[str, Any]:
        """Return `values` with bytes turned into text where needed.

        bcrypt's hash is ASCII bytes; PostgreSQL refuses bytes in a
        VARCHAR, so there it is stored as text. `valid_login` encodes a
        str hash back (contract A5).
        """
        if not self._text_only:
            return values
        return {key: value.decode("ascii") if isinstance(value, bytes)
                else value for key, value in values.items()}


def _check_columns(values: Dict[str, Any]) -> None:
    """Raise `ValueError` if a key of `values` is not a column of users."""
    columns = User.__table__.columns.keys()
    for key in values:
        if key not in columns:
            raise ValueError("{} is not a column of users".format(key))
