"""Field types of the plan file, shared by the models in ``plan.schema``.

Where pydantic's own checks say what we mean (a strict integer in a range, non-empty
text, a mapping with known keys) the type is plain pydantic and ``plan.problems`` puts
its error into Chinese. Where the rule is ours (a month-day, an amount in 万元, an id),
the validator raises ``rule(...)`` with the Chinese message already written.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from srz_tracker import limits
from srz_tracker.limits import TextLimit

RULE = "plan_rule"  # the error type of every message written here, shown as it is

_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")

T = TypeVar("T")


def rule(message: str, *at: str | int) -> PydanticCustomError:
    """A problem in our words; ``at`` points below the value checked (a cross-field rule
    on a model is about one of its fields, and the problem belongs on that field's line)."""
    # The message travels in the context: pydantic would fill "{...}" in a template.
    return PydanticCustomError(RULE, "{message}", {"message": message, "at": at})


class Model(BaseModel):
    """Every mapping of the file: an unknown key is an error, the result is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_null(value: Any) -> Any:
    if value is None:
        # plan.problems words every null input as "不能为空", whatever the field's type
        raise PydanticCustomError("not_null", "null")
    return value


# May be left out, but `key:` with nothing after it is an error, not "left out".
Omittable = Annotated[T | None, BeforeValidator(_not_null)]

Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]


def _within(limit: TextLimit) -> AfterValidator:
    """The length and control-character check every text a user writes goes through
    (``srz_tracker.limits``), worded with the key it is about."""

    def check(value: T, info: ValidationInfo) -> T:
        message = limits.problem(str(value), limit)
        if message is not None:
            raise rule(f"{info.field_name}（{limit.label}）{message}")
        return value

    return AfterValidator(check)


# The plan's texts that are stored or shown, each with its limit (README.md, "Limits").
PlanTitle = Annotated[Text, _within(limits.PLAN_TITLE)]
ShortTitle = Annotated[Text, _within(limits.SHORT_TITLE)]
RegionName = Annotated[Text, _within(limits.REGION)]
OfficeName = Annotated[Text, _within(limits.OFFICE)]
ContactLine = Annotated[Text, _within(limits.CONTACT_LINE)]
ObligationTitle = Annotated[Text, _within(limits.OBLIGATION_TITLE)]
Clause = Annotated[Text, _within(limits.CLAUSE)]
Quote = Annotated[Text, _within(limits.QUOTE)]
ActorText = Annotated[Text, _within(limits.OBLIGATION_ACTOR)]
EvidenceText = Annotated[Text, _within(limits.OBLIGATION_EVIDENCE)]
Assumption = Annotated[Text, _within(limits.ASSUMPTION)]
CityName = Annotated[Text, _within(limits.CITY)]

Year = Annotated[int, Strict(), Field(ge=2000, le=2100)]
Hour = Annotated[int, Strict(), Field(ge=0, le=23)]
Days = Annotated[int, Strict(), Field(ge=0, le=366)]
DaysAfter = Annotated[int, Strict(), Field(ge=1, le=366)]
Count = Annotated[int, Strict(), Field(ge=1, le=100)]
Headcount = Annotated[int, Strict(), Field(ge=0, le=10_000)]
Repeats = Annotated[int, Strict(), Field(ge=0, le=100)]  # 0: no repeated escalation
DigestItems = Annotated[int, Strict(), Field(ge=1, le=500)]

Scope = Literal["region", "city", "institution"]
Condition = Literal["dual_certified", "not_dual_certified"]
Role = Literal["contact", "leader", "office"]
RecurrenceType = Literal["once", "yearly", "twice_yearly", "rrule"]


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise rule(f"id {value!r} 应为小写字母、数字和连字符")
    return value


Id = Annotated[str, PlainValidator(_id)]


def _month_day(value: Any) -> tuple[int, int]:
    if isinstance(value, dt.date):  # YAML reads an unquoted 2023-12-30 as a date
        return value.month, value.day
    match = _MONTH_DAY.match(value) if isinstance(value, str) else None
    if not match:
        raise rule(f'日期 {value!r} 应写作 "MM-DD"（如 "12-30"）')
    month, day = int(match[1]), int(match[2])
    try:
        dt.date(2023, month, day)  # not a leap year: 02-29 would vanish three years of four
    except ValueError:
        raise rule(f"不存在的日期 {value!r}") from None
    return month, day


MonthDay = Annotated[tuple[int, int], PlainValidator(_month_day)]


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
        if amount < 0 or not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise rule("allocation_wan 应为非负金额（万元）") from None
    return amount


Amount = Annotated[Decimal, PlainValidator(_amount)]


def _share(value: Any, info: ValidationInfo) -> int | float:
    # Kept as written (1 stays 1): the targets are stored as the file has them.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise rule(f"{info.field_name} 应为 0 到 1 之间的比例（如 0.9），而不是 {value!r}")
    return value


Share = Annotated[float, PlainValidator(_share)]


def _non_empty(value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
    if not value:
        # min_length would also fire when every item is invalid, on top of their problems
        raise rule(f"{info.field_name} 应为非空列表")
    return value


NonEmpty = AfterValidator(_non_empty)


def _as_text(value: Any) -> Any:
    return value if value is None else str(value)


# A city code may be read as a number.
Code = Annotated[Annotated[Text, _within(limits.CITY_CODE)] | None, BeforeValidator(_as_text)]

# An expense category's code is stored with every expense; its name is shown in reports.
CategoryCode = Annotated[str | int, _within(limits.CATEGORY_CODE)]
CategoryName = Annotated[Any, _within(limits.CATEGORY_NAME)]
