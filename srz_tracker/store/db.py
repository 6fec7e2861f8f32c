"""Engine and sessions.

SQLite gets WAL, a busy timeout and foreign keys, and write transactions that start
with ``BEGIN IMMEDIATE``: a deferred transaction that later tries to write can fail at
once with "database is locked" when another process wrote in between, whatever the
busy timeout; an immediate one waits its turn at the start instead.

A SQLite file is opened without being created unless the engine is made to create it
(``srz init``, ``srz demo``): a mistyped path must not leave an empty database behind.
A file in a read-only directory cannot be opened as usual (WAL needs its -shm file
there); it is then opened immutable, read-only, so that listings and reports still work
and a write is refused with the read-only message.

Driver errors inside a session become ``DatabaseError`` (``store.failures``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from srz_tracker.errors import ConfigError, DatabaseError
from srz_tracker.store.failures import database_errors

BUSY_TIMEOUT_MS = 30_000

_engines: dict[tuple[str, bool], Engine] = {}


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


def _sqlite_file_open(engine: Engine, path: Path, create: bool) -> None:
    """Open ``path`` through a URI so that the mode is ours: ``rwc`` creates, ``rw``
    does not; ``immutable`` is the last resort for a read-only directory."""

    @event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        cparams["uri"] = True
        base = "file:" + urllib.parse.quote(str(path))
        conn = dialect.loaded_dbapi.connect(f"{base}?mode={'rwc' if create else 'rw'}", **cparams)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # opens the file for real
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            wal = path.with_name(path.name + "-wal")
            # Immutable ignores the -wal file, so only when there is none to miss.
            if "unable to open" not in str(exc) or not path.is_file() or wal.exists():
                raise
        return dialect.loaded_dbapi.connect(f"{base}?mode=ro&immutable=1", **cparams)


def make_engine(url: str, create: bool = True) -> Engine:
    """An engine for ``url``. With ``create=False`` a SQLite file that does not exist is
    an error (``DatabaseError``, kind ``missing``) and nothing is created."""
    try:
        normalized = _normalize_url(url)
        parsed = make_url(normalized)
    except Exception as exc:
        raise ConfigError(f"无效的数据库 URL：{exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        path: Path | None = None
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser().absolute()
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise DatabaseError(
                    f"数据库文件不存在：{path}（请检查 --db 或配置，或先运行 srz init 创建）",
                    "missing",
                )
        engine = create_engine(normalized, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _sqlite_setup(engine)
        if path is not None:
            _sqlite_file_open(engine, path, create)
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


def get_engine(url: str, create: bool = True) -> Engine:
    """One engine per URL (and ``create``) per process."""
    key = (url, create)
    if key not in _engines:
        _engines[key] = make_engine(url, create)
    return _engines[key]


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextlib.contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with database_errors(), Session(engine, expire_on_commit=False) as session:
        yield session


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    # database_errors() outermost: the rollback has run when the error is translated.
    with database_errors(), Session(bind, expire_on_commit=False) as session, session.begin():
        yield session
