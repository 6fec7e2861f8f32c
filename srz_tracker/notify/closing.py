"""Closing plan years, and the office's one closing summary of each.

A year with a closing date (``year_end.closes`` of the plan file, the local date
``closes_on``) closes in the first pass at or after the send hour of the first workday
after that date, so the summary arrives in office hours; ``srz plan close`` closes one
by hand. Either way ``tasks.years.close_year`` makes its open tasks final, and each
office contact gets one ``year_closed`` row, keyed ``yearclosed:<plan>:<year>:<email>``
(sent once, whatever the passes). The summary is computed when it is sent, from the
report of that year, which it carries as XLSX.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.directory.contacts import Recipients
from srz_tracker.kinds import ContactRole, NotificationKind, PlanYearState
from srz_tracker.mail.mime import Attachment
from srz_tracker.notify.rows import new_notification, year_closed_key
from srz_tracker.report.build import build_report
from srz_tracker.report.xlsx import xlsx_bytes
from srz_tracker.store.models import Notification, Plan, PlanYear
from srz_tracker.tasks import years
from srz_tracker.timing.workdays import WorkdayCalendar

log = logging.getLogger(__name__)

REGION_OWN = "自治区本级"


@dataclass
class ClosedYear:
    closed: years.Closed
    summaries: int  # closing summary rows planned (one per office contact)


def closing_instant(
    closes_on: dt.date, calendar: WorkdayCalendar, hour: int, tz: str
) -> dt.datetime:
    """When a year whose last day is ``closes_on`` closes: the send hour of the next
    workday."""
    day = calendar.on_or_after(closes_on + dt.timedelta(days=1))
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def _send_hour(plan: Plan, send_hour: int | None) -> int:
    if send_hour is not None:
        return send_hour
    return int(plan.document.get("notifications", {}).get("send_hour", 9))


def close_due(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, send_hour: int | None = None
) -> list[ClosedYear]:
    """Close every open year whose closing instant has come (a few rows: plan years)."""
    due = session.scalars(
        select(PlanYear)
        .where(PlanYear.state == PlanYearState.OPEN, PlanYear.closes_on.is_not(None))
        .order_by(PlanYear.closes_on, PlanYear.id)
    ).all()
    done = []
    for plan_year in due:
        plan = plan_year.plan
        assert plan_year.closes_on is not None
        at = closing_instant(
            plan_year.closes_on, calendar, _send_hour(plan, send_hour), plan.timezone
        )
        if now >= at:
            done.append(close_plan_year(session, plan_year, now, "system", how="date"))
    return done


def close_plan_year(
    session: Session, plan_year: PlanYear, now: dt.datetime, actor: str, how: str
) -> ClosedYear:
    """Close the year (see ``tasks.years.close_year``) and plan its summary."""
    plan_key, year = plan_year.plan.key, plan_year.year
    closed = years.close_year(session, plan_year, now, actor, how)
    summaries = plan_summary(session, plan_key, year, now, actor, how)
    log.info(
        "plan %s year %d closed (%s): %d open task(s) final, %d summary row(s)",
        plan_key,
        year,
        how,
        closed.tasks,
        summaries,
    )
    return ClosedYear(closed, summaries)


def plan_summary(
    session: Session, plan_key: str, year: int, now: dt.datetime, actor: str, how: str
) -> int:
    """One ``year_closed`` row per office address; returns rows added."""
    office = Recipients.load(session).office()
    if not office:
        log.warning(
            "plan %s year %d closed, but no office contact to send its summary to", plan_key, year
        )
        return 0
    added = 0
    for contact in office:
        key = year_closed_key(plan_key, year, contact.email)
        if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            continue
        session.add(
            new_notification(
                dedupe_key=key,
                kind=NotificationKind.YEAR_CLOSED,
                step=f"Y{year}",
                recipient_email=contact.email,
                recipient_name=contact.name,
                role=ContactRole.OFFICE,
                payload={"plan": plan_key, "year": year, "how": how, "closed_by": actor},
                scheduled_at=now,
                now=now,
            )
        )
        added += 1
    session.flush()
    return added


def _row(name: str, completion: dict[str, Any], timeliness: dict[str, Any]) -> dict[str, Any]:
    tasks, done = int(completion["tasks"]), int(completion["done"])
    return {
        "city": name,
        "tasks": tasks,
        "done": done,
        "on_time": int(timeliness["on_time"]),
        "late": int(timeliness["late"]),
        "not_done": tasks - done,
        "completion": round(100.0 * done / tasks, 1) if tasks else None,
    }


def summary_context(
    session: Session, row: Notification, now: dt.datetime
) -> tuple[dict[str, Any], tuple[Attachment, ...]]:
    """What the year_closed templates see, and the year's report as XLSX."""
    payload = row.payload or {}
    plan_key, year = payload["plan"], int(payload["year"])
    plan = session.scalar(select(Plan).where(Plan.key == plan_key))
    if plan is None:
        raise LookupError(f"plan {plan_key} of a closing summary is gone")
    plan_year = session.scalar(
        select(PlanYear).where(PlanYear.plan_id == plan.id, PlanYear.year == year)
    )
    report = build_report(session, now, year=year, plan_key=plan_key)
    cities = [_row(c["city"], c["completion"], c["timeliness"]) for c in report["cities"]]
    region = report["region"]
    total = _row("全区合计", region["completion"], region["timeliness"])
    own = {k: total[k] - sum(c[k] for c in cities) for k in ("tasks", "done", "on_time", "late")}
    region_own = None
    if own["tasks"]:
        region_own = _row(
            REGION_OWN,
            {"tasks": own["tasks"], "done": own["done"]},
            {"on_time": own["on_time"], "late": own["late"]},
        )
    head = plan.document.get("plan", {})
    closed_at = plan_year.closed_at if plan_year and plan_year.closed_at else now
    name = f"{report['title']}.xlsx"
    context = {
        "kind": NotificationKind.YEAR_CLOSED.value,
        "plan": {
            "title": head.get("title", plan.title),
            "short_title": head.get("short_title") or head.get("title", plan.title),
            "contact_line": head.get("contact_line", ""),
            "office": head.get("office", ""),
        },
        "recipient": {
            "name": row.recipient_name,
            "email": row.recipient_email,
            "role": ContactRole.OFFICE,
        },
        "year": year,
        "closed_on": local_date(closed_at, plan.timezone),
        "closes_on": plan_year.closes_on if plan_year else None,
        "how": payload.get("how", "date"),
        "closed_by": payload.get("closed_by", "system"),
        "cities": cities,
        "region_own": region_own,
        "total": total,
        "attachment_name": name,
        "generated_at": now,
    }
    return context, (Attachment(name, xlsx_bytes(report)),)
