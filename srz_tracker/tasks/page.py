"""What the web pages show about tasks, as plain data: the web server renders it and
holds no query of its own."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from srz_tracker.kinds import SubmissionAction, TaskStatus
from srz_tracker.store.models import Task
from srz_tracker.tasks.access import Audience
from srz_tracker.tasks.evidence import files_for_task, may_download, size_text
from srz_tracker.tasks.ops import status_label
from srz_tracker.tasks.query import task_key
from srz_tracker.tasks.requests import pending_requests, requests_for_task
from srz_tracker.tasks.submissions import period_start, submissions_for_task


def subject_label(task: Task) -> str:
    city = task.city.name if task.city else None
    inst = task.institution
    parts = [city, inst.county if inst else None, inst.name if inst else None]
    return " ".join(p for p in parts if p) or "自治区"


def state_of(task: Task, today: dt.date) -> tuple[str, str]:
    """(label, tone) of a task's status: tone is ok, late, soon or plain."""
    days = (task.due_on - today).days
    if task.status == TaskStatus.DONE:
        return status_label(task.status), "ok"
    if task.status != TaskStatus.OPEN:
        return status_label(task.status), "plain"
    if days < 0:
        return status_label("overdue"), "late"
    return status_label(task.status), "soon" if days <= 7 else "plain"


def period_label(period: str) -> str:
    """``2023`` → 2023年度, ``2023-H1`` → 2023年上半年, ``once`` → 一次性."""
    if period == "once":
        return "一次性"
    if period.isdigit():
        return f"{period}年度"
    if period.endswith(("-H1", "-H2")):
        return f"{period[:4]}年{'上' if period.endswith('H1') else '下'}半年"
    return period


def task_summary(task: Task, today: dt.date) -> dict[str, Any]:
    """One line of a list: the task, its subject, due date and state."""
    ob = task.obligation
    label, tone = state_of(task, today)
    return {
        "id": task.id,
        "title": ob.title,
        "subject": subject_label(task),
        "period": task.period,
        "period_label": period_label(task.period),
        "due_on": task.due_on,
        "days_left": (task.due_on - today).days,
        "status": task.status,
        "open": task.status == TaskStatus.OPEN,
        "state": label,
        "tone": tone,
        "required_count": task.required_count,
        "done_count": task.done_count,
        "completed_on": task.completed_on,
    }


def task_page(session: Session, task: Task, audience: Audience, today: dt.date) -> dict[str, Any]:
    """Everything the task page shows to ``audience``."""
    ob = task.obligation
    files = files_for_task(session, task.id)
    pending = pending_requests(session, [task.id]).get(task.id)
    history = []
    by_occurrence = {o.id: o for o in task.occurrences}
    for sub in submissions_for_task(session, task.id):
        occurrence = by_occurrence.get(sub.occurrence_id) if sub.occurrence_id else None
        history.append(
            {
                "at": sub.submitted_at,
                "action": "办结" if sub.action == SubmissionAction.DONE else "申请延期",
                "name": sub.name,
                "on": sub.on_date,
                "note": sub.note,
                "reason": sub.reason,
                "revoked": bool(occurrence and occurrence.revoked_at),
                "files": [f.filename for f in files if f.submission_id == sub.id],
            }
        )
    web_occurrences = {s.occurrence_id for s in submissions_for_task(session, task.id)}
    office_records = [
        {"on": o.occurred_on, "by": o.recorded_by, "note": o.note, "revoked": bool(o.revoked_at)}
        for o in task.occurrences
        if o.id not in web_occurrences
    ]
    summary = task_summary(task, today)
    return {
        **summary,
        "key": task_key(
            ob.key,
            task.city.name if task.city else None,
            task.institution.name if task.institution else None,
            task.period,
        ),
        "clause": ob.clause,
        "quote": ob.quote,
        "actor": ob.actor or "",
        "evidence_required": ob.evidence,
        "original_due_on": task.original_due_on,
        "period_start": period_start(task),
        "extensions": [
            {"from": e.from_due_on, "to": e.to_due_on, "reason": e.reason} for e in task.extensions
        ],
        "pending_request": (
            {"to": pending.to_due_on, "reason": pending.reason, "at": pending.requested_at}
            if pending
            else None
        ),
        "requests": len(requests_for_task(session, task.id)),
        "history": history,
        "office_records": office_records,
        "files": [
            {
                "id": f.id,
                "filename": f.filename,
                "size": size_text(f.size),
                "sha256": f.sha256,
                "uploaded_at": f.uploaded_at,
                "uploader": f.uploader_name or "",
                "downloadable": may_download(f, task.id, audience.email, audience.office),
            }
            for f in files
        ],
        "default_name": audience.name or "",
        "can_act": task.status == TaskStatus.OPEN,
    }


def load_task(session: Session, task_id: int | None) -> Task | None:
    return session.get(Task, task_id) if task_id is not None else None


def plan_timezone_of(task: Task) -> str:
    return task.obligation.plan.timezone
