"""The migrations and the ORM models describe the same schema, on both backends, and the
version the code expects is the migrations' head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from srz_tracker.store import migrate
from srz_tracker.store.models import Base
from srz_tracker.store.schema_version import SCHEMA_HEAD


def test_schema_head_is_the_migrations_head() -> None:
    assert migrate.head_revision() == SCHEMA_HEAD


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    assert migrate.current_revision(engine) == SCHEMA_HEAD
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
