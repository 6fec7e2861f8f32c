"""The outbox as the office sees it: listing rows and putting a failed one back in the
queue. Planning rows is ``planner``; claiming and sending them is ``delivery``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.errors import NotFound, UsageError
from srz_tracker.kinds import NotificationStatus
from srz_tracker.store.models import Contact, Notification


def list_outbox(session: Session, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` rows (of one status, or all), oldest first."""
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    return [
        {
            "id": n.id,
            "task_id": n.task_id,
            "kind": n.kind,
            "step": n.step,
            "to": n.recipient_email,
            "field": n.recipient_field,
            "status": n.status,
            "scheduled_at": n.scheduled_at.isoformat(),
            "attempts": n.attempts,
            "next_attempt_at": n.next_attempt_at.isoformat(),
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            "message_id": n.message_id,
            "last_error": n.last_error,
        }
        for n in reversed(session.scalars(stmt).all())
    ]


def retry_notification(
    session: Session, notification_id: int, now: dt.datetime, whole_message: bool = False
) -> int:
    """Put a failed (or pending) row back in the queue, due at ``now``; with
    ``whole_message``, every failed row of the same message too (a message the server
    refused as a whole: ``notify.notices``). Returns how many rows were requeued.

    Each row takes its recipient's current name from the directory, so a name corrected
    by ``srz org import`` since the row was planned is the one the retry sends."""
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFound(f"没有编号为 {notification_id} 的通知（用 srz outbox 查看）")
    if row.status not in (NotificationStatus.FAILED, NotificationStatus.PENDING):
        raise UsageError(f"通知 {notification_id} 的状态为 {row.status}，只能重试失败或待发的通知")
    rows = [row]
    if whole_message and row.message_id:
        rows += session.scalars(
            select(Notification).where(
                Notification.message_id == row.message_id,
                Notification.status == NotificationStatus.FAILED,
                Notification.id != row.id,
            )
        ).all()
    for r in rows:
        r.status, r.next_attempt_at, r.attempts = NotificationStatus.PENDING, now, 0
        r.message_id, r.last_error = None, None
        names = set(
            session.scalars(
                select(Contact.name).where(Contact.email == r.recipient_email, Contact.active)
            )
        )
        if len(names) == 1:
            r.recipient_name = names.pop()
    return len(rows)
