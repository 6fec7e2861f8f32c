"""What an outbox row is made of, in one place: its dedupe key formats and the values a
new row starts with.

Four things plan rows: the planner (task reminders and escalations, also the rows it
writes as ``skipped``), the weekly summary, the closing of a plan year (its summary to
the office) and delivery (a notice to the office that a recipient refused a message for
good). They all start a row the same way: no attempt
yet, due at the later of its scheduled time and now, the recipient's role in the
payload. The planner inserts its rows as dicts with one multi-row INSERT, so the factory
gives the values; :func:`new_notification` wraps them in an ORM object for the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from srz_tracker.kinds import NotificationStatus
from srz_tracker.store.models import Notification

# -- dedupe keys: the unique index makes a second pass at the same now add nothing -----


# The width of notifications.dedupe_key. An address may be 254 characters long, so a key
# that would not fit ends in a digest of itself instead: still unique, still the same
# for the same row, and every key that fits keeps its readable form.
_KEY_WIDTH = 255


def _fitting(key: str) -> str:
    if len(key) <= _KEY_WIDTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: _KEY_WIDTH - len(digest) - 1]}#{digest}"


def task_step_key(task_id: int, due_on: dt.date, step: str, email: str) -> str:
    """A task's step for one recipient at the task's current due date (an extension
    gives new keys, so the steps of the new date are planned again)."""
    return _fitting(f"t{task_id}:{due_on.isoformat()}:{step}:{email}")


def weekly_key(city_id: int | None, week: str, email: str) -> str:
    return _fitting(f"weekly:{city_id}:{week}:{email.lower()}")


def year_closed_key(plan_key: str, year: int, email: str) -> str:
    """One closing summary per plan year and office address."""
    return f"yearclosed:{plan_key}:{year}:{email.lower()}"


def failure_key(failed_row_id: int, email: str) -> str:
    """One notice per failed row and office address, however often delivery retries."""
    return _fitting(f"fail:{failed_row_id}:{email.lower()}")


def message_failure_key(first_row_id: int, email: str) -> str:
    """One notice per message refused as a whole (known by its first row) and office
    address."""
    return _fitting(f"failmsg:{first_row_id}:{email.lower()}")


def fresh_link_key(purpose: str, target: int | None, email: str, day: dt.date) -> str:
    """At most one fresh link a day per expired link's purpose, target and address."""
    return f"link:{purpose}:{target or 0}:{email.lower()}:{day.isoformat()}"


# -- new rows ---------------------------------------------------------------------------


def notification_values(
    *,
    dedupe_key: str,
    kind: str,
    step: str,
    recipient_email: str,
    recipient_name: str | None,
    role: str,
    scheduled_at: dt.datetime,
    now: dt.datetime,
    task_id: int | None = None,
    city_id: int | None = None,
    recipient_field: str = "to",
    status: NotificationStatus = NotificationStatus.PENDING,
    payload: dict[str, Any] | None = None,
    last_error: str | None = None,
) -> dict[str, Any]:
    """The column values of a new outbox row.

    A pending row planned late (after downtime) is due now, not in the past it was
    scheduled for; a row that is not pending keeps its scheduled time. ``payload`` adds
    to ``{"role": role}``. Every key is always present, because a multi-row INSERT needs
    the same columns in every row.
    """
    return {
        "dedupe_key": dedupe_key,
        "kind": kind,
        "step": step,
        "task_id": task_id,
        "city_id": city_id,
        "recipient_email": recipient_email.lower(),
        "recipient_name": recipient_name,
        "recipient_field": recipient_field,
        "scheduled_at": scheduled_at,
        "status": status,
        "attempts": 0,
        "next_attempt_at": max(scheduled_at, now)
        if status == NotificationStatus.PENDING
        else scheduled_at,
        "payload": {"role": role, **(payload or {})},
        "created_at": now,
        "last_error": last_error,
    }


def new_notification(**values: Any) -> Notification:
    """An outbox row as an ORM object; takes the arguments of :func:`notification_values`."""
    return Notification(**notification_values(**values))
