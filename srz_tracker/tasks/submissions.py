"""What the forms of a task's page do, as core operations the web server calls.

办结 runs :func:`srz_tracker.tasks.ops.mark_done`, the operation behind ``srz done``
(counted tasks count one session, the obligation's evidence rule applies, pending
reminders are cancelled in the same transaction), with the link's address as the actor
and 网页 as the source. 申请延期 records a request for the office. Every form carries a
nonce: the same form sent twice is recorded once. Everything is checked before anything
is written; the caller's transaction commits all of it or nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.errors import NotFound, UsageError
from srz_tracker.kinds import SOURCE_WEB, SubmissionAction, TaskStatus
from srz_tracker.store import audit
from srz_tracker.store.models import Task, WebSubmission
from srz_tracker.tasks.evidence import EvidenceStore, UploadedFile, record_file
from srz_tracker.tasks.ops import mark_done, status_label
from srz_tracker.tasks.requests import MAX_EXTENSION_DAYS, add_request
from srz_tracker.text import cn_date

NAME_MAX = 64
TEXT_MAX = 2000


@dataclass(frozen=True)
class DoneForm:
    nonce: str
    on: dt.date
    name: str
    note: str | None = None
    no_evidence_reason: str | None = None
    files: list[UploadedFile] = field(default_factory=list)


@dataclass(frozen=True)
class ExtensionForm:
    nonce: str
    to: dt.date
    name: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    task_id: int
    action: SubmissionAction
    duplicate: bool  # this form had been recorded already
    status: str  # the task's status afterwards
    progress: str  # "1/2"


def period_start(task: Task) -> dt.date:
    """The first day of a task's period: 2023 and 2023-H1 → 1 January, 2023-H2 → 1 July,
    a dated period (RRULE) → 1 January of its year, once → the plan's year."""
    period = task.period
    if period[:4].isdigit():
        year = int(period[:4])
        return dt.date(year, 7, 1) if period.endswith("-H2") else dt.date(year, 1, 1)
    return dt.date(task.obligation.plan.year, 1, 1)


def _clean(text: str | None, what: str, limit: int = TEXT_MAX) -> str | None:
    value = (text or "").strip()
    if len(value) > limit:
        raise UsageError(f"{what}太长（最多 {limit} 个字）")
    return value or None


def _open_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise NotFound("该事项不存在或已被删除")
    return task


def _seen(session: Session, nonce: str) -> WebSubmission | None:
    return session.scalar(select(WebSubmission).where(WebSubmission.nonce == nonce))


def _outcome(task: Task, action: SubmissionAction, duplicate: bool) -> Outcome:
    return Outcome(
        task.id, action, duplicate, task.status, f"{task.done_count}/{task.required_count}"
    )


def _name(name: str) -> str:
    value = _clean(name, "姓名", NAME_MAX)
    if not value:
        raise UsageError("请填写办理人姓名")
    return value


def submit_done(
    session: Session,
    task_id: int,
    email: str,
    form: DoneForm,
    store: EvidenceStore,
    now: dt.datetime,
) -> Outcome:
    """办结 from a task's page. Raises UsageError (nothing written) when a field is wrong."""
    task = _open_task(session, task_id)
    if (seen := _seen(session, form.nonce)) is not None and seen.task_id == task.id:
        return _outcome(task, SubmissionAction.DONE, duplicate=True)
    if seen is not None:
        raise UsageError("表单无效，请重新打开邮件中的链接")
    today = local_date(now, task.obligation.plan.timezone)
    if task.status == TaskStatus.DONE:
        raise UsageError(f"该事项已于{cn_date(task.completed_on or today)}登记办结，无需再次提交")
    if task.status != TaskStatus.OPEN:
        raise UsageError(f"该事项的状态为“{status_label(task.status)}”，不能在网页上办结")
    if form.on > today:
        raise UsageError(f"完成日期{cn_date(form.on)}晚于今天（{cn_date(today)}），请重新填写")
    start = period_start(task)
    if form.on < start:
        raise UsageError(
            f"完成日期{cn_date(form.on)}早于本期（{task.period}）的开始日期{cn_date(start)}"
        )
    name = _name(form.name)
    note = _clean(form.note, "备注")
    reason = _clean(form.no_evidence_reason, "未附材料的原因")
    if task.obligation.evidence and not form.files and not reason:
        raise UsageError(
            f"本事项需要佐证材料（{task.obligation.evidence}）：请上传文件，或填写未附材料的原因"
        )
    evidence = (
        "网页上传：" + "、".join(f"{f.filename}（sha256 {f.sha256[:12]}）" for f in form.files)
        if form.files
        else None
    )
    for uploaded in form.files:
        store.keep(uploaded)
    result = mark_done(
        session,
        task,
        now,
        form.on,
        name,
        note,
        evidence,
        reason if not form.files else None,
        actor=email.lower(),
        source=SOURCE_WEB,
    )
    submission = WebSubmission(
        task_id=task.id,
        nonce=form.nonce,
        action=SubmissionAction.DONE,
        email=email.lower(),
        name=name,
        on_date=form.on,
        note=note,
        reason=reason,
        outcome="recorded",
        occurrence_id=result.occurrence.id if result.occurrence else None,
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    for uploaded in form.files:
        record_file(
            session,
            task_id=task.id,
            submission_id=submission.id,
            uploaded=uploaded,
            email=email,
            name=name,
            source=SOURCE_WEB,
            now=now,
        )
    session.flush()
    return _outcome(task, SubmissionAction.DONE, duplicate=False)


def submit_extension(
    session: Session, task_id: int, email: str, form: ExtensionForm, now: dt.datetime
) -> Outcome:
    """申请延期 from a task's page: recorded for the office, the due date unchanged."""
    task = _open_task(session, task_id)
    if (seen := _seen(session, form.nonce)) is not None and seen.task_id == task.id:
        return _outcome(task, SubmissionAction.EXTENSION, duplicate=True)
    if seen is not None:
        raise UsageError("表单无效，请重新打开邮件中的链接")
    if task.status != TaskStatus.OPEN:
        raise UsageError(f"该事项的状态为“{status_label(task.status)}”，无需申请延期")
    if form.to <= task.due_on:
        raise UsageError(f"申请的新期限{cn_date(form.to)}应晚于当前期限{cn_date(task.due_on)}")
    if (form.to - task.due_on).days > MAX_EXTENSION_DAYS:
        raise UsageError(f"申请的新期限{cn_date(form.to)}距当前期限超过一年，请重新填写")
    name = _name(form.name)
    reason = _clean(form.reason, "延期理由")
    if not reason:
        raise UsageError("请填写申请延期的理由")
    submission = WebSubmission(
        task_id=task.id,
        nonce=form.nonce,
        action=SubmissionAction.EXTENSION,
        email=email.lower(),
        name=name,
        on_date=form.to,
        reason=reason,
        outcome="requested",
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    add_request(
        session,
        task_id=task.id,
        submission_id=submission.id,
        from_due_on=task.due_on,
        to_due_on=form.to,
        reason=reason,
        email=email,
        name=name,
        now=now,
    )
    detail = {"to": form.to.isoformat(), "reason": reason, "by": name, "source": SOURCE_WEB}
    audit.record(session, now, email.lower(), "extension_request", detail, task_id=task.id)
    session.flush()
    return _outcome(task, SubmissionAction.EXTENSION, duplicate=False)


def submissions_for_task(session: Session, task_id: int) -> list[WebSubmission]:
    return list(
        session.scalars(
            select(WebSubmission).where(WebSubmission.task_id == task_id).order_by(WebSubmission.id)
        )
    )
