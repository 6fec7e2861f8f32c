"""The verdict rules of the performance report: 达标 / 未达标 / 进行中 / —.

Pure functions of counts and the report period; ``reports.py`` gathers the counts.
A verdict is 进行中 (in progress) while the year is not over and the target is not
yet missed for good; the rules for each indicator are in ``reports.py``'s docstring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

MET, NOT_MET, IN_PROGRESS, NO_DATA = "met", "not_met", "in_progress", "no_data"
VERDICT_LABELS = {MET: "达标", NOT_MET: "未达标", IN_PROGRESS: "进行中", NO_DATA: "—"}
_SEVERITY = {NO_DATA: 0, MET: 1, IN_PROGRESS: 2, NOT_MET: 3}


def rate(numerator: int | Decimal, denominator: int | Decimal | None) -> float | None:
    """A fraction 0..1 rounded to 4 places (0.01 %); None when there is no denominator."""
    if not denominator:
        return None
    return round(float(numerator) / float(denominator), 4)


def worst(statuses: list[str]) -> str:
    """未达标 if any, else 进行中 if any, else 达标; — when nothing could be judged."""
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else NO_DATA


def measure(target: Any, actual: Any, status: str, **detail: Any) -> dict[str, Any]:
    return {
        "target": target,
        "actual": actual,
        "status": status,
        "verdict": VERDICT_LABELS[status],
        **detail,
    }


@dataclass(frozen=True)
class Period:
    year: int
    today: dt.date
    # The year's records are final: its plan year was closed. A year can be over (past
    # December 31) and still open, e.g. while the cities' expenses come in.
    final: bool = False

    @property
    def over(self) -> bool:
        return self.today > dt.date(self.year, 12, 31)

    @property
    def reference(self) -> dt.date:
        """The date certification status is judged on: today, at most Y-12-31."""
        return min(self.today, dt.date(self.year, 12, 31))

    @property
    def application_deadline(self) -> dt.date:
        """“未通过“双认证”的 2023 年 12 月之前提交申请”: on or before Y-11-30."""
        return dt.date(self.year, 11, 30)

    def open_ended(self, reached: bool, missed: bool = False) -> str:
        """Missed for good → 未达标; reached → 达标; otherwise decided at year end."""
        if missed:
            return NOT_MET
        if reached:
            return MET
        return NOT_MET if self.over else IN_PROGRESS


class _Summable:
    def __add__(self, other: Any) -> Any:
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        return type(self)(*(getattr(self, n) + getattr(other, n) for n in names))


@dataclass
class TaskCounts(_Summable):
    """Tasks of the year (waived and not applicable left out)."""

    tasks: int = 0  # all tasks of the year
    due: int = 0  # due so far: due date in force ≤ today
    done_of_due: int = 0  # due so far and done
    done: int = 0  # done, whenever due
    on_time: int = 0  # done with completed_on ≤ due date in force
    late: int = 0  # done with completed_on > due date in force
    overdue: int = 0  # open and past the due date, or left open when the year closed


@dataclass
class QualityCounts(_Summable):
    certified: int = 0  # dual-certified participating institutions
    passed: int = 0  # ... whose proficiency-test task is done
    not_certified: int = 0  # the other participating institutions
    applied: int = 0  # ... whose certification-application task was done by Y-11-30


def judge_completion(c: TaskCounts, p: Period) -> str:
    if c.tasks == 0:
        return NO_DATA
    if c.done == c.tasks:
        return MET
    if p.over and c.due:
        return MET if c.done_of_due == c.due else NOT_MET
    return IN_PROGRESS


def judge_timeliness(c: TaskCounts, p: Period) -> str:
    if c.tasks == 0:
        return NO_DATA
    if c.late:
        return NOT_MET
    if c.done == c.tasks or (p.over and c.done):
        return MET
    return NOT_MET if p.over and c.due else IN_PROGRESS


def judge_quality(q: QualityCounts, p: Period) -> str:
    if q.certified + q.not_certified == 0:
        return NO_DATA
    reached = q.passed == q.certified and q.applied == q.not_certified
    missed = p.today > p.application_deadline and q.applied < q.not_certified
    return p.open_ended(reached, missed)


def judge_cost(spent: Decimal, allocation: Decimal | None, p: Period) -> str:
    if allocation is None:
        return NO_DATA
    if spent > allocation:
        return NOT_MET
    if not spent and not p.final:
        # Nothing recorded yet is no evidence of spending within the allocation.
        return IN_PROGRESS
    return MET if p.over else IN_PROGRESS


def judge_incidents(count: int, allowed: int, p: Period) -> str:
    if count > allowed:
        return NOT_MET
    return MET if p.over else IN_PROGRESS


def judge_satisfaction(value: float | None, target: float, p: Period) -> str:
    if value is None:
        return NOT_MET if p.over else IN_PROGRESS
    return MET if value >= target else NOT_MET


def judge_at_least(actual: float | None, target: float | None, p: Period) -> str:
    """Participating institutions, dual-certified share: 达标 once reached."""
    if target is None or actual is None:
        return NO_DATA
    return p.open_ended(actual >= target)
