"""The fixed vocabularies of the domain: statuses, kinds, roles and scopes.

Each is a ``StrEnum`` whose values are the exact strings stored in the database, written
in the plan file and the directory, and printed by the CLI: a member *is* that string
(``TaskStatus.OPEN == "open"``, ``f"{TaskStatus.OPEN}" == "open"``, ``json.dumps`` gives
``"open"``), so rows read back as plain ``str`` compare equal to members and no
migration is needed.

This is a leaf module (it imports nothing of the package) so that the pure layers
(``timing``, ``plan.schema``) can use it as well as ``store`` and everything above;
``store.models`` re-exports it.
"""

from __future__ import annotations

import enum


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"
    NOT_APPLICABLE = "not_applicable"
    # Still open when its plan year closed: final, kept and counted as not done.
    OVERDUE_AT_CLOSE = "overdue_at_close"


class PlanYearState(enum.StrEnum):
    """A loaded plan year is open until it closes (by its date or ``srz plan close``)."""

    OPEN = "open"
    CLOSED = "closed"


class NotificationStatus(enum.StrEnum):
    """The life of one outbox row (DESIGN.md, the outbox)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class NotificationKind(enum.StrEnum):
    """What an outbox row is about; also the name of its email templates."""

    REMINDER = "reminder"
    DUE_TODAY = "due_today"
    CHECKPOINT = "checkpoint"
    ESCALATION_LEADER = "escalation_leader"
    ESCALATION_OFFICE = "escalation_office"
    DELIVERY_FAILURE = "delivery_failure"
    WEEKLY_SUMMARY = "weekly_summary"
    # A fresh link asked for from the page of an expired one (to the same address only).
    FRESH_LINK = "fresh_link"
    YEAR_CLOSED = "year_closed"  # the office's closing summary of one plan year


# The kinds a task's reminder and escalation steps produce (timing.steps); the others
# are about no single task.
STEP_KINDS = (
    NotificationKind.REMINDER,
    NotificationKind.DUE_TODAY,
    NotificationKind.CHECKPOINT,
    NotificationKind.ESCALATION_LEADER,
    NotificationKind.ESCALATION_OFFICE,
)


class CertKind(enum.StrEnum):
    """The two certifications a county testing institution must hold (双认证)."""

    CATL = "CATL"
    CMA = "CMA"


class CertStatus(enum.StrEnum):
    NONE = "none"
    APPLIED = "applied"
    CERTIFIED = "certified"
    EXPIRED = "expired"


class ContactRole(enum.StrEnum):
    """Who a contact is for their unit; also whom a reminder step goes to."""

    CONTACT = "contact"
    LEADER = "leader"
    OFFICE = "office"


class Scope(enum.StrEnum):
    """The level of government something belongs to.

    One vocabulary for three columns that must agree: an obligation's ``scope`` (whose
    duty it is), a task's ``subject_type`` (the subject it was made for, of that scope),
    and a contact's ``scope`` (the level whose contacts are looked up for that subject).
    """

    REGION = "region"
    CITY = "city"
    INSTITUTION = "institution"


class LinkPurpose(enum.StrEnum):
    """What a signed link opens (srz_tracker.links)."""

    TASK = "task"  # one task's page, for one recipient
    MINE = "mine"  # everything a recipient is responsible for or copied on
    CITY = "city"  # a city's page (weekly summary)


class SubmissionAction(enum.StrEnum):
    """What a recipient did on a task's page."""

    DONE = "done"  # 办结 (or one session of a counted task)
    EXTENSION = "extension"  # 申请延期


class RequestStatus(enum.StrEnum):
    """An extension request, until the office decides."""

    PENDING = "pending"
    APPLIED = "applied"  # the office extended the task (srz extend)
    CLOSED = "closed"  # the task closed before anybody decided


# Where a change came from, as the audit log says it (the CLI writes none).
SOURCE_WEB = "网页"
