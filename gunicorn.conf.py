#!/usr/bin/env python3
"""gunicorn settings for serving the Session API in production.

Run from the folder that should hold the JSON stores (when they are used):

    gunicorn --config /path/to/repo/gunicorn.conf.py api.v1.app:app

It binds `API_HOST`:`API_PORT` (default 0.0.0.0:5000) with 2 x CPUs + 1
sync workers, writes the access log to stdout and gunicorn's own log, with
the API's `auth event=...` lines, to stderr. It neither changes folder nor
daemonizes, and opens no control socket (several servers may share a
host); command-line flags override every setting here (`-w 4`,
`-b 127.0.0.1:8000`). A start with more than one worker and state that
lives in one process's memory logs one warning naming the fix.
"""
import logging
import multiprocessing
import os
import sys
from typing import Any, List

pythonpath = os.path.dirname(os.path.abspath(__file__))
if pythonpath not in sys.path:
    # gunicorn applies `pythonpath` only after reading this file.
    sys.path.insert(0, pythonpath)

from api.v1.config import Settings, load_settings  # noqa: E402
_settings = load_settings()
bind = ["{}:{}".format(_settings.api_host, _settings.api_port)]
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
accesslog = "-"
errorlog = "-"
loglevel = "info"
daemon = False
control_socket_disable = True


def per_process_state(settings: Settings) -> List[str]:
    """Return the fixes for state that one worker would keep to itself."""
    fixes = []
    if settings.auth_type in ("session_auth", "session_exp_auth") \
            and not settings.session_store_url:
        fixes.append("sessions of {} live in each worker's memory, set "
                     "SESSION_STORE_URL=redis://host:6379/0 (or use "
                     "AUTH_TYPE=session_db_auth)".format(settings.auth_type))
    if settings.limits_storage_uri.startswith("memory://"):
        fixes.append("login limits are counted per worker, set "
                     "RATELIMIT_STORAGE_URI=redis://host:6379/0 (or "
                     "SESSION_STORE_URL)")
    return fixes


def on_starting(server: Any) -> None:
    """Send the API's log lines to gunicorn's log; warn about memory state.

    Called once in the master before the workers start; the workers
    inherit the logging set up here.
    """
    api_log = logging.getLogger("api")
    api_log.setLevel(logging.INFO)
    api_log.propagate = False
    for handler in server.log.error_log.handlers:
        api_log.addHandler(handler)
    fixes = per_process_state(load_settings())
    if server.cfg.workers > 1 and fixes:
        server.log.warning("%d workers share no memory: %s",
                           server.cfg.workers, "; ".join(fixes))
