"""Storing a validated plan: the plan row, its cities and performance table, its
obligations. Obligations are matched by their stable id, so reloading an edited file
updates them in place and keeps every task and its history. Tasks are made from it by
``tasks.intake.load_plan``, which calls this first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from srz_tracker.kinds import PlanYearState
from srz_tracker.plan.schema import PlanSpec
from srz_tracker.store import audit
from srz_tracker.store.models import City, CityTarget, Obligation, Plan, PlanYear


@dataclass
class LoadResult:
    plan_key: str
    created_plan: bool
    obligations: int
    years: list[int]


def store_plan(
    session: Session,
    spec: PlanSpec,
    now: dt.datetime,
    actor: str,
    years: list[int] | None = None,
) -> LoadResult:
    plan = session.scalar(select(Plan).where(Plan.key == spec.key))
    created = plan is None
    previous_years = set(plan.document.get("years", [plan.year])) if plan else set()
    document = dict(spec.document)
    document["years"] = sorted(previous_years | {spec.year} | set(years or []))
    if plan is None:
        plan = Plan(
            key=spec.key,
            title=spec.title,
            year=spec.year,
            timezone=spec.timezone,
            source_path=spec.source_path,
            content_sha256=spec.sha256,
            loaded_at=now,
            document=document,
        )
        session.add(plan)
        session.flush()
    else:
        plan.title, plan.year, plan.timezone = spec.title, spec.year, spec.timezone
        plan.source_path, plan.content_sha256 = spec.source_path, spec.sha256
        plan.loaded_at, plan.document = now, document

    cities = {c.name: c for c in session.scalars(select(City))}
    targets = {
        (t.city_id, t.year): t
        for t in session.scalars(select(CityTarget).where(CityTarget.plan_id == plan.id))
    }
    for row in spec.cities:
        city = cities.get(row.name)
        if city is None:
            city = City(name=row.name, code=row.code)
            session.add(city)
            session.flush()
            cities[row.name] = city
        target = targets.get((city.id, spec.table_year))
        if target is None:
            session.add(
                CityTarget(
                    plan_id=plan.id,
                    city_id=city.id,
                    year=spec.table_year,
                    allocation_wan=row.allocation_wan,
                    target_institutions=row.institutions,
                )
            )
        else:
            target.allocation_wan, target.target_institutions = row.allocation_wan, row.institutions

    existing = {
        o.key: o for o in session.scalars(select(Obligation).where(Obligation.plan_id == plan.id))
    }
    for ob in spec.obligations:
        fields = dict(
            title=ob.title,
            clause=ob.clause,
            quote=ob.quote,
            scope=ob.scope,
            condition=ob.condition,
            recurrence=ob.recurrence.as_dict(),
            required_count=ob.required_count,
            checkpoint=ob.checkpoint,
            evidence=ob.evidence,
            actor=ob.actor,
            assumption=ob.assumption,
            policy=ob.policy,
            cities=list(ob.cities) if ob.cities else None,
        )
        row = existing.get(ob.key)
        if row is None:
            session.add(Obligation(plan_id=plan.id, key=ob.key, **fields))
        else:
            for name, value in fields.items():
                setattr(row, name, value)
    # Obligations the file no longer has keep their history; their open tasks close.
    document["retired"] = sorted(set(existing) - {ob.key for ob in spec.obligations})
    plan.document = document
    flag_modified(plan, "document")  # the same dict may have been flushed already
    session.flush()
    store_years(session, plan.id, document["years"], closes_on_rule(document))
    detail = {
        "plan": spec.key,
        "file": spec.source_path,
        "sha256": spec.sha256,
        "years": document["years"],
    }
    audit.record(session, now, actor, "load", detail)
    session.expire_all()
    return LoadResult(spec.key, created, len(spec.obligations), document["years"])


def closes_on_rule(document: dict[str, Any]) -> tuple[int, int] | None:
    """The (month, day) of the following year on which a plan year closes, if the file
    says; None: the year closes only by hand."""
    closes = (document.get("year_end") or {}).get("closes")
    if not closes:
        return None
    month, day = (int(x) for x in closes.split("-"))
    return month, day


def closes_on(year: int, rule: tuple[int, int] | None) -> dt.date | None:
    return None if rule is None else dt.date(year + 1, *rule)


def store_years(
    session: Session, plan_id: int, years: list[int], rule: tuple[int, int] | None
) -> None:
    """A row per loaded year; an open year follows the file's closing date, a closed
    one keeps the record of its close."""
    existing = {
        y.year: y for y in session.scalars(select(PlanYear).where(PlanYear.plan_id == plan_id))
    }
    for year in years:
        row = existing.get(year)
        if row is None:
            session.add(
                PlanYear(
                    plan_id=plan_id,
                    year=year,
                    state=PlanYearState.OPEN,
                    closes_on=closes_on(year, rule),
                )
            )
        elif row.state == PlanYearState.OPEN:
            row.closes_on = closes_on(year, rule)
    session.flush()


def obligation_rows(session: Session) -> list[dict[str, Any]]:
    """Every loaded obligation, as ``srz plan show`` lists it."""
    return [
        {
            "plan": plan_key,
            "id": o.key,
            "title": o.title,
            "clause": o.clause,
            "scope": o.scope,
            "condition": o.condition,
            "recurrence": o.recurrence,
            "count": o.required_count,
            "evidence": o.evidence,
            "assumption": o.assumption,
        }
        for o, plan_key in session.execute(
            select(Obligation, Plan.key).join(Plan).order_by(Plan.id, Obligation.id)
        )
    ]
