"""The tables the web pages write: one row per form sent from a task's page, the
evidence files uploaded with it (bytes on disk by sha256, see tasks.evidence) and the
extension requests waiting for the office."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from srz_tracker.store.models import Base, UtcDateTime


class WebSubmission(Base):
    """One form sent from a task's page. ``nonce`` comes with the form, so a form sent
    twice (a double tap, a resent POST) is recorded once."""

    __tablename__ = "web_submissions"
    __table_args__ = (Index("ix_web_submissions_task", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    action: Mapped[str] = mapped_column(String(16))  # SubmissionAction
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(64))
    on_date: Mapped[dt.date | None] = mapped_column(Date)  # completed on / extend to
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # no evidence / why more time
    outcome: Mapped[str] = mapped_column(String(16))  # recorded | already_done | requested
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("task_occurrences.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EvidenceFile(Base):
    """An uploaded file: the bytes live under the data directory by sha256, the rest here."""

    __tablename__ = "evidence_files"
    __table_args__ = (
        Index("ix_evidence_task", "task_id"),
        Index("ix_evidence_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("web_submissions.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[str] = mapped_column(String(254))  # the link's address
    uploader_name: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ExtensionRequest(Base):
    """申请延期 from a task's page, for the office to decide (``srz extend`` applies it)."""

    __tablename__ = "extension_requests"
    __table_args__ = (Index("ix_extension_requests_task", "task_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("web_submissions.id"))
    from_due_on: Mapped[dt.date] = mapped_column(Date)
    to_due_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(254))
    requester_name: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # RequestStatus
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(254))
