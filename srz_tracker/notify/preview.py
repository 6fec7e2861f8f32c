"""``srz preview``: the reminder schedule over a period as it would unfold if nobody
marked anything done, computed in memory from the same rules the passes use (one pass a
day at the send hour), without writing to the database or sending anything."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.config import Settings
from srz_tracker.directory.contacts import Recipients
from srz_tracker.kinds import NotificationStatus, TaskStatus
from srz_tracker.mail.context import group_rows, message_context
from srz_tracker.mail.render import Renderer
from srz_tracker.notify.planner import PolicyBook, outbox_rows, planned_labels, task_steps
from srz_tracker.store.models import City, Notification, Obligation, Task
from srz_tracker.timing.steps import decide
from srz_tracker.timing.workdays import WorkdayCalendar


def preview(
    session: Session,
    settings: Settings,
    calendar: WorkdayCalendar,
    start: dt.date,
    end: dt.date,
    city: str | None = None,
) -> list[dict[str, Any]]:
    stmt = (
        select(Task)
        .where(Task.status == TaskStatus.OPEN)
        .options(
            joinedload(Task.obligation).joinedload(Obligation.plan),
            joinedload(Task.city),
            joinedload(Task.institution),
        )
        .order_by(Task.id)
    )
    if city:
        stmt = stmt.join(City, Task.city_id == City.id).where(City.name == city)
    tasks = list(session.scalars(stmt).unique())
    if not tasks:
        return []
    by_id = {t.id: t for t in tasks}
    tz_name = tasks[0].obligation.plan.timezone
    tz = ZoneInfo(tz_name)
    policies = PolicyBook(settings.send_hour)
    contacts = Recipients.load(session)
    renderer = Renderer(settings.templates_dir)
    planned = planned_labels(session, tasks)
    steps = {t.id: task_steps(t, policies, calendar, until=end) for t in tasks}
    fake_ids = itertools.count(1)
    out: list[dict[str, Any]] = []
    day = start
    while day <= end:
        hour = policies.send_hour if policies.send_hour is not None else 9
        now = dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)
        rows: list[Notification] = []
        for task in tasks:
            policy = policies.for_obligation(task.obligation, task.obligation.plan)
            decision = decide(
                steps[task.id], planned.setdefault(task.id, set()), now, policy.final_fresh
            )
            for old in decision.skipped:
                planned[task.id].add(old.label)
            if decision.send is None:
                continue
            step = decision.send
            planned[task.id].add(step.label)
            recipients = contacts.for_step(
                step.to_role, step.cc_role, task.city_id, task.institution_id
            )
            for row in outbox_rows(task, step, recipients, NotificationStatus.PENDING, now):
                row.id = next(fake_ids)
                rows.append(row)
        for plan in group_rows(rows, "preview.invalid"):
            kind, context = message_context(session, plan, by_id, now)
            rendered = renderer.render(kind, context)
            send_at = min(r.scheduled_at for r in plan.rows)
            out.append(
                {
                    "send_at": max(send_at, now).astimezone(tz).isoformat(),
                    "to": [a for a, _ in plan.to],
                    "cc": [a for a, _ in plan.cc],
                    "subject": rendered.subject,
                    "kind": kind,
                    "task_ids": sorted({r.task_id for r in plan.rows if r.task_id}),
                }
            )
        day += dt.timedelta(days=1)
    return out
