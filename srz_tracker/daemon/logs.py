"""The daemon's log: the line format, its one logger, one-line error descriptions.

Every daemon module logs as ``srz_tracker.daemon.run``: the name operators see in the
journal (and may filter on) stays what it was before the daemon was split into modules.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError

LOGGER_NAME = "srz_tracker.daemon.run"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(LOGGER_NAME)


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr (journald keeps them under systemd)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every run of every job at INFO, SQLAlchemy every statement at INFO
    # once its logger is enabled (as --verbose would do); their warnings are kept.
    for noisy in ("apscheduler", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def describe_error(exc: BaseException) -> str:
    """One line with the cause, for the log (never a password: URLs are not printed)."""
    if isinstance(exc, OperationalError):
        return f"database error: {str(exc.orig).strip() or type(exc.orig).__name__}"
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text = f"{text} (caused by {type(cause).__name__}: {str(cause).strip()})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def quiet(fn: Callable[[], Any]) -> Any:
    """Run a best-effort side call; log and swallow its error."""
    try:
        return fn()
    except Exception as exc:
        log.debug("ignored: %s", describe_error(exc))
        return None


def num(value: float) -> str:
    """Seconds as the log shows them: 60, not 60.0; 0.3, not 0.30000000000000004."""
    return f"{value:g}"
