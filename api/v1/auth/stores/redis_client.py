#!/usr/bin/env python3
"""Building Redis clients, in one place, and telling an outage from a bug.

Every Redis client of the project (the session and flow stores under
`SESSION_STORE_URL`, the `limits` storage under `RATELIMIT_STORAGE_URI`)
is made here, so that all share the same rules (account-security §8):

* `STORE_TIMEOUT_SECONDS` bounds each connect and each command;
* a refused connection is retried once at once (a pooled connection that
  died with a restart), a timeout never (a hung server would cost twice);
* `redis://`, `rediss://` and `unix://` URLs go to `redis.Redis.from_url`;
  `redis+sentinel://[:password@]host:port[,host:port...]/<service>` (as
  the `limits` library writes it) asks those Sentinels for the master of
  `<service>` with `redis.sentinel` and asks again after each lost
  connection, so a failover needs no restart (§8.4).

`classify` says what a driver error means for the store's breaker
(`models.store_health`).
"""
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (MasterDownError, OutOfMemoryError,
                              ReadOnlyError, ResponseError)
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from models.store_health import FAIL, TRIP

SENTINEL_SCHEME = "redis+sentinel"
_BUSY_REPLIES = ("BUSY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "MISCONF",
                 "LOADING", "OOM", "READONLY")
"""Reply prefixes of a Redis that is there but cannot serve now."""


def classify(exc: BaseException) -> Optional[str]:
    """Return what the redis-py error `exc` means for the breaker.

    `TRIP` for a refused or lost connection and a timeout (Sentinel's
    `MasterNotFoundError` is a connection error too), `FAIL` for a server
    that answers but cannot serve now (`READONLY` replica, `OOM` under
    `maxmemory`, `LOADING`, `MASTERDOWN`, `BUSY` script), None for any
    other error (a bug, not an outage).
    """
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)):
        return TRIP
    if isinstance(exc, (ReadOnlyError, OutOfMemoryError, BusyLoadingError,
                        MasterDownError)):
        return FAIL
    if isinstance(exc, ResponseError) and \
            str(exc).upper().startswith(_BUSY_REPLIES):
        return FAIL
    return None


def _retry() -> Retry:
    """Return the retry policy: once, at once, on a connection error."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def parse_sentinel_url(url: str) -> Tuple[List[Tuple[str, int]], str,
                                          Optional[str], int]:
    """Split a `redis+sentinel://` URL into its parts.

    Returns `(sentinels, service, password, db)`: the `(host, port)` of
    each Sentinel (port 26379 when left out), the master's service name,
    the password (of both the Sentinels and the master; None when the
    URL has none) and the db number (`?db=N`, default 0). Raises
    `ValueError` for a URL without a host or a service name.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        secret = credentials.split(":", 1)[-1]
        password = unquote(secret) or None
    sentinels = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, "26379"
        if not host or not port.isdigit():
            raise ValueError("SESSION_STORE_URL: bad Sentinel address "
                             "{!r}: write host:port".format(item))
        sentinels.append((host.strip("[]"), int(port)))
    service = parts.path.strip("/")
    if not service:
        raise ValueError("a redis+sentinel:// URL names its service after "
                         "the hosts: redis+sentinel://host:26379/mymaster")
    db = 0
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name == "db" and value.isdigit():
            db = int(value)
    return sentinels, service, password, db


def make_redis(url: str, timeout: float, decode_responses: bool = True
               ) -> redis.Redis:
    """Return a redis-py client of `url`; nothing connects yet.

    `timeout` (seconds, `STORE_TIMEOUT_SECONDS`) bounds each connect and
    command. Raises `ValueError` for a malformed URL.
    """
    common: Dict[str, Any] = {
        "socket_timeout": timeout, "socket_connect_timeout": timeout,
        "retry": _retry(), "decode_responses": decode_responses}
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        from redis.sentinel import Sentinel
        sentinels, service, password, db = parse_sentinel_url(url)
        sentinel = Sentinel(
            sentinels, sentinel_kwargs={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout, "password": password},
            password=password, db=db, **common)
        return sentinel.master_for(service, **common)
    return redis.Redis.from_url(url, health_check_interval=30, **common)


def limits_options(uri: str, timeout: float) -> Dict[str, Any]:
    """Return the `storage_from_string` options for the `limits` URI `uri`.

    The same timeouts and retry as `make_redis`; under Sentinel, reads go
    to the master too (a replica may lag behind the count just made).
    Empty for storages that are not Redis (`memory://`).
    """
    scheme = urlsplit(uri).scheme
    if not scheme.startswith(("redis", "unix")):
        return {}
    options: Dict[str, Any] = {"socket_timeout": timeout,
                               "socket_connect_timeout": timeout,
                               "retry": _retry()}
    if scheme == SENTINEL_SCHEME:
        options["use_replicas"] = False
        options["sentinel_kwargs"] = {"socket_timeout": timeout,
                                      "socket_connect_timeout": timeout}
    return options
