"""web pages: submissions, evidence files, extension requests; longer audit actors

Revision ID: 0004
Revises: 0002 (0003, plan years, is merged separately; the lead re-chains them)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A contact's address is the actor of what a web page does.
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor", type_=sa.String(length=254), existing_nullable=False)
    op.create_table(
        "web_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "occurrence_id", sa.Integer(), sa.ForeignKey("task_occurrences.id"), nullable=True
        ),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce"),
    )
    op.create_index("ix_web_submissions_task", "web_submissions", ["task_id"])
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("web_submissions.id"), nullable=True
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=254), nullable=False),
        sa.Column("uploader_name", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_task", "evidence_files", ["task_id"])
    op.create_index("ix_evidence_sha256", "evidence_files", ["sha256"])
    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("web_submissions.id"), nullable=True
        ),
        sa.Column("from_due_on", sa.Date(), nullable=False),
        sa.Column("to_due_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=254), nullable=False),
        sa.Column("requester_name", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_extension_requests_task", "extension_requests", ["task_id", "status"])


def downgrade() -> None:
    op.drop_table("extension_requests")
    op.drop_table("evidence_files")
    op.drop_table("web_submissions")
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor", type_=sa.String(length=64), existing_nullable=False)
