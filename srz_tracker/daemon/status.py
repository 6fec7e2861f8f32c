"""What ``srz status`` reports: is a daemon alive, what waits in the outbox, which
configuration is in effect. Plain data (JSON-ready), computed in a few short reads.

Alive means: the lease row's holder wrote a heartbeat within two intervals and its lease
has not lapsed (a daemon that stopped cleanly released it; one that died lets it lapse
within the lease time). A ``srz run --once`` run (cron) counts as alive while its last
pass is within two intervals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from srz_tracker.clock import utcnow
from srz_tracker.config import Settings
from srz_tracker.config_safety import exposed_password_warning, plaintext_auth_problem
from srz_tracker.daemon.lease import current_lease
from srz_tracker.kinds import NotificationStatus, TaskStatus
from srz_tracker.store.db import read_session
from srz_tracker.store.models import DaemonLease, Notification, Task
from srz_tracker.timing.steps import NEEDS_PLANNING

EXIT_NOT_ALIVE = 3
FAILED_SHOWN = 20


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _age(now: dt.datetime, value: dt.datetime | None) -> float | None:
    return round((now - value).total_seconds(), 1) if value else None


def daemon_state(lease: DaemonLease | None, now: dt.datetime) -> tuple[str, bool]:
    """(state, alive): state is never, active, once, stopped, expired or stale."""
    if lease is None or lease.holder is None:
        return "never", False
    interval = dt.timedelta(seconds=lease.interval_seconds or 900)
    counts = lease.last_pass_counts or {}
    if counts.get("mode") == "once" and lease.last_pass_at:
        return "once", now - lease.last_pass_at <= 2 * interval
    fresh = lease.heartbeat_at is not None and now - lease.heartbeat_at <= 2 * interval
    if lease.expires_at is None or lease.expires_at <= now:
        # release() writes the same instant as heartbeat and expiry; a lease that
        # lapsed by itself (the daemon died) ran out after its last heartbeat.
        released = lease.expires_at is not None and lease.expires_at == lease.heartbeat_at
        return ("stopped" if released else "expired"), False
    return ("active", True) if fresh else ("stale", False)


def daemon_status(engine: Engine, now: dt.datetime) -> dict[str, Any]:
    lease = current_lease(engine)
    state, alive = daemon_state(lease, now)
    if lease is None:
        return {"alive": False, "state": state}
    return {
        "alive": alive,
        "state": state,
        "holder": lease.holder,
        "host": lease.host,
        "pid": lease.pid,
        "acquired_at": _iso(lease.acquired_at),
        "heartbeat_at": _iso(lease.heartbeat_at),
        "heartbeat_age_seconds": _age(now, lease.heartbeat_at),
        "lease_expires_at": _iso(lease.expires_at),
        "interval_seconds": lease.interval_seconds,
        "last_pass_at": _iso(lease.last_pass_at),
        "last_pass_seconds": (
            round(lease.last_pass_seconds, 3) if lease.last_pass_seconds is not None else None
        ),
        "last_pass_counts": lease.last_pass_counts,
    }


def outbox_status(engine: Engine) -> dict[str, Any]:
    with read_session(engine) as session:
        counts: dict[str, int] = dict.fromkeys(NotificationStatus, 0)
        for status, count in session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        ):
            counts[status] = count
        next_send = session.scalar(
            select(func.min(Notification.next_attempt_at)).where(
                Notification.status == NotificationStatus.PENDING
            )
        )
        # NEEDS_PLANNING is a marker ("the next pass works this task out"), not a time.
        next_step = session.scalar(
            select(func.min(Task.next_step_at)).where(
                Task.status == TaskStatus.OPEN, Task.next_step_at > NEEDS_PLANNING
            )
        )
        unplanned = session.scalar(
            select(func.count(Task.id)).where(
                Task.status == TaskStatus.OPEN, Task.next_step_at == NEEDS_PLANNING
            )
        )
        failed = session.scalars(
            select(Notification)
            .where(Notification.status == NotificationStatus.FAILED)
            .order_by(Notification.id.desc())
            .limit(FAILED_SHOWN)
        ).all()
        failed_rows = [
            {
                "id": n.id,
                "task_id": n.task_id,
                "kind": n.kind,
                "to": n.recipient_email,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "message_id": n.message_id,
            }
            for n in failed
        ]
    return {
        "counts": counts,
        "next_pending_send_at": _iso(next_send),
        "next_task_step_at": _iso(next_step),
        "tasks_to_plan": unplanned or 0,
        "failed": failed_rows,
    }


def collect_status(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> dict:
    """``warnings``: worth a look (a password file others can read, a year without
    holiday data); ``problems``: the configuration stops sending (``srz run`` refuses)."""
    from srz_tracker.notify.passes import startup_warnings

    now = now or utcnow()
    exposed = exposed_password_warning(settings)
    problem = plaintext_auth_problem(settings)
    return {
        "now": _iso(now),
        "daemon": daemon_status(engine, now),
        "outbox": outbox_status(engine),
        "config": settings.describe(),
        "warnings": [*([exposed] if exposed else []), *startup_warnings(engine, settings, now)],
        "problems": [problem] if problem else [],
    }
