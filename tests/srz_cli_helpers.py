"""Helpers for the tests that drive ``srz`` the way a user does: the real command group,
a database URL from the ``db_url`` fixture, a fixed ``--now``, and row counts to prove
that a refused command wrote nothing."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from srz_tracker.cli import cli
from srz_tracker.resources import bundled_file
from srz_tracker.store import db
from srz_tracker.store.models import Base

NOW = "2023-11-01T10:00"
BUNDLED_PLAN = bundled_file("gx-srz-2023")
SAMPLE_INSTITUTIONS = bundled_file("sample-institutions")
SAMPLE_CONTACTS = bundled_file("sample-contacts")
assert BUNDLED_PLAN and SAMPLE_INSTITUTIONS and SAMPLE_CONTACTS

# Institutions of the sample directory that the tests speak of by name.
NN_PLAIN = "南宁市示例县甲县级质检机构（占位）"  # not certified
NN_DUAL = "南宁市示例县乙县级质检机构（占位）"  # CATL and CMA certified

# A wide terminal, so that table cells are not folded in the middle of a title.
_ENV = {"COLUMNS": "240", "SRZ_USER": "测试员"}


def srz(db_url: str | None, *args: str, code: int = 0) -> Result:
    """Run ``srz [--db URL] ARGS`` and check its exit code (0 unless told)."""
    argv = ["--db", db_url, *args] if db_url else list(args)
    result = CliRunner().invoke(cli, argv, env=_ENV)
    if result.exit_code != code:
        detail = result.output
        if result.exception and not isinstance(result.exception, SystemExit):
            import traceback

            detail += "".join(traceback.format_exception(result.exception))
        raise AssertionError(
            f"srz {' '.join(args)} exited {result.exit_code}, not {code}:\n{detail}"
        )
    return result


def srz_json(db_url: str, *args: str) -> Any:
    result = srz(db_url, *args, "--format", "json")
    return json.loads(result.stdout)


def row_counts(db_url: str) -> dict[str, int]:
    """Rows per table: equal before and after means nothing was written."""
    engine = db.get_engine(db_url)
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }


def demo(db_url: str, now: str = NOW) -> None:
    srz(db_url, "demo", "--now", now)
