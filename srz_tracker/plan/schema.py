"""The plan file: schema, loader and validation with FILE:LINE for every problem.

A plan file holds the plan's identity, its notification policy, its targets and
performance table, and its obligations. Validation collects every problem before
anything is stored; ``load_plan_file`` raises ``PlanError`` carrying all of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from srz_tracker.errors import PlanError, Problem
from srz_tracker.plan.yamllines import LocatedDoc, Path_, load_located

SCOPES = ("region", "city", "institution")
CONDITIONS = ("dual_certified", "not_dual_certified")
ROLES = ("contact", "leader", "office")
RECURRENCE_TYPES = ("once", "yearly", "twice_yearly", "rrule")

_TOP_KEYS = {
    "plan",
    "notifications",
    "targets",
    "performance_table",
    "expense_categories",
    "obligations",
}
_PLAN_KEYS = {"id", "title", "short_title", "year", "timezone", "region", "office", "contact_line"}
_POLICY_KEYS = {"send_hour", "reminders", "escalations", "repeat_every"}
_ESCALATION_KEYS = {"after", "to", "cc"}
_TARGET_KEYS = {
    "region_dual_certified_share",
    "task_completion_rate",
    "timeliness_rate",
    "major_incidents",
    "satisfaction",
    "cost_within_allocation",
}
_CITY_KEYS = {"name", "allocation_wan", "institutions", "code"}
_OBLIGATION_KEYS = {
    "id",
    "title",
    "clause",
    "quote",
    "scope",
    "condition",
    "actor",
    "recurrence",
    "count",
    "checkpoint",
    "evidence",
    "assumption",
    "notifications",
    "cities",
}
_RECURRENCE_KEYS = {"type", "due", "rrule"}
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Recurrence:
    type: str
    due: tuple[tuple[int, int], ...] = ()  # month-day pairs
    rrule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "due": [f"{m:02d}-{d:02d}" for m, d in self.due]}
        if self.rrule:
            out["rrule"] = self.rrule
        return out


@dataclass(frozen=True)
class ObligationSpec:
    key: str
    title: str
    clause: str
    quote: str
    scope: str
    recurrence: Recurrence
    condition: str | None = None
    actor: str | None = None
    required_count: int = 1
    checkpoint: dict[str, Any] | None = None  # {"due": "06-30", "count": 1}
    evidence: str | None = None
    assumption: str | None = None
    policy: dict[str, Any] | None = None
    cities: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CityRow:
    name: str
    allocation_wan: Decimal
    institutions: int
    code: str | None = None


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


class _Checker:
    def __init__(self, doc: LocatedDoc) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.doc.where(path), message))

    def mapping(self, value: Any, path: Path_, known: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            self.problem(path, f"{_name(path)} 应为映射（key: value）")
            return {}
        for key in value:
            if key not in known:
                self.problem((*path, key), f"未知的键 {key!r}（可用：{', '.join(sorted(known))}）")
        for key in sorted(required - set(value)):
            self.problem(path, f"{_name(path)} 缺少必填项 {key!r}")
        return value

    def text(self, value: Any, path: Path_, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.problem(path, f"{_name(path)} 不能为空")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"{_name(path)} 应为非空文本")
            return None
        return value.strip()

    def integer(self, value: Any, path: Path_, lo: int, hi: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.problem(path, f"{_name(path)} 应为 {lo} 到 {hi} 之间的整数，而不是 {value!r}")
            return None
        return value

    def month_day(self, value: Any, path: Path_) -> tuple[int, int] | None:
        if isinstance(value, dt.date):
            return value.month, value.day
        match = _MONTH_DAY.match(str(value)) if isinstance(value, str) else None
        if not match:
            self.problem(path, f'日期 {value!r} 应写作 "MM-DD"（如 "12-30"）')
            return None
        month, day = int(match[1]), int(match[2])
        try:
            dt.date(2023, month, day)  # not a leap year: 02-29 would vanish three years of four
        except ValueError:
            self.problem(path, f"不存在的日期 {value!r}")
            return None
        return month, day


def _name(path: Path_) -> str:
    return ".".join(str(p) for p in path) if path else "文件"


def _check_policy(c: _Checker, value: Any, path: Path_) -> dict[str, Any] | None:
    if value is None:
        return None
    policy = c.mapping(value, path, _POLICY_KEYS, set())
    out: dict[str, Any] = {}
    if "send_hour" in policy:
        out["send_hour"] = c.integer(policy["send_hour"], (*path, "send_hour"), 0, 23)
    if "reminders" in policy:
        days = policy["reminders"]
        if not isinstance(days, list) or not days:
            c.problem((*path, "reminders"), "reminders 应为天数列表，如 [30, 14, 7, 3, 1, 0]")
        else:
            vals = [c.integer(d, (*path, "reminders", i), 0, 366) for i, d in enumerate(days)]
            out["reminders"] = sorted({v for v in vals if v is not None}, reverse=True)
    if "escalations" in policy:
        steps = policy["escalations"]
        if not isinstance(steps, list):
            c.problem((*path, "escalations"), "escalations 应为列表")
        else:
            out["escalations"] = []
            for i, step in enumerate(steps):
                p = (*path, "escalations", i)
                s = c.mapping(step, p, _ESCALATION_KEYS, {"after", "to"})
                after = c.integer(s.get("after"), (*p, "after"), 1, 366) if "after" in s else None
                for role_key in ("to", "cc"):
                    if role_key in s and s[role_key] not in ROLES:
                        c.problem((*p, role_key), f"{role_key} 应为 {'/'.join(ROLES)} 之一")
                if after is not None:
                    out["escalations"].append(
                        {"after": after, "to": s.get("to"), "cc": s.get("cc")}
                    )
    if "repeat_every" in policy:
        out["repeat_every"] = c.integer(policy["repeat_every"], (*path, "repeat_every"), 1, 366)
    return out


def _check_recurrence(c: _Checker, value: Any, path: Path_) -> Recurrence | None:
    rec = c.mapping(value, path, _RECURRENCE_KEYS, {"type"})
    kind = rec.get("type")
    if kind is None:
        return None
    if kind not in RECURRENCE_TYPES:
        c.problem(
            (*path, "type"), f"未知的周期类型 {kind!r}（可用：{', '.join(RECURRENCE_TYPES)}）"
        )
        return None
    if kind == "rrule":
        rule = rec.get("rrule")
        if not isinstance(rule, str):
            c.problem(
                path, "type: rrule 需要 rrule（RFC 5545 规则，如 FREQ=MONTHLY;BYMONTHDAY=-1）"
            )
            return None
        from dateutil.rrule import rrulestr

        try:
            rrulestr(rule, dtstart=dt.datetime(2023, 1, 1))
        except (ValueError, TypeError) as exc:
            c.problem((*path, "rrule"), f"无效的 RRULE {rule!r}：{exc}")
            return None
        return Recurrence(type="rrule", rrule=rule)
    due = rec.get("due")
    want = 2 if kind == "twice_yearly" else 1
    items = due if isinstance(due, list) else [due]
    if due is None or len(items) != want:
        c.problem((*path, "due"), f'type: {kind} 需要 {want} 个到期日（"MM-DD"）')
        return None
    mds = [
        c.month_day(d, (*path, "due", i) if isinstance(due, list) else (*path, "due"))
        for i, d in enumerate(items)
    ]
    if any(md is None for md in mds):
        return None
    if kind == "twice_yearly" and mds[0] >= mds[1]:
        c.problem((*path, "due"), "twice_yearly 的两个到期日应按先后排列且位于同一年内")
    return Recurrence(type=kind, due=tuple(md for md in mds if md))


def _check_obligation(c: _Checker, value: Any, path: Path_) -> ObligationSpec | None:
    ob = c.mapping(
        value, path, _OBLIGATION_KEYS, {"id", "title", "clause", "quote", "scope", "recurrence"}
    )
    key = ob.get("id")
    if key is not None and (not isinstance(key, str) or not _ID.match(key)):
        c.problem((*path, "id"), f"id {key!r} 应为小写字母、数字和连字符")
        key = None
    title = c.text(ob.get("title"), (*path, "title"))
    clause = c.text(ob.get("clause"), (*path, "clause"))
    quote = c.text(ob.get("quote"), (*path, "quote"))
    scope = ob.get("scope")
    if scope is not None and scope not in SCOPES:
        c.problem((*path, "scope"), f"scope 应为 {'/'.join(SCOPES)} 之一，而不是 {scope!r}")
        scope = None
    condition = ob.get("condition")
    if condition is not None and condition not in CONDITIONS:
        c.problem((*path, "condition"), f"condition 应为 {'/'.join(CONDITIONS)} 之一")
    if condition is not None and scope in ("region", "city"):
        c.problem((*path, "condition"), "认证条件只适用于 scope: institution")
    recurrence = (
        _check_recurrence(c, ob["recurrence"], (*path, "recurrence"))
        if "recurrence" in ob
        else None
    )
    count = c.integer(ob.get("count", 1), (*path, "count"), 1, 100) or 1
    checkpoint = None
    if "checkpoint" in ob:
        cp_path = (*path, "checkpoint")
        cp = c.mapping(ob["checkpoint"], cp_path, {"due", "count"}, {"due", "count"})
        md = c.month_day(cp.get("due"), (*cp_path, "due")) if "due" in cp else None
        cp_count = (
            c.integer(cp.get("count"), (*cp_path, "count"), 1, 100) if "count" in cp else None
        )
        if cp_count is not None and cp_count >= count:
            c.problem((*cp_path, "count"), "检查点次数应小于总次数 count")
        if md and cp_count:
            checkpoint = {"due": f"{md[0]:02d}-{md[1]:02d}", "count": cp_count}
    policy = _check_policy(c, ob.get("notifications"), (*path, "notifications"))
    cities = None
    if "cities" in ob:
        raw = ob["cities"]
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            c.problem((*path, "cities"), "cities 应为市名列表")
        elif scope == "region":
            c.problem((*path, "cities"), "scope: region 的义务不能限定城市")
        else:
            cities = tuple(raw)
    optional = {
        k: c.text(ob.get(k), (*path, k), required=False)
        for k in ("actor", "evidence", "assumption")
    }
    if None in (key, title, clause, quote, scope, recurrence):
        return None
    return ObligationSpec(
        key=key,
        title=title,
        clause=clause,
        quote=quote,
        scope=scope,  # type: ignore[arg-type]
        recurrence=recurrence,
        condition=condition,
        required_count=count,  # type: ignore[arg-type]
        checkpoint=checkpoint,
        policy=policy or None,
        cities=cities,
        **optional,
    )


def _check_cities(c: _Checker, value: Any, path: Path_) -> list[CityRow]:
    if not isinstance(value, list) or not value:
        c.problem(path, "performance_table.cities 应为非空列表")
        return []
    rows: list[CityRow] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        p = (*path, i)
        row = c.mapping(item, p, _CITY_KEYS, {"name", "allocation_wan", "institutions"})
        name = c.text(row.get("name"), (*p, "name"))
        if name in seen:
            c.problem((*p, "name"), f"城市 {name} 重复")
        try:
            amount = Decimal(str(row.get("allocation_wan")))
            if amount < 0 or not amount.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            c.problem((*p, "allocation_wan"), "allocation_wan 应为非负金额（万元）")
            amount = None
        count = c.integer(row.get("institutions"), (*p, "institutions"), 0, 10_000)
        code = c.text(str(row["code"]), (*p, "code")) if row.get("code") is not None else None
        if name and amount is not None and count is not None:
            seen.add(name)
            rows.append(CityRow(name, amount, count, code))
    return rows


def _check_targets(c: _Checker, value: Any) -> dict[str, Any]:
    targets = c.mapping(value, ("targets",), _TARGET_KEYS, set())
    for k in (
        "region_dual_certified_share",
        "task_completion_rate",
        "timeliness_rate",
        "satisfaction",
    ):
        _share(c, targets, k)
    if "major_incidents" in targets:
        c.integer(targets["major_incidents"], ("targets", "major_incidents"), 0, 10_000)
    if "cost_within_allocation" in targets and not isinstance(
        targets["cost_within_allocation"], bool
    ):
        c.problem(("targets", "cost_within_allocation"), "cost_within_allocation 应为 true/false")
    return targets


def _share(c: _Checker, targets: dict[str, Any], key: str) -> None:
    value = targets.get(key)
    if key in targets and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
    ):
        c.problem(("targets", key), f"{key} 应为 0 到 1 之间的比例（如 0.9），而不是 {value!r}")


def validate(doc: LocatedDoc, sha256: str) -> tuple[PlanSpec | None, list[Problem]]:
    c = _Checker(doc)
    top = c.mapping(doc.value, (), _TOP_KEYS, {"plan", "obligations", "performance_table"})
    # A missing section is reported once, by the line above; its contents are not.
    head = (
        c.mapping(top["plan"], ("plan",), _PLAN_KEYS, {"id", "title", "year"})
        if "plan" in top
        else {}
    )
    key = head.get("id")
    if key is not None and (not isinstance(key, str) or not _ID.match(key)):
        c.problem(("plan", "id"), f"plan.id {key!r} 应为小写字母、数字和连字符")
    year = c.integer(head.get("year"), ("plan", "year"), 2000, 2100) if "year" in head else None
    tz = head.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        c.problem(("plan", "timezone"), f"未知时区 {tz!r}")
    for k in ("title", "short_title", "region", "office", "contact_line"):
        if k in head:
            c.text(head[k], ("plan", k))
    policy = _check_policy(c, top.get("notifications"), ("notifications",)) or {}
    targets = _check_targets(c, top.get("targets", {}))
    table = (
        c.mapping(top["performance_table"], ("performance_table",), {"year", "cities"}, {"cities"})
        if "performance_table" in top
        else {}
    )
    table_year = (
        c.integer(table["year"], ("performance_table", "year"), 2000, 2100)
        if "year" in table
        else year
    )
    cities = (
        _check_cities(c, table["cities"], ("performance_table", "cities"))
        if "cities" in table
        else []
    )
    categories = top.get("expense_categories", {})
    if not isinstance(categories, dict):
        c.problem(("expense_categories",), "expense_categories 应为映射（代码: 中文名称）")
    obligations: list[ObligationSpec] = []
    raw_obs = top.get("obligations", [])
    if "obligations" in top and (not isinstance(raw_obs, list) or not raw_obs):
        c.problem(("obligations",), "obligations 应为非空列表")
        raw_obs = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(raw_obs):
        spec = _check_obligation(c, raw, ("obligations", i))
        if spec is None:
            continue
        if spec.key in ids:
            c.problem(
                ("obligations", i, "id"), f"重复的 id {spec.key!r}（第 {ids[spec.key]} 行已定义）"
            )
            continue
        ids[spec.key] = doc.line(("obligations", i, "id"))
        obligations.append(spec)
        table_names = {row.name for row in cities}
        for j, name in enumerate(spec.cities or ()):
            if name not in table_names:
                c.problem(
                    ("obligations", i, "cities", j),
                    f"市 {name!r} 不在绩效目标表（performance_table）中",
                )
    if c.problems:
        return None, c.problems
    document = {
        "plan": {k: head.get(k) for k in sorted(_PLAN_KEYS) if k in head},
        "notifications": policy,
        "targets": targets,
        "expense_categories": categories,
    }
    document["plan"].setdefault("timezone", "Asia/Shanghai")
    spec = PlanSpec(
        key=key,
        title=head["title"],
        year=year,
        timezone=str(tz),  # type: ignore[arg-type]
        source_path=doc.source,
        sha256=sha256,
        document=document,
        table_year=int(table_year),
        cities=tuple(cities),
        obligations=tuple(obligations),
    )
    return spec, []


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
