"""The weekly summary: on the first working day of each ISO week, at the send hour, each
city's contacts get one email with their open, due-soon and overdue tasks, completion so
far and the next deadlines. It is planned into the outbox like any notification, keyed
``weekly:<city>:<year-Www>:<email>``, so a week's summary goes out once per contact
whatever the number of passes; a pass later in the week (after downtime) still sends it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.clock import local_date
from srz_tracker.messages import _item
from srz_tracker.models import City, Contact, Notification, Obligation, Plan, Task
from srz_tracker.workdays import WorkdayCalendar

DUE_SOON_DAYS = 14
NEXT_DEADLINES = 5


def week_label(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _plan(session: Session) -> Plan | None:
    return session.scalar(select(Plan).order_by(Plan.id.desc()).limit(1))


def plan_weekly(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, send_hour: int | None = None
) -> int:
    """Plan this week's summaries if their time has come; returns rows added."""
    plan = _plan(session)
    if plan is None:
        return 0
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
        .where(Contact.scope == "city", Contact.role == "contact", Contact.active.is_(True))
        .order_by(Contact.id)
    ).all()
    keys = [f"weekly:{c.city_id}:{week}:{c.email.lower()}" for c in contacts]
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
            Notification(
                dedupe_key=key,
                kind="weekly_summary",
                step=week,
                task_id=None,
                city_id=contact.city_id,
                recipient_email=contact.email.lower(),
                recipient_name=contact.name,
                recipient_field="to",
                scheduled_at=send_at,
                status="pending",
                attempts=0,
                next_attempt_at=max(send_at, now),
                payload={"role": "contact", "week": week},
                created_at=now,
            )
        )
        added += 1
    session.flush()
    return added


def weekly_context(session: Session, row: Notification, now: dt.datetime) -> dict[str, Any]:
    """What the weekly_summary templates see, computed at send time."""
    plan = _plan(session)
    doc = plan.document if plan else {}
    head = doc.get("plan", {})
    today = local_date(now, head.get("timezone", "Asia/Shanghai"))
    city = session.get(City, row.city_id) if row.city_id else None
    # Only the open tasks are loaded (any year: an overdue one from last year still
    # matters); done ones are counted in SQL, this year's only, so the cost does not grow
    # with the years of history.
    open_tasks = (
        session.scalars(
            select(Task)
            .where(Task.city_id == row.city_id, Task.status == "open")
            .options(
                joinedload(Task.obligation).joinedload(Obligation.plan),
                joinedload(Task.city),
                joinedload(Task.institution),
            )
            .order_by(Task.due_on, Task.id)
        )
        .unique()
        .all()
    )
    year_start, year_end = dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
    done = (
        session.scalar(
            select(func.count(Task.id)).where(
                Task.city_id == row.city_id,
                Task.status == "done",
                Task.due_on.between(year_start, year_end),
            )
        )
        or 0
    )
    # Completion so far: this year's done tasks (early ones included) against those plus
    # every open task already due.
    due_open = sum(1 for t in open_tasks if t.due_on <= today)
    relevant = done + due_open
    open_items = [_item(t, row, today) for t in open_tasks]
    for item in open_items:
        item["kind"] = "reminder"
    overdue = [i for i in open_items if i["days_left"] < 0]
    due_soon = [i for i in open_items if 0 <= i["days_left"] <= DUE_SOON_DAYS]
    upcoming = [i for i in open_items if i["days_left"] >= 0]
    return {
        "kind": "weekly_summary",
        "plan": {
            "title": head.get("title", ""),
            "short_title": head.get("short_title") or head.get("title", ""),
            "contact_line": head.get("contact_line", ""),
            "office": head.get("office", ""),
        },
        "recipient": {"name": row.recipient_name, "email": row.recipient_email, "role": "contact"},
        "city": city.name if city else "",
        "week": (row.payload or {}).get("week", week_label(today)),
        "open_items": open_items,
        "due_soon": due_soon,
        "overdue": overdue,
        "done": done,
        "total": relevant,
        "completion_pct": round(100.0 * done / relevant, 1) if relevant else 100.0,
        "next_deadlines": upcoming[:NEXT_DEADLINES],
        "generated_at": now,
    }
