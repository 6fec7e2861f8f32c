"""A fresh link for an expired one: the page of an expired link offers it, and it goes
out through the outbox like every email (claims, retries, Message-IDs), to the address
the expired link was signed for and to no other, at most once a day per link."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.kinds import ContactRole, LinkPurpose, NotificationKind
from srz_tracker.links import Link
from srz_tracker.notify.rows import fresh_link_key, new_notification
from srz_tracker.store.models import Notification, Task
from srz_tracker.tasks.access import Audience
from srz_tracker.tasks.query import plan_timezone


@dataclass(frozen=True)
class Renewal:
    queued: bool  # False: one was already asked for today
    allowed: bool  # False: the address is no longer in the directory for it


def _allowed(session: Session, link: Link, audience: Audience) -> bool:
    if link.purpose == LinkPurpose.TASK:
        task = session.get(Task, link.target) if link.target is not None else None
        return task is not None and audience.may_open_task(task)
    if link.purpose == LinkPurpose.CITY:
        return link.target is not None and audience.may_open_city(link.target)
    return audience.known


def request_fresh_link(session: Session, link: Link, now: dt.datetime) -> Renewal:
    """Queue a ``fresh_link`` email for the address of ``link`` (expired, signature good)."""
    audience = Audience.of(session, link.email)
    if not _allowed(session, link, audience):
        return Renewal(queued=False, allowed=False)
    today = local_date(now, plan_timezone(session))
    key = fresh_link_key(link.purpose, link.target, link.email, today)
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
        return Renewal(queued=False, allowed=True)
    task = session.get(Task, link.target) if link.purpose == LinkPurpose.TASK else None
    session.add(
        new_notification(
            dedupe_key=key,
            kind=NotificationKind.FRESH_LINK,
            step="L",
            # No task_id: the row is about a link, and must go out even for a closed task.
            city_id=link.target
            if link.purpose == LinkPurpose.CITY
            else (task.city_id if task else None),
            recipient_email=link.email,
            recipient_name=audience.name,
            role=ContactRole.OFFICE if audience.office else ContactRole.CONTACT,
            payload={"purpose": str(link.purpose), "target": link.target},
            scheduled_at=now,
            now=now,
        )
    )
    session.flush()
    return Renewal(queued=True, allowed=True)
