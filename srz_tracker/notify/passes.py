"""One pass: plan what ``now`` calls for, then deliver what is due. Also the dry run,
which does the same inside a transaction that is rolled back and sends nothing."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, extract, select
from sqlalchemy.orm import Session

from srz_tracker.config import Settings
from srz_tracker.kinds import NotificationStatus, TaskStatus
from srz_tracker.mail.context import group_rows, load_tasks, message_context
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.render import Renderer
from srz_tracker.mail.transports import Transport, make_transport
from srz_tracker.notify.delivery import DeliveryCounts, deliver
from srz_tracker.notify.planner import PlanCounts, plan_notifications
from srz_tracker.store.db import write_session
from srz_tracker.store.models import Notification, Task
from srz_tracker.timing.workdays import WorkdayCalendar

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    planned: PlanCounts = field(default_factory=PlanCounts)
    delivered: DeliveryCounts = field(default_factory=DeliveryCounts)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.planned.tasks,
            "planned": self.planned.planned,
            "skipped": self.planned.skipped,
            "no_recipients": self.planned.no_recipients,
            "weekly": self.planned.weekly,
            **self.delivered.as_dict(),
            "seconds": round(self.seconds, 3),
        }


def make_calendar(settings: Settings) -> WorkdayCalendar:
    return WorkdayCalendar(holidays=settings.holidays, workdays=settings.workdays)


def new_holder_id() -> str:
    """Who claims rows and holds the sender lease: ``host:pid:random``. The random part
    tells apart two holders in one process and a pid the system has reused; claim tokens
    are this id, a colon and more (see ``release_claims``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def run_pass(
    engine: Engine,
    settings: Settings,
    now: dt.datetime,
    transport_factory: Callable[[], Transport] | None = None,
    renderer: Renderer | None = None,
    holder: str | None = None,
    calendar: WorkdayCalendar | None = None,
    on_message: Callable[[OutgoingEmail], None] | None = None,
    weekly: bool = False,
) -> PassResult:
    """Plan and deliver. ``weekly``: also plan this week's summaries when their day has
    come (the daemon does; ``srz remind --weekly`` may)."""
    started = time.perf_counter()
    result = PassResult()
    calendar = calendar or make_calendar(settings)
    with write_session(engine) as session:
        result.planned = _plan(session, now, calendar, settings, weekly)
    result.delivered = deliver(
        engine,
        now,
        transport_factory or (lambda: make_transport(settings)),
        renderer or Renderer(settings.templates_dir),
        holder or new_holder_id(),
        settings.mail_from,
        on_message=on_message,
    )
    result.seconds = time.perf_counter() - started
    return result


def _plan(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, settings: Settings, weekly: bool
) -> PlanCounts:
    counts = plan_notifications(session, now, calendar, settings.send_hour)
    if weekly:
        from srz_tracker.notify.weekly import plan_weekly

        counts.weekly = plan_weekly(session, now, calendar, settings.send_hour)
    return counts


def dry_run(
    engine: Engine, settings: Settings, now: dt.datetime, weekly: bool = False
) -> tuple[PlanCounts, list[OutgoingEmail]]:
    """What a pass at ``now`` would send; everything is rolled back."""
    renderer = Renderer(settings.templates_dir)
    session = Session(engine, expire_on_commit=False)
    try:
        counts = _plan(session, now, make_calendar(settings), settings, weekly)
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.status == NotificationStatus.PENDING,
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.id)
        ).all()
        plans = group_rows(list(rows), settings.mail_from.rsplit("@", 1)[-1])
        tasks = load_tasks(session, {r.task_id for r in rows if r.task_id})
        emails = []
        for plan in plans:
            kind, context = message_context(session, plan, tasks, now)
            rendered = renderer.render(kind, context)
            emails.append(
                OutgoingEmail(
                    plan.message_id,
                    plan.to,
                    plan.cc,
                    rendered.subject,
                    rendered.text,
                    rendered.html,
                )
            )
        return counts, emails
    finally:
        session.rollback()
        session.close()


def task_years(engine: Engine) -> list[int]:
    """Years in which open tasks fall due (for the calendar-coverage warning)."""
    with Session(engine) as session:
        years = session.scalars(
            select(extract("year", Task.due_on)).where(Task.status == TaskStatus.OPEN).distinct()
        ).all()
    return sorted(int(y) for y in years if y is not None)


def calendar_warnings(engine: Engine, settings: Settings) -> list[str]:
    calendar = make_calendar(settings)
    missing = calendar.unknown_years(task_years(engine))
    return [
        f"{year} 年的法定节假日安排尚无数据（chinesecalendar 未收录，配置中也没有 [calendar] "
        f"覆盖），该年按周一至周五计算工作日；国务院公布安排后请在 srz.toml 的 "
        f"[calendar] holidays / workdays 中补充"
        for year in missing
    ]
