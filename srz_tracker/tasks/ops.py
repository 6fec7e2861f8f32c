"""What the office does to a task: done (one occurrence at a time for counted tasks),
reopen, waive, extend. Each change writes an audit event and, when the task closes,
cancels its pending notifications in the same transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from srz_tracker import limits
from srz_tracker.errors import NotFound, UsageError
from srz_tracker.kinds import NotificationStatus, RequestStatus, TaskStatus
from srz_tracker.labels import status_label
from srz_tracker.store import audit
from srz_tracker.store.models import (
    City,
    Institution,
    Notification,
    Obligation,
    Task,
    TaskExtension,
    TaskOccurrence,
)
from srz_tracker.tasks.materialize import period_start
from srz_tracker.tasks.requests import settle_requests
from srz_tracker.tasks.subjects import REGION_KEY, REGION_LABEL, city_key, institution_key
from srz_tracker.timing.steps import NEEDS_PLANNING


def cancel_pending(session: Session, task_id: int) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.task_id == task_id, Notification.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.CANCELLED)
    )
    return result.rowcount or 0


def resolve_task(session: Session, ref: str, lock: bool = False) -> Task:
    """A task by numeric id, or by ``OBLIGATION:SUBJECT:PERIOD`` where SUBJECT is a city
    name, an institution name or ``自治区``/``region``.

    ``lock``: the caller is about to change the task; its row is locked until commit so
    that two people recording sessions of a counted task at once both count (PostgreSQL;
    SQLite write transactions are serialized from their start anyway)."""
    ref = ref.strip()
    if ref.isdigit():
        task = session.get(Task, int(ref), with_for_update=lock or None)
        if task is None:
            raise NotFound(f"没有编号为 {ref} 的任务（用 srz tasks 查看任务编号）")
        return task
    parts = ref.split(":")
    if len(parts) != 3:
        raise NotFound(
            f"无法识别的任务 {ref!r}：请用任务编号，或“义务id:对象:期间”，如 "
            "city-summary-report:南宁市:2023"
        )
    key, subject, period = (p.strip() for p in parts)
    if subject in (REGION_KEY, REGION_LABEL):
        subject_key = REGION_KEY
    else:
        city = session.scalar(select(City).where(City.name == subject))
        inst = session.scalar(select(Institution).where(Institution.name == subject))
        if city is None and inst is None:
            raise NotFound(f"未知的对象 {subject!r}（应为市名、机构名称或“自治区”）")
        subject_key = city_key(city.id) if city else institution_key(inst.id)  # type: ignore[union-attr]
    stmt = (
        select(Task)
        .join(Obligation)
        .where(Obligation.key == key, Task.subject_key == subject_key, Task.period == period)
    )
    task = session.scalar(stmt.with_for_update(of=Task) if lock else stmt)
    if task is None:
        raise NotFound(f"没有任务 {ref}")
    return task


@dataclass
class DoneResult:
    task: Task
    already_done: bool
    recorded: bool
    occurrence: TaskOccurrence | None = None


def mark_done(
    session: Session,
    task: Task,
    now: dt.datetime,
    on: dt.date,
    by: str,
    note: str | None = None,
    evidence: str | None = None,
    no_evidence_reason: str | None = None,
    *,
    actor: str | None = None,
    source: str | None = None,
) -> DoneResult:
    """Record one completion (``srz done`` and the web page's 办结 alike). ``by`` is who
    did the work; ``actor``, when it differs (the address of a web link), is who the
    audit log names, with ``source`` (网页) and ``by`` in its detail."""
    limits.require(by, limits.ACTOR, "--by")
    limits.require(note, limits.NOTE, "--note")
    limits.require(evidence, limits.EVIDENCE, "--evidence")
    limits.require(no_evidence_reason, limits.NO_EVIDENCE_REASON, "--no-evidence-reason")
    if task.status == TaskStatus.DONE:
        return DoneResult(task, already_done=True, recorded=False)
    _refuse_final(task)
    if task.status in (TaskStatus.WAIVED, TaskStatus.NOT_APPLICABLE):
        raise UsageError(
            f"任务 {task.id} 的状态为“{status_label(task.status)}”，"
            f"不能标记完成；如需完成请先 srz reopen {task.id}"
        )
    starts = period_start(task.period, task.obligation.plan.year)
    if on < starts:
        raise UsageError(
            f"任务 {task.id} 的期间 {task.period} 从 {starts} 开始，完成日期 {on} 早于期间开始："
            "请用 --on 写实际完成的日期（属于其他年度的工作请登记到那一年度的任务）"
        )
    required_evidence = task.obligation.evidence
    if required_evidence and not evidence and not no_evidence_reason:
        raise UsageError(
            f"任务 {task.id} 需要佐证材料：{required_evidence}。请用 --evidence 指定材料"
            "（文件路径、文号或受理编号），或用 --no-evidence-reason 说明缺少的原因"
        )
    occurrence = TaskOccurrence(
        task_id=task.id,
        occurred_on=on,
        recorded_by=by,
        note=note,
        evidence=evidence,
        no_evidence_reason=no_evidence_reason,
        recorded_at=now,
    )
    session.add(occurrence)
    task.done_count += 1
    task.note, task.updated_at = note or task.note, now
    task.evidence = evidence or task.evidence
    task.no_evidence_reason = no_evidence_reason or task.no_evidence_reason
    detail = {
        "on": on.isoformat(),
        "count": f"{task.done_count}/{task.required_count}",
        "note": note,
        "evidence": evidence,
        "no_evidence_reason": no_evidence_reason,
    }
    if source is not None:
        detail.update({"by": by, "source": source})
    if task.done_count >= task.required_count:
        # Sessions may be recorded out of order: the task was done when the last one was.
        last = max([on, *(o.occurred_on for o in task.occurrences if o.revoked_at is None)])
        task.status, task.completed_on, task.completed_by = TaskStatus.DONE, last, by
        task.next_step_at = None
        cancel_pending(session, task.id)
        settle_requests(session, task.id, now, actor or by, RequestStatus.CLOSED)
        audit.record(session, now, actor or by, "done", detail, task_id=task.id)
    else:
        # Progress may have caught up with the checkpoint: re-plan from the new count.
        task.next_step_at = NEEDS_PLANNING
        audit.record(session, now, actor or by, "progress", detail, task_id=task.id)
    session.flush()
    return DoneResult(task, already_done=False, recorded=True, occurrence=occurrence)


def reopen(session: Session, task: Task, now: dt.datetime, by: str) -> bool:
    limits.require(by, limits.ACTOR, "--by")
    if task.status == TaskStatus.OPEN:
        return False
    _refuse_final(task)
    previous = task.status
    task.status, task.completed_on, task.completed_by = TaskStatus.OPEN, None, None
    task.updated_at = now
    task.next_step_at = NEEDS_PLANNING
    # Reopening a done task undoes the occurrence that closed it (kept, marked revoked);
    # the earlier sessions of a counted task still count.
    if previous == TaskStatus.DONE:
        counted = [o for o in task.occurrences if o.revoked_at is None]
        if counted:
            max(counted, key=lambda o: (o.occurred_on, o.id)).revoked_at = now
        task.done_count = max(len(counted) - 1, 0)
    audit.record(session, now, by, "reopen", {"previous": previous}, task_id=task.id)
    return True


def waive(session: Session, task: Task, now: dt.datetime, by: str, reason: str) -> None:
    if not reason.strip():
        raise UsageError("豁免任务必须用 --reason 说明理由")
    limits.require(reason, limits.REASON, "--reason")
    limits.require(by, limits.ACTOR, "--by")
    if task.status == TaskStatus.DONE:
        raise UsageError(f"任务 {task.id} 已完成，不能豁免")
    _refuse_final(task)
    task.status, task.note, task.updated_at = TaskStatus.WAIVED, reason, now
    task.next_step_at = None
    cancel_pending(session, task.id)
    settle_requests(session, task.id, now, by, RequestStatus.CLOSED)
    audit.record(session, now, by, "waive", {"reason": reason}, task_id=task.id)


def extend(
    session: Session, task: Task, now: dt.datetime, by: str, to: dt.date, reason: str
) -> None:
    if not reason.strip():
        raise UsageError("延期必须用 --reason 说明理由")
    limits.require(reason, limits.REASON, "--reason")
    limits.require(by, limits.ACTOR, "--by")
    if task.status != TaskStatus.OPEN:
        raise UsageError(
            f"任务 {task.id} 的状态为“{status_label(task.status)}”，只能对未完成的任务延期"
        )
    if to <= task.due_on:
        raise UsageError(f"新期限 {to} 必须晚于当前期限 {task.due_on}")
    session.add(
        TaskExtension(
            task_id=task.id,
            from_due_on=task.due_on,
            to_due_on=to,
            reason=reason,
            extended_by=by,
            extended_at=now,
        )
    )
    detail = {"from": task.due_on.isoformat(), "to": to.isoformat(), "reason": reason}
    audit.record(session, now, by, "extend", detail, task_id=task.id)
    task.due_on, task.updated_at = to, now
    # Steps planned for the old date no longer apply; the next pass plans from the new one.
    cancel_pending(session, task.id)
    # Whatever was asked for from the web page, the office has now decided.
    settle_requests(session, task.id, now, by, RequestStatus.APPLIED)
    task.next_step_at = NEEDS_PLANNING


def _refuse_final(task: Task) -> None:
    """A task its plan year closed on stays as the year left it (the closing summary and
    the report of that year said so)."""
    if task.status == TaskStatus.OVERDUE_AT_CLOSE:
        raise UsageError(
            f"任务 {task.id} 所属的方案年度已经结束（状态“{status_label(task.status)}”），"
            "不能再更改"
        )
