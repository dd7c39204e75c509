#!/usr/bin/env python3
"""Configuration of the Session API, read from environment variables.

This module is the only place that reads the environment. `load_settings`
turns the variables into a frozen `Settings` value; the application factory
and the auth classes receive that value instead of calling `os.getenv`,
and the models ask it once for their default store (`DATABASE_URL`).
"""
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

AUTH_EXTENSION = "session_api.auth"
SETTINGS_EXTENSION = "session_api.settings"
LIMITER_EXTENSION = "session_api.limiter"
DEFAULT_SESSION_NAME = "_my_session_id"
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
USERS_POLICIES = ("any", "owner")


@dataclass(frozen=True)
class Settings:
    """Plain configuration values of one Session API process.

    Durations are whole seconds; 0 or a negative value switches the
    corresponding timeout off (spec §6.2, A19). URLs are None when unset.
    """

    auth_type: Optional[str] = None
    session_name: str = DEFAULT_SESSION_NAME
    session_duration: int = 0
    session_idle_timeout: int = 0
    session_cookie_secure: bool = False
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    api_host: str = "0.0.0.0"
    api_port: str = "5000"
    database_url: Optional[str] = None
    database_pool_size: int = 5
    session_store_url: Optional[str] = None
    ratelimit_storage_uri: Optional[str] = None
    login_limit_per_account: str = "5 per minute"
    login_limit_per_address: str = "20 per minute"
    users_policy: str = "any"
    allowed_origins: Tuple[str, ...] = ()
    basic_cache_seconds: int = 120
    basic_cache_size: int = 10000

    @property
    def limits_storage_uri(self) -> str:
        """Return where the rate-limit counters live (a `limits` URI).

        `RATELIMIT_STORAGE_URI` when set (`memory://` included); otherwise
        the Redis of `SESSION_STORE_URL` when there is one, so that every
        process shares the counters; otherwise `memory://`.
        """
        if self.ratelimit_storage_uri:
            return self.ratelimit_storage_uri
        if self.session_store_url and self.session_store_url.startswith(
                ("redis://", "rediss://", "unix://")):
            return self.session_store_url
        return "memory://"


def parse_int(value: Optional[str], default: int = 0) -> int:
    """Parse `value` with `int()` semantics, or return `default`.

    `None`, `""` and text that `int()` rejects (such as `"abc"`) give
    `default`; surrounding white space is allowed, so `" 60"` gives 60 and
    `"-5"` gives -5 (spec A19).
    """
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def parse_bool(value: Optional[str]) -> bool:
    """Return True when `value` is `1`, `true`, `yes` or `on` (any case)."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_origins(value: Optional[str]) -> Tuple[str, ...]:
    """Return the origins of a comma- or space-separated list, lower-cased.

    A trailing slash is dropped, so `https://app.example/` gives
    `https://app.example` (an origin has no path, RFC 6454).
    """
    items = (value or "").replace(",", " ").split()
    return tuple(item.rstrip("/").lower() for item in items)


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the Session API settings from `environ` (default `os.environ`).

    Variables: `AUTH_TYPE`, `SESSION_NAME` (default `_my_session_id`, also
    when empty, A16), `SESSION_DURATION` and `SESSION_IDLE_TIMEOUT` (seconds,
    unparsable gives 0), `SESSION_COOKIE_SECURE` (`1` sets the cookie's
    Secure flag), `MAX_CONTENT_LENGTH` (bytes, default 1 MiB), `API_HOST`,
    `API_PORT`, `DATABASE_URL` (a SQLAlchemy URL for users and sessions;
    unset: the JSON files), `DATABASE_POOL_SIZE` (connections per process,
    default 5), `SESSION_STORE_URL` (`redis://host:port/db` for sessions),
    `RATELIMIT_STORAGE_URI` (a `limits` storage URI),
    `LOGIN_LIMIT_PER_ACCOUNT` and `LOGIN_LIMIT_PER_ADDRESS` (rate limit
    strings such as `5 per minute`), `USERS_POLICY` (`owner` lets users
    reach only themselves; default `any`), `ALLOWED_ORIGINS` (origins
    trusted for cross-site writes, comma separated), `BASIC_CACHE_SECONDS`
    (lifetime of a verified Basic credential, default 120, 0 turns the
    cache off) and `BASIC_CACHE_SIZE` (entries, default 10000). Returns a
    new `Settings`; never raises.
    """
    env = os.environ if environ is None else environ
    defaults = Settings()
    max_length = parse_int(env.get("MAX_CONTENT_LENGTH"),
                           defaults.max_content_length)
    policy = (env.get("USERS_POLICY") or "").strip().lower()
    return Settings(
        auth_type=env.get("AUTH_TYPE") or None,
        session_name=env.get("SESSION_NAME") or defaults.session_name,
        session_duration=parse_int(env.get("SESSION_DURATION")),
        session_idle_timeout=parse_int(env.get("SESSION_IDLE_TIMEOUT")),
        session_cookie_secure=parse_bool(env.get("SESSION_COOKIE_SECURE")),
        max_content_length=(max_length if max_length > 0
                            else defaults.max_content_length),
        api_host=env.get("API_HOST", defaults.api_host),
        api_port=env.get("API_PORT", defaults.api_port),
        database_url=(env.get("DATABASE_URL") or "").strip() or None,
        database_pool_size=max(1, parse_int(env.get("DATABASE_POOL_SIZE"),
                                            defaults.database_pool_size)),
        session_store_url=(env.get("SESSION_STORE_URL") or "").strip()
        or None,
        ratelimit_storage_uri=(env.get("RATELIMIT_STORAGE_URI") or "")
        .strip() or None,
        login_limit_per_account=(env.get("LOGIN_LIMIT_PER_ACCOUNT")
                                 or defaults.login_limit_per_account),
        login_limit_per_address=(env.get("LOGIN_LIMIT_PER_ADDRESS")
                                 or defaults.login_limit_per_address),
        users_policy=policy if policy in USERS_POLICIES
        else defaults.users_policy,
        allowed_origins=parse_origins(env.get("ALLOWED_ORIGINS")),
        basic_cache_seconds=max(0, parse_int(
            env.get("BASIC_CACHE_SECONDS"), defaults.basic_cache_seconds)),
        basic_cache_size=max(0, parse_int(
            env.get("BASIC_CACHE_SIZE"), defaults.basic_cache_size)),
    )
