"""The store: migrations are idempotent and SQLite runs with the pragmas the design needs."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from srz_tracker.store import db, migrate


def test_init_twice_is_harmless(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"tasks", "notifications", "obligations", "audit_events", "daemon_lease"} <= tables


def test_sqlite_pragmas(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.BUSY_TIMEOUT_MS


def test_write_session_rolls_back_everything(engine: Engine) -> None:
    from srz_tracker.store.models import City

    try:
        with db.write_session(engine) as session:
            session.add(City(name="测试市"))
            session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.read_session(engine) as session:
        assert session.query(City).count() == 0
