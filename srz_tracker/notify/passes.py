"""One pass: close the plan years whose closing date has passed, plan what ``now`` calls
for, then deliver what is due. Also the dry run, which does the same inside a
transaction that is rolled back and sends nothing, and the warnings of ``srz status``,
``srz run`` and ``srz remind``."""

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
from srz_tracker.links import link_signer
from srz_tracker.mail.context import group_rows, load_tasks
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.render import Renderer
from srz_tracker.mail.transports import Transport, make_transport
from srz_tracker.notify.compose import compose
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
            "years_closed": self.planned.years_closed,
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
    # Before anything is planned: a base URL without a secret stops the pass here.
    links = link_signer(settings)
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
        links=links,
        max_items=settings.digest_max_items,
    )
    result.seconds = time.perf_counter() - started
    return result


def _plan(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, settings: Settings, weekly: bool
) -> PlanCounts:
    from srz_tracker.notify.closing import close_due

    # First: a year that closes now has nothing more planned for its tasks.
    closed = close_due(session, now, calendar, settings.send_hour)
    counts = plan_notifications(session, now, calendar, settings.send_hour)
    counts.years_closed = len(closed)
    if weekly:
        from srz_tracker.notify.weekly import plan_weekly

        counts.weekly = plan_weekly(session, now, calendar, settings.send_hour)
    return counts


def dry_run(
    engine: Engine, settings: Settings, now: dt.datetime, weekly: bool = False
) -> tuple[PlanCounts, list[OutgoingEmail]]:
    """What a pass at ``now`` would send; everything is rolled back."""
    renderer = Renderer(settings.templates_dir)
    links = link_signer(settings)
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
            composed = compose(
                session, plan, tasks, now, renderer, settings.digest_max_items, links
            )
            rendered = composed.rendered
            emails.append(
                OutgoingEmail(
                    plan.message_id,
                    plan.to,
                    plan.cc,
                    rendered.subject,
                    rendered.text,
                    rendered.html,
                    date=now,
                    attachments=composed.attachments,
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


# From October the State Council's next-year holiday schedule (usually published in
# November) decides the reminders before January deadlines and the escalations after
# December ones.
NEXT_YEAR_FROM_MONTH = 10


def startup_warnings(engine: Engine, settings: Settings, now: dt.datetime) -> list[str]:
    """What ``srz status`` and ``srz run`` warn about: calendars the workday rules lack
    (the years of open tasks, and next year from October), and loaded plan years that
    have all ended."""
    from srz_tracker.clock import local_date
    from srz_tracker.tasks.query import plan_timezone
    from srz_tracker.tasks.years import ended_years_warning

    open_years = task_years(engine)
    warnings = calendar_warnings(engine, settings)
    with Session(engine) as session:
        today = local_date(now, plan_timezone(session))
        ended = ended_years_warning(session, now)
    following = today.year + 1
    if (
        today.month >= NEXT_YEAR_FROM_MONTH
        and following not in open_years  # then calendar_warnings has said it
        and not make_calendar(settings).year_known(following)
    ):
        warnings.append(
            f"{following} 年的法定节假日安排尚无数据（chinesecalendar 未收录）：跨年的提醒和"
            "督办将按周一至周五计算工作日；国务院公布安排后请升级 chinesecalendar，或在 "
            "srz.toml 的 [calendar] holidays / workdays 中补充"
        )
    if ended:
        warnings.append(ended)
    return warnings
