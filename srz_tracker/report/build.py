"""The performance self-assessment (绩效自评): one row per city laid out like the plan's
performance table (绩效目标表), and a region row. Every figure comes from the records
(tasks, directory, certifications, expenses, indicators, incidents) at ``now``.

Definitions (Y is the report year, *today* the local date of ``now`` in the plan's
timezone, *the year is over* when today > Y-12-31):

- Tasks of Y: tasks of the plan whose original due date falls in Y. Tasks ``waived`` or
  ``not_applicable`` are left out of every task figure; tasks ``overdue_at_close`` (still
  open when the plan year closed) count as not done and overdue.
- **Due so far**: tasks of Y whose due date in force (after extensions) is ≤ today.
- **Task completion rate** (项目任务完成率) = tasks due so far that are done ÷ tasks due
  so far. A task done early counts once it falls due.
- **Timeliness rate** (工作开展及时率) = done tasks whose completion date ≤ their due
  date in force ÷ done tasks of Y.
- **Quality** (“双认证”工作开展质量): the city's participating institutions are split by
  ``is_dual_certified`` at min(today, Y-12-31). Dual-certified ones pass when their
  ``proficiency-test`` task of Y is done; the others when their
  ``certification-application`` task of Y is done with a completion date ≤ Y-11-30
  (“12 月之前”). An institution whose task is waived is left out. Rate = (passed +
  applied) ÷ (dual-certified + others).
- **Cost** = expenses recorded for Y (the year of the spending date); target ≤ allocation.
- **Participating institutions** = institutions of the city with ``participating``.
- **Dual-certified share** (region row, goal of 二、任务目标) = dual-certified ÷ all
  county institutions in the directory, at min(today, Y-12-31).

Verdicts: 达标 (met), 未达标 (not met), 进行中 (in progress), — (nothing to judge).
进行中 means the year is not over and the target is not yet missed for good:

- completion: 达标 once every task of Y is done; after the year, 达标 iff rate = 100 %.
- timeliness: 未达标 as soon as one task was done after its due date; 达标 once every
  task of Y is done on time; after the year, 达标 iff rate = 100 %.
- quality: 达标 once every institution passed/applied; 未达标 after Y-11-30 if an
  institution that is not dual-certified had not applied by then, and after the year
  if one did not pass the proficiency test.
- cost: 未达标 as soon as spending exceeds the allocation; after the year, 达标 — but
  while nothing at all is recorded, 进行中 until the plan year is closed (final).
- incidents: 未达标 from the first major incident; after the year with none, 达标.
- satisfaction: judged when recorded (≥ target 达标, else 未达标); unrecorded after the
  year, 未达标.
- participating institutions, dual-certified share: 达标 once reached; after the year,
  未达标 if not.

The region row carries totals (region-level tasks included; satisfaction is the mean
of the recorded cities) and its verdict for each indicator is the worst among the
cities (and, for tasks, the region's own tasks): 未达标 if any, else 进行中 if any,
else 达标 — the region meets a target when every city meets its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.errors import NotFound
from srz_tracker.report.facts import (
    CityFacts,
    default_year,
    institution_facts,
    money_facts,
    pick_plan,
    task_counts,
    year_is_final,
)
from srz_tracker.report.rules import (
    NO_DATA,
    VERDICT_LABELS,
    Period,
    QualityCounts,
    TaskCounts,
    judge_at_least,
    judge_completion,
    judge_cost,
    judge_incidents,
    judge_quality,
    judge_satisfaction,
    judge_timeliness,
    measure,
    rate,
    worst,
)
from srz_tracker.store.models import City, CityTarget, Plan

INDICATORS = (
    "institutions",
    "quality",
    "completion",
    "timeliness",
    "cost",
    "incidents",
    "satisfaction",
)
DEFAULT_TARGETS = {
    "region_dual_certified_share": 0.80,
    "task_completion_rate": 1.0,
    "timeliness_rate": 1.0,
    "major_incidents": 0,
    "satisfaction": 0.90,
}
REGION_LABEL = "全区合计"
_CENT = Decimal("0.01")


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(_CENT))


# --- the report -----------------------------------------------------------------------


def build_report(
    session: Session,
    now: dt.datetime,
    year: int | None = None,
    city: str | None = None,
    plan_key: str | None = None,
) -> dict[str, Any]:
    """The whole report as plain data: numbers as numbers, rates as fractions 0..1.
    ``plan_key``: that plan's report (default: the plan that covers the year)."""
    from srz_tracker.tasks.query import plan_timezone, resolve_city

    tz = plan_timezone(session)
    today = local_date(now, tz)
    only = resolve_city(session, city) if city else None
    p = Period(year if year is not None else default_year(session, today), today)
    if plan_key is None:
        plan = pick_plan(session, p.year)
    else:
        plan = session.scalar(select(Plan).where(Plan.key == plan_key))
    if plan is None:
        raise NotFound("还没有加载实施方案（srz plan load 或 srz demo）")
    p = replace(p, final=year_is_final(session, plan, p.year))
    targets = {**DEFAULT_TARGETS, **plan.document.get("targets", {})}
    table = {
        t.city_id: t
        for t in session.scalars(
            select(CityTarget).where(CityTarget.plan_id == plan.id, CityTarget.year == p.year)
        )
    }
    counts = task_counts(session, plan.id, p)
    if not table and not counts:
        years = "、".join(str(y) for y in plan.document.get("years", [plan.year]))
        raise NotFound(
            f"{p.year} 年既没有任务也没有绩效目标表（已有年度：{years}），请用 --year 指定"
        )
    facts: dict[int, CityFacts] = {}
    for c in session.scalars(select(City).order_by(City.id)):
        if c.id in table or c.id in counts:
            t = table.get(c.id)
            facts[c.id] = CityFacts(
                c.name,
                allocation=t.allocation_wan if t else None,
                target_institutions=t.target_institutions if t else None,
                tasks=counts.get(c.id),
            )
    institution_facts(session, plan.id, p, facts)
    money_facts(session, p, facts)
    all_rows = [city_row(f, p, targets) for f in facts.values()]
    region = region_row(all_rows, list(facts.values()), counts.get(None), p, targets)
    rows = [r for r in all_rows if only is None or r["city"] == only.name]
    short = plan.document.get("plan", {}).get("short_title") or plan.title
    return {
        "title": f"{p.year}年{short}项目绩效自评表",
        "plan": plan.key,
        "plan_title": plan.title,
        "year": p.year,
        "now": now.isoformat(),
        "today": today.isoformat(),
        "timezone": tz,
        "year_over": p.over,
        "reference_date": p.reference.isoformat(),
        "targets": targets,
        "cities": rows,
        "region": region if only is None else None,
    }


def city_row(f: CityFacts, p: Period, targets: dict[str, Any]) -> dict[str, Any]:
    tc, qc = f.tasks or TaskCounts(), f.quality or QualityCounts()
    satisfaction_target = float(targets["satisfaction"])
    allowed = int(targets["major_incidents"])
    return {
        "city": f.name,
        "allocation_wan": _money(f.allocation),
        "institutions": measure(
            f.target_institutions,
            f.participating,
            judge_at_least(f.participating, f.target_institutions, p),
        ),
        "quality": measure(
            1.0,
            rate(qc.passed + qc.applied, qc.certified + qc.not_certified),
            judge_quality(qc, p),
            **vars(qc),
        ),
        "completion": measure(
            float(targets["task_completion_rate"]),
            rate(tc.done_of_due, tc.due),
            judge_completion(tc, p),
            tasks=tc.tasks,
            due=tc.due,
            done_of_due=tc.done_of_due,
            done=tc.done,
            overdue=tc.overdue,
        ),
        "timeliness": measure(
            float(targets["timeliness_rate"]),
            rate(tc.on_time, tc.done),
            judge_timeliness(tc, p),
            done=tc.done,
            on_time=tc.on_time,
            late=tc.late,
        ),
        "cost": measure(
            _money(f.allocation),
            _money(f.spent),
            judge_cost(f.spent, f.allocation, p),
            share=rate(f.spent, f.allocation),
        ),
        "incidents": measure(allowed, f.incidents, judge_incidents(f.incidents, allowed, p)),
        "satisfaction": measure(
            satisfaction_target,
            f.satisfaction,
            judge_satisfaction(f.satisfaction, satisfaction_target, p),
        ),
        "dual_certified": measure(
            None,
            rate(f.dual_certified, f.institutions),
            NO_DATA,
            institutions=f.institutions,
            dual_certified=f.dual_certified,
        ),
    }


def region_row(
    rows: list[dict[str, Any]],
    facts: list[CityFacts],
    own: TaskCounts | None,
    p: Period,
    targets: dict[str, Any],
) -> dict[str, Any]:
    """Totals; each verdict is the worst of the cities' (and the region's own tasks')."""
    totals = CityFacts(REGION_LABEL)
    totals.tasks = sum((f.tasks or TaskCounts() for f in facts), own or TaskCounts())
    totals.quality = sum((f.quality or QualityCounts() for f in facts), QualityCounts())
    allocations = [f.allocation for f in facts]
    if allocations and None not in allocations:
        totals.allocation = sum(allocations, Decimal(0))  # type: ignore[arg-type]
    targets_inst = [f.target_institutions for f in facts]
    if targets_inst and None not in targets_inst:
        totals.target_institutions = sum(targets_inst)  # type: ignore[arg-type]
    for name in ("participating", "institutions", "dual_certified", "spent", "incidents"):
        setattr(totals, name, sum((getattr(f, name) for f in facts), getattr(totals, name)))
    recorded = [f.satisfaction for f in facts if f.satisfaction is not None]
    totals.satisfaction = round(sum(recorded) / len(recorded), 4) if recorded else None
    row = city_row(totals, p, targets)
    own_row = city_row(CityFacts(REGION_LABEL, tasks=own), p, targets) if own else None
    for indicator in INDICATORS:
        statuses = [r[indicator]["status"] for r in rows]
        if own_row and indicator in ("completion", "timeliness"):
            statuses.append(own_row[indicator]["status"])
        status = worst([s for s in statuses if s != NO_DATA])
        row[indicator].update(status=status, verdict=VERDICT_LABELS[status])
    row["satisfaction"]["recorded"] = len(recorded)
    share_target = float(targets["region_dual_certified_share"])
    share = row["dual_certified"]["actual"]
    row["dual_certified"].update(
        target=share_target,
        status=judge_at_least(share, share_target, p),
        verdict=VERDICT_LABELS[judge_at_least(share, share_target, p)],
    )
    return row
