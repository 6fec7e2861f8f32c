"""ORM models: the whole domain of DESIGN.md in one schema.

Instants are stored as naive UTC datetimes (``UtcDateTime``) so that SQLite and
PostgreSQL behave alike; dates that the plan speaks of (due dates, completion dates)
are plain local dates in the plan's timezone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The vocabularies of the columns below live in a leaf module so that the pure layers
# (timing, the plan file's schema) share them; re-exported for callers of the store.
# Columns stay plain strings, not SQL enums: the database stays readable and holds the
# members' text.
from srz_tracker.kinds import CertKind as CertKind
from srz_tracker.kinds import CertStatus as CertStatus
from srz_tracker.kinds import ContactRole as ContactRole
from srz_tracker.kinds import NotificationKind as NotificationKind
from srz_tracker.kinds import NotificationStatus as NotificationStatus
from srz_tracker.kinds import PlanYearState as PlanYearState
from srz_tracker.kinds import Scope as Scope
from srz_tracker.kinds import TaskStatus as TaskStatus


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an instant is expected")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class City(Base):
    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str | None] = mapped_column(String(12))

    institutions: Mapped[list[Institution]] = relationship(back_populates="city")


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    county: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    code: Mapped[str | None] = mapped_column(String(32))
    participating: Mapped[bool] = mapped_column(default=True)

    city: Mapped[City] = relationship(back_populates="institutions")
    certifications: Mapped[list[Certification]] = relationship(
        back_populates="institution", order_by="Certification.kind"
    )


class Certification(Base):
    __tablename__ = "certifications"
    __table_args__ = (UniqueConstraint("institution_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=CertStatus.NONE.value)
    applied_on: Mapped[dt.date | None] = mapped_column(Date)
    certified_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    certificate_no: Mapped[str | None] = mapped_column(String(64))

    institution: Mapped[Institution] = relationship(back_populates="certifications")


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("scope", "city_id", "institution_id", "role", "email"),
        Index("ix_contacts_city", "city_id"),
        Index("ix_contacts_institution", "institution_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    year: Mapped[int]
    timezone: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The validated document: contact line, notification policy, targets.
    document: Mapped[dict[str, Any]]

    obligations: Mapped[list[Obligation]] = relationship(back_populates="plan")
    city_targets: Mapped[list[CityTarget]] = relationship(back_populates="plan")
    plan_years: Mapped[list[PlanYear]] = relationship(
        back_populates="plan", order_by="PlanYear.year"
    )


class PlanYear(Base):
    """One loaded year of a plan: open until it closes, then its open tasks are final.

    ``closes_on`` is the local date the plan file gives for the close (NULL: only by
    hand); the year closes on the first pass after that day.
    """

    __tablename__ = "plan_years"
    __table_args__ = (UniqueConstraint("plan_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    year: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=PlanYearState.OPEN.value)
    closes_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))

    plan: Mapped[Plan] = relationship(back_populates="plan_years")


class CityTarget(Base):
    """One row of the plan's performance table (绩效目标表) for one year."""

    __tablename__ = "city_targets"
    __table_args__ = (UniqueConstraint("plan_id", "city_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    year: Mapped[int]
    allocation_wan: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    target_institutions: Mapped[int]

    plan: Mapped[Plan] = relationship(back_populates="city_targets")
    city: Mapped[City] = relationship()


class Obligation(Base):
    __tablename__ = "obligations"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    clause: Mapped[str] = mapped_column(String(32))
    quote: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(16))
    condition: Mapped[str | None] = mapped_column(String(32))
    # {"type": "yearly", "due": "12-30"} and the like; see plan.py.
    recurrence: Mapped[dict[str, Any]]
    required_count: Mapped[int] = mapped_column(default=1)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evidence: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    assumption: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Names of the cities the obligation is limited to; NULL: every city of the table.
    cities: Mapped[list[Any] | None] = mapped_column(JSON)

    plan: Mapped[Plan] = relationship(back_populates="obligations")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("obligation_id", "subject_key", "period"),
        # The pass looks for open tasks by due date; everything else is history.
        Index("ix_tasks_status_due", "status", "due_on"),
        Index("ix_tasks_city_status", "city_id", "status"),
        Index("ix_tasks_institution", "institution_id"),
        # The pass asks only for tasks whose next reminder/escalation instant has come,
        # so its cost follows what is due, not the size of the history.
        Index("ix_tasks_next_step", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id"))
    subject_type: Mapped[str] = mapped_column(String(16))
    # "region", "city:<id>" or "institution:<id>": one column so the unique key works
    # with NULLs on every database.
    subject_key: Mapped[str] = mapped_column(String(40))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    period: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[dt.date] = mapped_column(Date)
    original_due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value)
    required_count: Mapped[int] = mapped_column(default=1)
    done_count: Mapped[int] = mapped_column(default=0)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    completed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    no_evidence_reason: Mapped[str | None] = mapped_column(Text)
    # When the scheduler must next look at this task (NULL: nothing left to send).
    next_step_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    obligation: Mapped[Obligation] = relationship()
    city: Mapped[City | None] = relationship()
    institution: Mapped[Institution | None] = relationship()
    occurrences: Mapped[list[TaskOccurrence]] = relationship(
        back_populates="task", order_by="TaskOccurrence.id"
    )
    extensions: Mapped[list[TaskExtension]] = relationship(
        back_populates="task", order_by="TaskExtension.id"
    )


class TaskOccurrence(Base):
    """One recorded completion; a counted task is done when it has enough of them."""

    __tablename__ = "task_occurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    no_evidence_reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set when a reopen undid this occurrence: kept for the record, no longer counted.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    task: Mapped[Task] = relationship(back_populates="occurrences")


class TaskExtension(Base):
    __tablename__ = "task_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    from_due_on: Mapped[dt.date] = mapped_column(Date)
    to_due_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    extended_by: Mapped[str | None] = mapped_column(String(64))
    extended_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    task: Mapped[Task] = relationship(back_populates="extensions")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_task", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # A login name, a --by name, or a contact's address (web pages): up to 254.
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Notification(Base):
    """The outbox: one row per (task, step, recipient); ``dedupe_key`` makes it unique.

    Rows that do not belong to one task (weekly summary, failure notices) use the
    same key column, e.g. ``weekly:<city>:<iso-week>:<email>``.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id"))
    recipient_email: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str | None] = mapped_column(String(64))
    # "to" or "cc" on the email that carries this row.
    recipient_field: Mapped[str] = mapped_column(String(4), default="to")
    scheduled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DaemonLease(Base):
    """Which daemon may send, until when; doubles as the heartbeat for ``srz status``."""

    __tablename__ = "daemon_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str | None] = mapped_column(String(128))
    pid: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    acquired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    last_pass_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_pass_seconds: Mapped[float | None]
    last_pass_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Expense(Base):
    __tablename__ = "expenses"
    __table_args__ = (Index("ix_expenses_city_year", "city_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    year: Mapped[int]
    amount_wan: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    category: Mapped[str] = mapped_column(String(32))
    spent_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Indicator(Base):
    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("city_id", "year", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    year: Mapped[int]
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# What the web pages record (submissions, evidence files, extension requests) lives in a
# module of its own; imported here so that the metadata holds every table.
from srz_tracker.store.web_models import EvidenceFile as EvidenceFile  # noqa: E402
from srz_tracker.store.web_models import ExtensionRequest as ExtensionRequest  # noqa: E402
from srz_tracker.store.web_models import WebSubmission as WebSubmission  # noqa: E402
