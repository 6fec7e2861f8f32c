"""Open tasks as an iCalendar file (RFC 5545) that Outlook, WPS and phone calendars
import: one all-day event per open task on its due date, an alarm before it, and the
clause it comes from in the description.

The UID of a task's event is ``task-<id>@srz-tracker`` whatever else changes, and its
SEQUENCE counts the task's extensions, so importing a newer export updates the events
instead of duplicating them. The icalendar package writes CRLF line endings and folds
long lines at 75 octets without splitting a UTF-8 character.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from srz_tracker.kinds import TaskStatus
from srz_tracker.store.models import Institution, Obligation, Task
from srz_tracker.tasks.query import task_key
from srz_tracker.tasks.subjects import REGION_LABEL
from srz_tracker.text import cn_date, quoted

PRODID = "-//srz-tracker//县级质检机构“双认证”任务期限//ZH"
UID_DOMAIN = "srz-tracker"
ALARM_HOUR = 9


def task_uid(task_id: int) -> str:
    return f"task-{task_id}@{UID_DOMAIN}"


def open_tasks(
    session: Session, city_id: int | None = None, institution_id: int | None = None
) -> list[Task]:
    stmt = (
        select(Task)
        .where(Task.status == TaskStatus.OPEN)
        .options(
            selectinload(Task.obligation),
            selectinload(Task.city),
            selectinload(Task.institution),
            selectinload(Task.extensions),
        )
        .order_by(Task.due_on, Task.id)
    )
    if city_id is not None:
        stmt = stmt.where(Task.city_id == city_id)
    if institution_id is not None:
        stmt = stmt.where(Task.institution_id == institution_id)
    return list(session.scalars(stmt))


def subject_label(task: Task) -> str:
    if task.institution is not None:
        return task.institution.name
    if task.city is not None:
        return task.city.name
    return REGION_LABEL


def describe(task: Task) -> str:
    ob: Obligation = task.obligation
    city = task.city.name if task.city else None
    inst = task.institution.name if task.institution else None
    key = task_key(ob.key, city, inst, task.period)
    due = cn_date(task.due_on)
    if task.due_on != task.original_due_on:
        due += f"（原期限 {cn_date(task.original_due_on)}，已延期）"
    lines = [
        f"任务 {task.id}：{ob.title}",
        f"对象：{subject_label(task)}" + (f"（{city}）" if inst and city else ""),
        f"期限：{due}",
    ]
    if task.required_count > 1:
        lines.append(f"进度：已完成 {task.done_count} 次，共需 {task.required_count} 次")
    lines.append(f"依据：《实施方案》{ob.clause}：{quoted(ob.quote)}")
    if ob.actor:
        lines.append(f"责任：{ob.actor}")
    if ob.evidence:
        lines.append(f"所需佐证：{ob.evidence}")
    if ob.assumption:
        lines.append(f"说明：{ob.assumption}")
    lines.append(f"完成后登记：srz done {task.id}（或 srz done {key}）")
    return "\n".join(lines)


def build_calendar(
    tasks: list[Task],
    now: dt.datetime,
    name: str,
    timezone: str = "Asia/Shanghai",
    alarm_days: int = 3,
) -> bytes:
    from icalendar import Alarm, Calendar, Event

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-caldesc", "由 srz-tracker 导出的未完成任务；重新导入会更新而不会重复。")
    cal.add("x-wr-timezone", timezone)
    stamp = now.astimezone(dt.UTC)
    for task in tasks:
        ob = task.obligation
        event = Event()
        event.add("uid", task_uid(task.id))
        event.add("dtstamp", stamp)
        event.add("dtstart", task.due_on)
        event.add("dtend", task.due_on + dt.timedelta(days=1))
        event.add("summary", f"{ob.title}（{subject_label(task)}）")
        event.add("description", describe(task))
        event.add("categories", ["双认证", ob.clause])
        event.add("sequence", len(task.extensions))
        event.add("last-modified", task.updated_at.astimezone(dt.UTC))
        event.add("transp", "TRANSPARENT")
        event.add("status", "CONFIRMED")
        if alarm_days >= 0:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"{alarm_days} 天后到期：{ob.title}（{subject_label(task)}）")
            # Relative to the all-day start (00:00): N days before, at 09:00.
            alarm.add("trigger", dt.timedelta(days=-alarm_days, hours=ALARM_HOUR))
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()


def export_calendar(
    session: Session,
    now: dt.datetime,
    city: str | None = None,
    institution: str | None = None,
    alarm_days: int = 3,
) -> tuple[bytes, int]:
    """The calendar bytes and the number of events, for all open tasks or one subject."""
    from srz_tracker.errors import NotFound, UsageError
    from srz_tracker.tasks.query import plan_timezone, resolve_city

    if city and institution:
        raise UsageError("--city 与 --institution 只能选一个")
    if not 0 <= alarm_days <= 60:
        raise UsageError("--alarm-days 应在 0 到 60 之间")
    city_id = inst_id = None
    label = "全部"
    if city:
        city_id, label = resolve_city(session, city).id, city.strip()
    if institution:
        inst: Any = session.scalar(select(Institution).where(Institution.name == institution))
        if inst is None:
            raise NotFound(f"未知的机构 {institution!r}（用 srz org list 查看机构）")
        inst_id, label = inst.id, inst.name
    tasks = open_tasks(session, city_id, inst_id)
    name = f"“双认证”任务期限 — {label}"
    tz = plan_timezone(session)
    return build_calendar(tasks, now, name, tz, alarm_days), len(tasks)
