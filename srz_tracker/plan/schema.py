"""The plan file: its schema as pydantic models, and the loader.

A plan file holds the plan's identity, its notification policy, its targets and
performance table, and its obligations. ``plan.yamllines`` reads it with a line for
every value; the models below check it; ``plan.problems`` turns every error into
FILE:LINE and a Chinese message. ``load_plan_file`` raises ``PlanError`` carrying all
of them, so nothing is stored from a file with any problem.

Rules that span obligations (an id defined twice, a city missing from the table) use
the validation context, so that they are checked on every obligation even when another
one fails: a model validator on the whole file would run only if everything else passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from srz_tracker.errors import PlanError, Problem
from srz_tracker.plan.fields import (
    ActorText,
    Amount,
    Assumption,
    CategoryCode,
    CategoryName,
    CityName,
    Clause,
    Code,
    Condition,
    ContactLine,
    Count,
    EvidenceText,
    Headcount,
    Id,
    Model,
    MonthDay,
    NonEmpty,
    ObligationTitle,
    OfficeName,
    Omittable,
    PlanTitle,
    Quote,
    RecurrenceType,
    RegionName,
    Scope,
    Share,
    ShortTitle,
    Text,
    Year,
    rule,
)
from srz_tracker.plan.policy import PlanPolicy, Policy, YearEnd
from srz_tracker.plan.problems import problems_from
from srz_tracker.plan.yamllines import LocatedDoc, load_located


@dataclass
class _Seen:
    """What validating one file has met so far (the pydantic validation context)."""

    id_lines: dict[str, int]  # obligation id -> line of its first definition
    ids: set[str] = field(default_factory=set)
    cities: set[str] = field(default_factory=set)


def _seen(info: ValidationInfo) -> _Seen | None:
    return info.context if isinstance(info.context, _Seen) else None


def _table_city(name: str, info: ValidationInfo) -> str:
    seen = _seen(info)
    if seen is not None:
        if name in seen.cities:
            raise rule(f"城市 {name} 重复")
        seen.cities.add(name)
    return name


def _known_city(name: str, info: ValidationInfo) -> str:
    # The table is validated before the obligations (field order of PlanFile).
    seen = _seen(info)
    if seen is not None and name not in seen.cities:
        raise rule(f"市 {name!r} 不在绩效目标表（performance_table）中")
    return name


def _first_definition(key: str, info: ValidationInfo) -> str:
    seen = _seen(info)
    if seen is not None:
        if key in seen.ids:
            raise rule(f"重复的 id {key!r}（第 {seen.id_lines[key]} 行已定义）")
        seen.ids.add(key)
    return key


class Recurrence(Model):
    type: RecurrenceType
    due: Annotated[tuple[MonthDay, ...], Field(validate_default=True)] = ()
    rrule: Annotated[Text | None, Field(validate_default=True)] = None

    @field_validator("type", mode="wrap")
    @classmethod
    def _known_type(cls, value: Any, handler: Any) -> str:
        try:
            return handler(value)
        except ValidationError:
            choices = ", ".join(get_args(RecurrenceType))
            raise rule(f"未知的周期类型 {value!r}（可用：{choices}）") from None

    @field_validator("due", mode="before")
    @classmethod
    def _due_list(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.data.get("type") == "rrule":  # an rrule has no due dates
            return ()
        return value if isinstance(value, list | tuple) else [value]

    @field_validator("due")
    @classmethod
    def _due_count(
        cls, due: tuple[tuple[int, int], ...], info: ValidationInfo
    ) -> tuple[tuple[int, int], ...]:
        kind = info.data.get("type")
        if kind is None or kind == "rrule":
            return due
        want = 2 if kind == "twice_yearly" else 1
        if len(due) != want:
            raise rule(f'type: {kind} 需要 {want} 个到期日（"MM-DD"）')
        if kind == "twice_yearly" and due[0] >= due[1]:
            raise rule("twice_yearly 的两个到期日应按先后排列且位于同一年内")
        return due

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, rule_text: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") != "rrule":
            return None
        if rule_text is None:
            raise rule("type: rrule 需要 rrule（RFC 5545 规则，如 FREQ=MONTHLY;BYMONTHDAY=-1）")
        from dateutil.rrule import rrulestr

        try:
            rrulestr(rule_text, dtstart=dt.datetime(2023, 1, 1))
        except (ValueError, TypeError) as exc:
            raise rule(f"无效的 RRULE {rule_text!r}：{exc}") from None
        return rule_text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "due": [f"{m:02d}-{d:02d}" for m, d in self.due]}
        if self.rrule:
            out["rrule"] = self.rrule
        return out


class Checkpoint(Model):
    due: MonthDay
    count: Count


class ObligationSpec(Model):
    """One obligation of the plan. Field order matters: a validator sees the fields
    declared above it (scope before condition and cities, count before checkpoint)."""

    key: Annotated[Id, AfterValidator(_first_definition)] = Field(alias="id")
    title: ObligationTitle
    clause: Clause
    quote: Quote
    scope: Scope
    condition: Condition | None = None
    actor: ActorText | None = None
    recurrence: Recurrence
    required_count: Count = Field(1, alias="count")
    checkpoint_rule: Omittable[Checkpoint] = Field(None, alias="checkpoint")
    evidence: EvidenceText | None = None
    assumption: Assumption | None = None
    notifications: Policy | None = None
    cities: Annotated[
        Omittable[tuple[Annotated[CityName, AfterValidator(_known_city)], ...]], NonEmpty
    ] = None

    @field_validator("condition")
    @classmethod
    def _institutions_only(cls, condition: str | None, info: ValidationInfo) -> str | None:
        if condition is not None and info.data.get("scope") in ("region", "city"):
            raise rule("认证条件只适用于 scope: institution")
        return condition

    @field_validator("checkpoint_rule")
    @classmethod
    def _before_the_end(cls, cp: Checkpoint | None, info: ValidationInfo) -> Checkpoint | None:
        count = info.data.get("required_count")
        if cp is not None and count is not None and cp.count >= count:
            raise rule("检查点次数应小于总次数 count", "count")
        return cp

    @field_validator("cities")
    @classmethod
    def _not_region(cls, cities: tuple[str, ...] | None, info: ValidationInfo) -> Any:
        if cities is not None and info.data.get("scope") == "region":
            raise rule("scope: region 的义务不能限定城市")
        return cities

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """As stored: ``{"due": "06-30", "count": 1}``."""
        cp = self.checkpoint_rule
        return (
            None if cp is None else {"due": f"{cp.due[0]:02d}-{cp.due[1]:02d}", "count": cp.count}
        )

    @property
    def policy(self) -> dict[str, Any] | None:
        return (self.notifications.as_dict() or None) if self.notifications else None


class CityRow(Model):
    name: Annotated[CityName, AfterValidator(_table_city)]
    allocation_wan: Amount
    institutions: Headcount
    code: Code = None


class PerformanceTable(Model):
    year: Omittable[Year] = None  # the plan's year when left out
    cities: Annotated[tuple[CityRow, ...], NonEmpty]


class Targets(Model):
    region_dual_certified_share: Omittable[Share] = None
    task_completion_rate: Omittable[Share] = None
    timeliness_rate: Omittable[Share] = None
    major_incidents: Omittable[Headcount] = None
    satisfaction: Omittable[Share] = None
    cost_within_allocation: Omittable[Annotated[bool, Strict()]] = None


class PlanHead(Model):
    id: Id
    title: PlanTitle
    short_title: Omittable[ShortTitle] = None
    year: Year
    timezone: Omittable[str] = "Asia/Shanghai"
    region: Omittable[RegionName] = None
    office: Omittable[OfficeName] = None
    contact_line: Omittable[ContactLine] = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise rule(f"未知时区 {tz!r}") from None
        return tz


class PlanFile(Model):
    """The whole file. The table comes before the obligations: they are checked against it."""

    plan: PlanHead
    notifications: PlanPolicy | None = None
    year_end: Omittable[YearEnd] = None
    targets: Omittable[Targets] = None
    performance_table: PerformanceTable
    expense_categories: dict[CategoryCode, CategoryName] = Field(default_factory=dict)
    obligations: Annotated[tuple[ObligationSpec, ...], NonEmpty]


@dataclass(frozen=True)
class PlanSpec:
    key: str
    title: str
    year: int
    timezone: str
    source_path: str
    sha256: str
    document: dict[str, Any]
    table_year: int
    cities: tuple[CityRow, ...]
    obligations: tuple[ObligationSpec, ...] = field(default_factory=tuple)


def validate(doc: LocatedDoc, sha256: str) -> tuple[PlanSpec | None, list[Problem]]:
    seen = _Seen(id_lines=_first_id_lines(doc))
    try:
        plan = PlanFile.model_validate(doc.value, context=seen)
    except ValidationError as exc:
        return None, problems_from(exc, doc, PlanFile)
    head = plan.plan
    document = {
        "plan": dict(sorted(head.model_dump(exclude_unset=True).items())),
        "notifications": plan.notifications.as_dict() if plan.notifications else {},
        "targets": plan.targets.model_dump(exclude_unset=True) if plan.targets else {},
        "expense_categories": plan.expense_categories,
    }
    if plan.year_end is not None:
        document["year_end"] = plan.year_end.as_dict()
    document["plan"].setdefault("timezone", head.timezone)
    spec = PlanSpec(
        key=head.id,
        title=head.title,
        year=head.year,
        timezone=head.timezone,
        source_path=doc.source,
        sha256=sha256,
        document=document,
        table_year=plan.performance_table.year or head.year,
        cities=plan.performance_table.cities,
        obligations=plan.obligations,
    )
    return spec, []


def _first_id_lines(doc: LocatedDoc) -> dict[str, int]:
    raw = doc.value.get("obligations") if isinstance(doc.value, dict) else None
    lines: dict[str, int] = {}
    for i, ob in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(ob, dict) and isinstance(ob.get("id"), str):
            lines.setdefault(ob["id"], doc.line(("obligations", i, "id")))
    return lines


def load_plan_file(path: str | Path) -> PlanSpec:
    """Read and validate a plan file; raise ``PlanError`` with every problem found."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PlanError([Problem(str(p), f"无法读取文件：{exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError([Problem(str(p), f"文件不是 UTF-8 编码：{exc}")]) from None
    doc, problems = load_located(text, str(p))
    if problems and doc.value is None:  # a syntax error: nothing to validate
        raise PlanError(problems)
    spec, more = validate(doc, hashlib.sha256(raw).hexdigest())
    # Go on after a duplicate key or an impossible date so that every problem is listed;
    # a value that could not be read is not reported a second time as missing.
    seen = {q.where for q in problems}
    problems += [q for q in more if q.where not in seen]
    if problems or spec is None:
        raise PlanError(sorted(problems, key=_line_of))
    return spec


def _line_of(problem: Problem) -> int:
    line = problem.where.rpartition(":")[2]
    return int(line) if line.isdigit() else 0
