"""Engine and sessions.

SQLite gets WAL, a busy timeout and foreign keys, and write transactions that start
with ``BEGIN IMMEDIATE``: a deferred transaction that later tries to write can fail at
once with "database is locked" when another process wrote in between, whatever the
busy timeout; an immediate one waits its turn at the start instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from srz_tracker.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _normalize_url(url: str) -> str:
    parsed = make_url(url)
    # "postgresql://" would pick psycopg2, which we do not ship; psycopg 3 is the driver.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    try:
        normalized = _normalize_url(url)
        parsed = make_url(normalized)
    except Exception as exc:
        raise ConfigError(f"无效的数据库 URL：{exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(normalized, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            normalized,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10},
        )
    raise ConfigError(
        f"不支持的数据库类型 {parsed.get_backend_name()!r}：请使用 sqlite 或 postgresql"
    )


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextlib.contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session
