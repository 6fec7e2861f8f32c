"""What the office feeds in (a plan file, a directory, a certification change), stored
and then turned into tasks. The stores below know nothing of tasks; this is the one
place that runs ``materialize`` after them, so every way in (CLI, demo, bench) keeps
the tasks in step with what was stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from srz_tracker.directory import store as directory_store
from srz_tracker.directory.read import DirectoryData
from srz_tracker.errors import Problem
from srz_tracker.plan import store as plan_store
from srz_tracker.plan.schema import PlanSpec
from srz_tracker.store.models import Institution
from srz_tracker.tasks.materialize import MaterializeResult, materialize


def load_plan(
    session: Session,
    spec: PlanSpec,
    now: dt.datetime,
    actor: str,
    years: list[int] | None = None,
) -> tuple[plan_store.LoadResult, MaterializeResult]:
    loaded = plan_store.store_plan(session, spec, now, actor, years)
    return loaded, materialize(session, now, actor)


def import_directory(
    session: Session,
    data: DirectoryData,
    now: dt.datetime,
    actor: str,
    file_problems: list[Problem] | None = None,
) -> tuple[directory_store.ImportResult, MaterializeResult]:
    imported = directory_store.import_directory(session, data, now, actor, file_problems)
    return imported, materialize(session, now, actor)


def set_certification(
    session: Session,
    institution_name: str,
    kind: str,
    status: str,
    on: dt.date | None,
    number: str | None,
    now: dt.datetime,
    actor: str,
) -> MaterializeResult:
    directory_store.set_certification(
        session, institution_name, kind, status, on, number, now, actor
    )
    return materialize(session, now, actor)


def has_institutions(session: Session) -> bool:
    return bool(session.scalar(select(func.count(Institution.id))))
