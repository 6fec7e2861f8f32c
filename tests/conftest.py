"""Shared fixtures: every database test runs on real SQLite and on a real PostgreSQL.

PostgreSQL comes from ``SRZ_TEST_PG_URL`` (``scripts/pg-test-server`` starts one). Each
test gets a fresh database copied from a migrated template, so tests stay independent
and fast. With ``SRZ_REQUIRE_PG=1`` (CI) a missing server is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from srz_tracker.store import db, migrate

PG_URL = os.environ.get("SRZ_TEST_PG_URL")
REQUIRE_PG = os.environ.get("SRZ_REQUIRE_PG") == "1"
PG_TEMPLATE = f"srz_tpl_{os.getpid()}"

BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> Engine:
    assert PG_URL
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("SRZ_REQUIRE_PG=1 but SRZ_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL (set SRZ_TEST_PG_URL or run scripts/test)")
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}"'))
        conn.execute(text(f'CREATE DATABASE "{PG_TEMPLATE}"'))
    url = make_url(PG_URL).set(database=PG_TEMPLATE).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield PG_TEMPLATE
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated, empty database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "srz.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"srz_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


DEMO_NOW = "2023-11-01T10:00"


def _run_demo(url: str) -> None:
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    result = CliRunner().invoke(cli, ["--db", url, "demo", "--now", DEMO_NOW])
    assert result.exit_code == 0, result.output
    db.dispose_all()


@pytest.fixture(scope="session")
def sqlite_demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copy(sqlite_template, path)
    _run_demo(f"sqlite:///{path}")
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_demo_template(pg_template: str) -> Iterator[str]:
    name = f"{pg_template}_demo"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    _run_demo(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def demo_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend holding what ``srz demo --now 2023-11-01T10:00``
    leaves: the bundled plan and the sample directory, no notifications yet."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_demo_template")
        target = tmp_path / "srz.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        db.dispose_all()
        return
    template_name: str = request.getfixturevalue("pg_demo_template")
    name = f"srz_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The loopback SMTP server fixture, available to every test module.
from tests.smtp_server import smtp_server  # noqa: E402, F401
