"""plan years: each loaded year of a plan is open until it closes

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    plan_years = op.create_table(
        "plan_years",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "year"),
    )
    # The years already loaded stay open, with no closing date until their plan file is
    # loaded again (it may say when they close); nothing closes behind the office's back.
    plans = sa.table(
        "plans",
        sa.column("id", sa.Integer),
        sa.column("year", sa.Integer),
        sa.column("document", sa.JSON),
    )
    bind = op.get_bind()
    rows = []
    for plan_id, year, document in bind.execute(
        sa.select(plans.c.id, plans.c.year, plans.c.document)
    ):
        years = (document or {}).get("years") or [year]
        rows += [{"plan_id": plan_id, "year": int(y), "state": "open"} for y in sorted(set(years))]
    if rows:
        op.bulk_insert(plan_years, rows)


def downgrade() -> None:
    op.drop_table("plan_years")
