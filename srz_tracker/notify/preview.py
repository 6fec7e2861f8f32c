"""``srz preview``: the emails of a period, without writing to the database or sending
anything. Up to ``now``, what the outbox holds: the emails the daemon sent (or failed
to send, or has yet to send). After ``now``, the schedule as it would unfold if nobody
marked anything done, computed in memory from the same rules the passes use (a pass at
``now``, then one a day at the send hour)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.config import Settings
from srz_tracker.directory.contacts import Recipients
from srz_tracker.kinds import NotificationStatus, TaskStatus
from srz_tracker.mail.context import MessagePlan, group_key, group_rows, message_context
from srz_tracker.mail.render import Renderer
from srz_tracker.notify.planner import PolicyBook, outbox_rows, planned_labels, task_steps
from srz_tracker.store.models import City, Notification, Obligation, Task
from srz_tracker.timing.steps import decide
from srz_tracker.timing.workdays import WorkdayCalendar

# What a row of the preview says about its email.
SENT, FAILED, QUEUED, PLANNED = "sent", "failed", "queued", "planned"


def preview(
    session: Session,
    settings: Settings,
    calendar: WorkdayCalendar,
    start: dt.date,
    end: dt.date,
    city: str | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The emails of ``start`` .. ``end`` (local dates), oldest first; each with its
    ``status``: sent, failed or queued (from the outbox, up to ``now``) or planned (to
    come). Without ``now`` every day of the period is simulated, as if none had passed."""
    past = _from_outbox(session, settings, start, end, city, now) if now is not None else []
    return past + _simulate(session, settings, calendar, start, end, city, now)


def _from_outbox(
    session: Session,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    city: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The outbox's emails of the period up to ``now``, rendered as they went out (at
    their sending time; the task's details as they stand today)."""
    from srz_tracker.mail.context import load_tasks
    from srz_tracker.tasks.query import plan_timezone

    tz = ZoneInfo(plan_timezone(session))
    first = dt.datetime.combine(start, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    last = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    until = min(last.astimezone(dt.UTC), now + dt.timedelta(microseconds=1))
    stmt = (
        select(Notification)
        .where(
            Notification.status.in_(("sent", "failed", "pending", "sending")),
            Notification.next_attempt_at < until,
            func.coalesce(Notification.sent_at, Notification.scheduled_at) >= first,
        )
        .order_by(Notification.id)
    )
    if city:
        stmt = stmt.join(City, Notification.city_id == City.id).where(City.name == city)
    rows = [
        r
        for r in session.scalars(stmt)
        if first <= (r.sent_at or max(r.scheduled_at, r.next_attempt_at)) < until
    ]
    # One email per Message-ID (rows sent together); rows not yet claimed, the way the
    # next pass would group them. Nothing is written: the plans are built here.
    plans: dict[Any, MessagePlan] = {}
    for row in rows:
        key = row.message_id or group_key(row)
        plans.setdefault(key, MessagePlan(row.message_id or "", [])).rows.append(row)
    tasks = load_tasks(session, {r.task_id for r in rows if r.task_id})
    renderer = Renderer(settings.templates_dir)
    out = []
    for plan in plans.values():
        when = min(r.sent_at or max(r.scheduled_at, r.next_attempt_at) for r in plan.rows)
        kind, context = message_context(session, plan, tasks, when)
        statuses = {r.status for r in plan.rows}
        status = SENT if "sent" in statuses else FAILED if statuses == {"failed"} else QUEUED
        out.append(
            {
                "send_at": when.astimezone(tz).isoformat(),
                "status": status,
                "to": [a for a, _ in plan.to],
                "cc": [a for a, _ in plan.cc],
                "subject": renderer.render(kind, context).subject,
                "kind": kind,
                "task_ids": sorted({r.task_id for r in plan.rows if r.task_id}),
            }
        )
    return sorted(out, key=lambda r: r["send_at"])


def _simulate(
    session: Session,
    settings: Settings,
    calendar: WorkdayCalendar,
    start: dt.date,
    end: dt.date,
    city: str | None,
    now: dt.datetime | None,
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
    for at in _pass_instants(start, end, tz, policies.send_hour, now):
        rows: list[Notification] = []
        for task in tasks:
            policy = policies.for_obligation(task.obligation, task.obligation.plan)
            decision = decide(
                steps[task.id], planned.setdefault(task.id, set()), at, policy.final_fresh
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
            for row in outbox_rows(task, step, recipients, NotificationStatus.PENDING, at):
                row.id = next(fake_ids)
                rows.append(row)
        for plan in group_rows(rows, "preview.invalid"):
            kind, context = message_context(session, plan, by_id, at)
            rendered = renderer.render(kind, context)
            send_at = min(r.scheduled_at for r in plan.rows)
            out.append(
                {
                    "send_at": max(send_at, at).astimezone(tz).isoformat(),
                    "status": PLANNED,
                    "to": [a for a, _ in plan.to],
                    "cc": [a for a, _ in plan.cc],
                    "subject": rendered.subject,
                    "kind": kind,
                    "task_ids": sorted({r.task_id for r in plan.rows if r.task_id}),
                }
            )
    return out


def _pass_instants(
    start: dt.date, end: dt.date, tz: ZoneInfo, send_hour: int | None, now: dt.datetime | None
) -> list[dt.datetime]:
    """When the simulated passes run: at ``now`` when it falls in the period (the next
    pass catches up on what is due and not yet planned), then at the send hour of every
    later day of the period."""
    hour = send_hour if send_hour is not None else 9
    instants = []
    if now is not None and start <= now.astimezone(tz).date() <= end:
        instants.append(now)
    day = start
    while day <= end:
        at = dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)
        if now is None or at > now:
            instants.append(at)
        day += dt.timedelta(days=1)
    return instants
