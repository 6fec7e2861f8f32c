"""The weekly summary: on the first working day of each ISO week, at the send hour, each
city's contacts get one email with their open, due-soon and overdue tasks, completion so
far and the next deadlines. It is planned into the outbox like any notification, keyed
``weekly:<city>:<year-Www>:<email>``, so a week's summary goes out once per contact
whatever the number of passes; a pass later in the week (after downtime) still sends it.
What the email says is computed at send time by ``mail.context.weekly_context``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.kinds import ContactRole, NotificationKind, Scope
from srz_tracker.notify.rows import new_notification, weekly_key
from srz_tracker.store.models import Contact, Notification
from srz_tracker.tasks.query import latest_plan
from srz_tracker.tasks.years import any_open_year
from srz_tracker.text import week_label
from srz_tracker.timing.workdays import WorkdayCalendar


def plan_weekly(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, send_hour: int | None = None
) -> int:
    """Plan this week's summaries if their time has come; returns rows added."""
    plan = latest_plan(session)
    if plan is None or not any_open_year(session):
        return 0  # once every year has closed, a summary would be about closed years
    tz = ZoneInfo(plan.timezone)
    today = local_date(now, plan.timezone)
    hour = (
        send_hour
        if send_hour is not None
        else int(plan.document.get("notifications", {}).get("send_hour", 9))
    )
    first = calendar.first_workday_of_week(today)
    send_at = dt.datetime.combine(first, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)
    if today < first or now < send_at:
        return 0
    week = week_label(today)
    added = 0
    contacts = session.scalars(
        select(Contact)
        .where(
            Contact.scope == Scope.CITY,
            Contact.role == ContactRole.CONTACT,
            Contact.active.is_(True),
        )
        .order_by(Contact.id)
    ).all()
    keys = [weekly_key(c.city_id, week, c.email) for c in contacts]
    # The exact keys through the unique index (a LIKE 'weekly:%:<week>:%' would read the
    # whole outbox history on every pass of the week).
    done_keys: set[str] = set()
    for start in range(0, len(keys), 500):
        done_keys.update(
            session.scalars(
                select(Notification.dedupe_key).where(
                    Notification.dedupe_key.in_(keys[start : start + 500])
                )
            )
        )
    for contact, key in zip(contacts, keys, strict=True):
        if key in done_keys:
            continue
        done_keys.add(key)
        session.add(
            new_notification(
                dedupe_key=key,
                kind=NotificationKind.WEEKLY_SUMMARY,
                step=week,
                city_id=contact.city_id,
                recipient_email=contact.email,
                recipient_name=contact.name,
                role=ContactRole.CONTACT,
                payload={"week": week},
                scheduled_at=send_at,
                now=now,
            )
        )
        added += 1
    session.flush()
    return added
