"""The plan file's reminder and escalation policy and its year end, as pydantic models
(``plan.schema`` holds the rest of the file)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_validator

from srz_tracker.plan.fields import (
    Days,
    DaysAfter,
    DigestItems,
    Hour,
    Model,
    MonthDay,
    NonEmpty,
    Omittable,
    Repeats,
    Role,
    Text,
)


class Escalation(Model):
    after: DaysAfter
    to: Role
    cc: Omittable[Role] = None


class Policy(Model):
    """Reminder and escalation policy, plan-wide or for one obligation; a key left out
    falls back to the level above (defaults < plan < obligation, see notify.planner)."""

    send_hour: Omittable[Hour] = None
    reminders: Annotated[Omittable[tuple[Days, ...]], NonEmpty] = None
    escalations: Omittable[tuple[Escalation, ...]] = None
    repeat_every: Omittable[DaysAfter] = None
    repeat_max: Omittable[Repeats] = None  # then only the weekly summary and the report

    @field_validator("reminders")
    @classmethod
    def _latest_first(cls, days: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if days is None else tuple(sorted(set(days), reverse=True))

    def as_dict(self) -> dict[str, Any]:
        """Only the keys the file sets, as stored in the plan document."""
        out = self.model_dump(mode="json", exclude_unset=True, exclude={"escalations"})
        if self.escalations is not None:
            out["escalations"] = [e.model_dump(mode="json") for e in self.escalations]
        return out


class PlanPolicy(Policy):
    """The plan-wide policy: also how many items a digest lists in full."""

    digest_max_items: Omittable[DigestItems] = None


class YearEnd(Model):
    """When a plan year closes: a month-day of the following year (the plan states none:
    ``assumption`` says why this one)."""

    closes: MonthDay
    assumption: Text | None = None

    def as_dict(self) -> dict[str, Any]:
        closes = f"{self.closes[0]:02d}-{self.closes[1]:02d}"
        return {"closes": closes, **({"assumption": self.assumption} if self.assumption else {})}
