"""What the performance report needs besides tasks: expenses against each city's
allocation, the satisfaction indicator and major quality-safety incidents.

Input is checked strictly before anything is written (amount in 万元 > 0 with at most
two decimals, a category the plan allows, a real city, a date not in the future), and
every write adds an ``AuditEvent`` (``expense``, ``indicator``, ``incident``) in the
same transaction, so a refused command leaves the database untouched.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.errors import UsageError
from srz_tracker.store import audit
from srz_tracker.store.models import City, Expense, Incident, Indicator, Plan
from srz_tracker.tasks.query import resolve_city

INDICATOR_NAMES = {"satisfaction": "项目实施主体满意度"}
MAX_AMOUNT = Decimal("9999999999.99")
_CENT = Decimal("0.01")
_PCT_STEP = Decimal("0.0001")


def expense_categories(session: Session) -> dict[str, str]:
    """Code -> Chinese name, from the ``expense_categories`` of every loaded plan."""
    out: dict[str, str] = {}
    for doc in session.scalars(select(Plan.document).order_by(Plan.id)):
        out.update({str(k): str(v) for k, v in (doc or {}).get("expense_categories", {}).items()})
    return out


def resolve_category(session: Session, text: str) -> str:
    """The category code for ``text``, given as the code or as the Chinese name."""
    categories = expense_categories(session)
    if not categories:
        raise UsageError("已加载的实施方案没有规定经费支出类别（expense_categories）")
    wanted = text.strip()
    for code, name in categories.items():
        if wanted.lower() == code.lower() or wanted == name:
            return code
    allowed = "；".join(f"{code}（{name}）" for code, name in categories.items())
    raise UsageError(f"经费类别 {text!r} 不在实施方案四（三）规定的用途之内。允许的类别：{allowed}")


def parse_amount(text: str) -> Decimal:
    """An amount in 万元: ``12.5``, ``12.50`` or ``12.5万元``; > 0, at most 2 decimals."""
    raw = text.strip().removesuffix("万元").removesuffix("万").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise UsageError(f"金额 {text!r} 不是数字（单位万元，如 12.5）") from None
    if not value.is_finite():
        raise UsageError(f"金额 {text!r} 不是有限的数字")
    if value <= 0:
        raise UsageError(f"金额必须大于 0（单位万元），而不是 {text!r}")
    if value != value.quantize(_CENT):
        raise UsageError(f"金额 {text!r} 最多两位小数（单位万元，即精确到百元）")
    if value > MAX_AMOUNT:
        raise UsageError(f"金额 {text!r} 过大")
    return value.quantize(_CENT)


def parse_share(text: str) -> Decimal:
    """A percentage as a fraction: ``92``, ``92%`` and ``0.92`` all give ``0.92``.

    With ``%`` the number is a percentage; without, a number up to 1 is a fraction and
    a larger one a percentage (so ``1`` is 100 %). Kept to 4 decimals (0.01 %)."""
    raw = text.strip().replace("％", "%")
    percent = raw.endswith("%")
    try:
        value = Decimal(raw.removesuffix("%").strip())
    except InvalidOperation:
        raise UsageError(f"{text!r} 不是百分数（如 92、92% 或 0.92）") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{text!r} 应在 0 到 100% 之间")
    if percent or value > 1:
        value = value / 100
    if value > 1:
        raise UsageError(f"{text!r} 超过 100%")
    return value.quantize(_PCT_STEP, rounding=ROUND_HALF_UP)


def _not_future(on: dt.date, today: dt.date, what: str) -> None:
    if on > today:
        raise UsageError(f"{what} {on} 晚于今天 {today}")


def add_expense(
    session: Session,
    city_name: str,
    amount_text: str,
    category_text: str,
    on: dt.date,
    note: str | None,
    now: dt.datetime,
    today: dt.date,
    actor: str,
) -> Expense:
    amount = parse_amount(amount_text)
    category = resolve_category(session, category_text)
    city = resolve_city(session, city_name)
    _not_future(on, today, "支出日期")
    expense = Expense(
        city_id=city.id,
        year=on.year,
        amount_wan=amount,
        category=category,
        spent_on=on,
        note=(note or "").strip() or None,
        recorded_at=now,
    )
    session.add(expense)
    session.flush()
    detail = {
        "id": expense.id,
        "city": city.name,
        "amount_wan": str(amount),
        "category": category,
        "on": on.isoformat(),
        "note": expense.note,
    }
    audit.record(session, now, actor, "expense", detail)
    return expense


def list_expenses(
    session: Session, city_name: str | None = None, year: int | None = None
) -> list[dict[str, Any]]:
    categories = expense_categories(session)
    stmt = select(Expense, City.name).join(City, Expense.city_id == City.id)
    if city_name:
        stmt = stmt.where(Expense.city_id == resolve_city(session, city_name).id)
    if year is not None:
        stmt = stmt.where(Expense.year == year)
    stmt = stmt.order_by(Expense.spent_on, Expense.id)
    return [
        {
            "id": e.id,
            "city": name,
            "year": e.year,
            "spent_on": e.spent_on.isoformat(),
            "category": e.category,
            "category_name": categories.get(e.category, e.category),
            "amount_wan": float(e.amount_wan),
            "note": e.note,
        }
        for e, name in session.execute(stmt)
    ]


def set_indicator(
    session: Session,
    city_name: str,
    year: int,
    name: str,
    value_text: str,
    now: dt.datetime,
    actor: str,
) -> tuple[Indicator, Decimal | None]:
    """Record (or replace) an indicator; returns it and the previous value, if any."""
    if name not in INDICATOR_NAMES:
        raise UsageError(f"未知的指标 {name!r}（可用：{'、'.join(INDICATOR_NAMES)}）")
    if not 2000 <= year <= 2100:
        raise UsageError(f"年度 {year} 不合理")
    value = parse_share(value_text)
    city = resolve_city(session, city_name)
    row = session.scalar(
        select(Indicator).where(
            Indicator.city_id == city.id, Indicator.year == year, Indicator.name == name
        )
    )
    previous = row.value if row is not None else None
    if row is None:
        row = Indicator(city_id=city.id, year=year, name=name, value=value, recorded_at=now)
        session.add(row)
    else:
        row.value, row.recorded_at = value, now
    detail = {
        "city": city.name,
        "year": year,
        "name": name,
        "value": str(value),
        "previous": str(previous) if previous is not None else None,
    }
    audit.record(session, now, actor, "indicator", detail)
    return row, previous


def add_incident(
    session: Session,
    city_name: str,
    on: dt.date,
    note: str,
    now: dt.datetime,
    today: dt.date,
    actor: str,
) -> Incident:
    text = (note or "").strip()
    if not text:
        raise UsageError("请用 --note 说明事件情况")
    city = resolve_city(session, city_name)
    _not_future(on, today, "事件日期")
    incident = Incident(city_id=city.id, occurred_on=on, note=text, recorded_at=now)
    session.add(incident)
    session.flush()
    detail = {"id": incident.id, "city": city.name, "on": on.isoformat(), "note": text}
    audit.record(session, now, actor, "incident", detail)
    return incident


def list_incidents(
    session: Session, city_name: str | None = None, year: int | None = None
) -> list[dict[str, Any]]:
    stmt = select(Incident, City.name).join(City, Incident.city_id == City.id)
    if city_name:
        stmt = stmt.where(Incident.city_id == resolve_city(session, city_name).id)
    if year is not None:
        stmt = stmt.where(
            Incident.occurred_on >= dt.date(year, 1, 1),
            Incident.occurred_on <= dt.date(year, 12, 31),
        )
    stmt = stmt.order_by(Incident.occurred_on, Incident.id)
    return [
        {"id": i.id, "city": name, "occurred_on": i.occurred_on.isoformat(), "note": i.note}
        for i, name in session.execute(stmt)
    ]
