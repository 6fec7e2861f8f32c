"""Telling the office that mail did not go out: a ``delivery_failure`` row to each office
address, due at once, and never twice for the same failure (its dedupe key).

Two failures are told apart, because the office acts differently on them:

- one recipient refused for good (a 5xx to its ``RCPT TO``): one notice per failed row;
  the address is wrong, the directory must be corrected;
- the message itself refused (a 5xx after DATA or to MAIL FROM, see
  :class:`~srz_tracker.mail.outcome.MessageRejected`): one notice for the whole message,
  naming every recipient; nobody's address is at fault, the rows stay ``failed`` with
  the server's answer and go out again with ``srz outbox retry ID --message`` once the
  cause is fixed.

A notice about a notice is never queued: a failed ``delivery_failure`` row is only logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.directory.contacts import Recipients
from srz_tracker.kinds import ContactRole, NotificationKind
from srz_tracker.notify.rows import failure_key, message_failure_key, new_notification
from srz_tracker.store.models import Contact, Notification

log = logging.getLogger(__name__)


def rejection_error(code: int, answer: str, first_row_id: int) -> str:
    """The ``last_error`` of every row of a message the server refused as a whole: the
    cause in Chinese, the server's answer, and what the office can do."""
    return (
        f"邮件被服务器整体拒收：{code} {answer}（拒收的是这封邮件本身，并非收件地址有误；"
        f"排除原因后用 srz outbox retry {first_row_id} --message 重新发送）"
    )


def recipient_failed(
    session: Session,
    office: list[Contact],
    row: Notification,
    error: str,
    subject: str,
    now: dt.datetime,
) -> None:
    """Queue a notice about one recipient's failed ``row`` to each office address."""
    if row.kind == NotificationKind.DELIVERY_FAILURE:
        return
    if not office:
        log.error(
            "delivery to %s failed permanently and no office contact exists to tell",
            row.recipient_email,
        )
        return
    failure = {
        "recipient_email": row.recipient_email,
        "error": error,
        "subject": subject,
        "task_id": row.task_id,
    }
    for contact in office:
        if contact.email.lower() == row.recipient_email:
            log.error("delivery to the office address %s itself failed: %s", contact.email, error)
            continue
        _queue(session, failure_key(row.id, contact.email), contact, row.city_id, failure, now)


def message_rejected(
    session: Session, rows: list[Notification], error: str, subject: str, now: dt.datetime
) -> None:
    """Queue one notice about a message refused as a whole to each office address."""
    rows = [r for r in rows if r.kind != NotificationKind.DELIVERY_FAILURE]
    if not rows:
        return
    office = Recipients.load(session).office()
    if not office:
        log.error("a message was refused as a whole and no office contact exists to tell")
        return
    first = min(rows, key=lambda r: r.id)
    recipients = list(dict.fromkeys(r.recipient_email for r in rows))
    tasks = sorted({r.task_id for r in rows if r.task_id is not None})
    cities = {r.city_id for r in rows}
    failure = {
        "recipient_email": "、".join(recipients),
        "recipients": recipients,
        "message_level": True,
        "error": error,
        "subject": subject,
        "task_id": tasks[0] if len(tasks) == 1 else None,
    }
    city_id = cities.pop() if len(cities) == 1 else None
    for contact in office:
        key = message_failure_key(first.id, contact.email)
        _queue(session, key, contact, city_id, failure, now)


def _queue(
    session: Session,
    key: str,
    contact: Contact,
    city_id: int | None,
    failure: dict[str, Any],
    now: dt.datetime,
) -> None:
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
        return
    session.add(
        new_notification(
            dedupe_key=key,
            kind=NotificationKind.DELIVERY_FAILURE,
            step="F",
            city_id=city_id,
            recipient_email=contact.email,
            recipient_name=contact.name,
            role=ContactRole.OFFICE,
            payload={"failure": failure},
            scheduled_at=now,
            now=now,
        )
    )
