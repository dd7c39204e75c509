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

With `METRICS_ENABLED=1` the workers count into the files of one folder
(prometheus-client's multiprocess mode), so that `/metrics` on any worker
shows the sums over every worker: `PROMETHEUS_MULTIPROC_DIR` when set
(emptied at start), else a new temporary folder, removed at exit. A dead
worker is marked so (`child_exit`); its counts stay in the sums.

With `LOG_FORMAT=json` every line on stderr is one JSON object, gunicorn's
own too, and the access log is off: the API writes one `"event":
"request"` line per answer instead (account-security §6.3).
"""
import glob
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional

pythonpath = os.path.dirname(os.path.abspath(__file__))
if pythonpath not in sys.path:
    # gunicorn applies `pythonpath` only after reading this file.
    sys.path.insert(0, pythonpath)

from api.v1.config import Settings, load_settings  # noqa: E402
_settings = load_settings()
bind = ["{}:{}".format(_settings.api_host, _settings.api_port)]
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
accesslog = None if _settings.log_format == "json" else "-"
errorlog = "-"
loglevel = "info"
daemon = False
control_socket_disable = True


def json_log_config() -> Dict[str, Any]:
    """Return gunicorn's `logconfig_dict` writing JSON lines to stderr.

    gunicorn merges only the top-level keys into its defaults, so every
    formatter, handler and logger it uses is named here.
    """
    stream = {"class": "logging.StreamHandler", "formatter": "json",
              "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.v1.logs.JsonLineFormatter"}},
        "handlers": {"console": stream, "error_console": dict(stream)},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "propagate": False,
                               "handlers": ["error_console"]},
            "gunicorn.access": {"level": "INFO", "propagate": False,
                                "handlers": ["console"]}},
        "root": {"level": "INFO", "handlers": ["console"]},
    }


if _settings.log_format == "json":
    logconfig_dict = json_log_config()


def metrics_folder(settings: Settings) -> Optional[str]:
    """Return the emptied folder of the workers' metric files, or None.

    None unless `METRICS_ENABLED`. The folder is
    `PROMETHEUS_MULTIPROC_DIR` when set (its `*.db` files, left by an
    earlier server, are deleted), else a new temporary one; the
    variable is set for the workers, which read it at start. Raises
    `OSError` when the folder cannot be made.
    """
    if not settings.metrics_enabled:
        return None
    folder = settings.prometheus_multiproc_dir
    if folder:
        os.makedirs(folder, exist_ok=True)
        for stale in glob.glob(os.path.join(folder, "*.db")):
            os.remove(stale)
    else:
        folder = tempfile.mkdtemp(prefix="session-api-metrics-")
    # Written before any worker starts (and before a preloaded app is
    # imported), the only way prometheus-client learns the folder.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


_own_metrics_folder = not _settings.prometheus_multiproc_dir
_metrics_folder = metrics_folder(_settings)


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
    from api.v1.logs import configure_logging

    settings = load_settings()
    if settings.log_format == "json":
        configure_logging(settings)
    else:
        configure_logging(settings,
                          handlers=list(server.log.error_log.handlers))
    fixes = per_process_state(settings)
    if server.cfg.workers > 1 and fixes:
        server.log.warning("%d workers share no memory: %s",
                           server.cfg.workers, "; ".join(fixes))


def child_exit(server: Any, worker: Any) -> None:
    """Mark a worker that ended as dead for the metrics' sums.

    Its counters stay in the sums (they count what happened); only its
    live gauges, if any, are dropped (prometheus-client multiprocess
    mode).
    """
    if _metrics_folder is not None:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid, _metrics_folder)


def on_exit(server: Any) -> None:
    """Remove the temporary metrics folder this server made, if any."""
    if _metrics_folder is not None and _own_metrics_folder:
        shutil.rmtree(_metrics_folder, ignore_errors=True)
