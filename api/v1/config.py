#!/usr/bin/env python3
"""Configuration of the Session API: the settings and the app's slots.

The environment is read in one place, `models.settings` (below both `api`
and `models`, so that scripts importing only the models find the same
store as the server). This module re-exports `Settings` and
`load_settings` for the API and names the `app.extensions` slots where
the application factory keeps what it built.
"""
from models.settings import (ACCOUNT_POLICIES, DEFAULT_MAX_CONTENT_LENGTH,
                             DEFAULT_SESSION_NAME, NOTICE_KINDS,
                             USERS_POLICIES, Settings, load_settings,
                             parse_bool, parse_int, parse_origins)

AUTH_EXTENSION = "session_api.auth"
SETTINGS_EXTENSION = "session_api.settings"
LIMITER_EXTENSION = "session_api.limiter"
FLOW_EXTENSION = "session_api.flow"
MAIL_EXTENSION = "session_api.mail"

__all__ = ["ACCOUNT_POLICIES", "AUTH_EXTENSION", "DEFAULT_MAX_CONTENT_LENGTH",
           "DEFAULT_SESSION_NAME", "FLOW_EXTENSION", "LIMITER_EXTENSION",
           "MAIL_EXTENSION",
           "NOTICE_KINDS", "SETTINGS_EXTENSION", "Settings",
           "USERS_POLICIES", "load_settings", "parse_bool", "parse_int",
           "parse_origins"]
