"""Extension requests (申请延期) sent from a task's page, for the office to decide.

A request changes nothing about the task: its due date and reminders stay until the
office extends it (``srz extend``, later the office console). ``srz tasks`` and the
task's page show the pending request. Extending, completing or waiving the task settles
it in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from srz_tracker.kinds import RequestStatus
from srz_tracker.store.models import ExtensionRequest

MAX_EXTENSION_DAYS = 366


def add_request(
    session: Session,
    *,
    task_id: int,
    submission_id: int | None,
    from_due_on: dt.date,
    to_due_on: dt.date,
    reason: str,
    email: str,
    name: str | None,
    now: dt.datetime,
) -> ExtensionRequest:
    row = ExtensionRequest(
        task_id=task_id,
        submission_id=submission_id,
        from_due_on=from_due_on,
        to_due_on=to_due_on,
        reason=reason,
        requested_by=email.lower(),
        requester_name=name,
        requested_at=now,
        status=RequestStatus.PENDING,
    )
    session.add(row)
    return row


def settle_requests(
    session: Session, task_id: int, now: dt.datetime, by: str, status: RequestStatus
) -> int:
    """Mark a task's pending requests decided; returns how many."""
    result = session.execute(
        update(ExtensionRequest)
        .where(
            ExtensionRequest.task_id == task_id,
            ExtensionRequest.status == RequestStatus.PENDING,
        )
        .values(status=status, decided_at=now, decided_by=by)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def pending_requests(
    session: Session, task_ids: Iterable[int] | None = None
) -> dict[int, ExtensionRequest]:
    """The latest pending request of each of these tasks (None: of every task) that has
    one. Pending requests are few whatever the history: the office settles them."""
    out: dict[int, ExtensionRequest] = {}
    if task_ids is None:
        for row in session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.status == RequestStatus.PENDING)
            .order_by(ExtensionRequest.id)
        ):
            out[row.task_id] = row
        return out
    ids = list(task_ids)
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(ExtensionRequest)
            .where(
                ExtensionRequest.task_id.in_(ids[start : start + 500]),
                ExtensionRequest.status == RequestStatus.PENDING,
            )
            .order_by(ExtensionRequest.id)
        )
        for row in rows:
            out[row.task_id] = row
    return out


def requests_for_task(session: Session, task_id: int) -> list[ExtensionRequest]:
    return list(
        session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.task_id == task_id)
            .order_by(ExtensionRequest.id)
        )
    )
