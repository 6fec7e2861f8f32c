"""No traceback reaches a user (issue 11, part 5).

Database errors (read-only, full, value too long, NUL byte, connection lost or refused)
and out-of-range dates are the product's own Chinese messages with exit 2, and the
database is exactly as before. Listings and reports work on a read-only database; a
missing SQLite file is reported, not created.

A read-only SQLite file cannot be made with chmod while the tests run as root (root
writes anyway); they then run the command in a private mount namespace with the file
or its directory bind-mounted read-only, which is what a read-only disk looks like.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from srz_tracker.errors import DatabaseError
from srz_tracker.store import db
from srz_tracker.store.failures import as_database_error
from srz_tracker.store.models import Base
from tests.srz_cli_helpers import BUNDLED_PLAN, NOW, srz, srz_json

# --------------------------------------------------------------------------- helpers


def dump(db_url: str) -> dict[str, list[str]]:
    """Every row of every table: equal before and after means nothing was written."""
    engine = db.get_engine(db_url)
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def _clean(result: Any) -> None:
    output = result.output if hasattr(result, "output") else result.stdout + result.stderr
    assert "Traceback" not in output, output
    for leak in ("sqlalchemy.", "psycopg.", "sqlite3.", "Background on this error"):
        assert leak not in output, output


def _open_task(db_url: str) -> int:
    return int(srz_json(db_url, "tasks", "--status", "open", "--now", NOW)[0]["id"])


def _done(db_url: str, task: int, *extra: str, code: int = 0) -> Any:
    return srz(db_url, "done", str(task), "--evidence", "x", "--now", NOW, *extra, code=code)


@pytest.fixture
def patched_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Listeners to put on every engine the CLI makes during the test: (event, fn)."""
    listeners: list[Any] = []
    original = db.make_engine

    def make_engine(url: str, create: bool = True) -> Engine:
        engine = original(url, create)
        for name, fn in listeners:
            event.listen(engine, name, fn)
        return engine

    db.dispose_all()
    monkeypatch.setattr(db, "make_engine", make_engine)
    yield listeners
    db.dispose_all()


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "--now", "0001-01-01"],
        ["tasks", "--now", "9999-12-31T23:59"],
        ["report", "--now", "9999-12-31T23:59"],
        ["report", "--year", "0", "--now", NOW],
        ["tasks", "--due-before", "9999-12-31"],
        ["preview", "--from", "2023-01-01", "--to", "9999-12-31"],
        ["remind", "--dry-run", "--now", "0001-01-01"],
    ],
    ids=[
        "now-year-1",
        "now-year-9999",
        "report-now",
        "report-year-0",
        "due-before",
        "preview",
        "remind",
    ],
)
def test_out_of_range_dates_are_refused(demo_db_url: str, args: list[str]) -> None:
    result = srz(demo_db_url, *args, code=2)
    _clean(result)
    assert "超出可用范围：年份应在 1970 至 2100 之间" in result.stderr


def test_out_of_range_dates_in_a_writing_command_write_nothing(demo_db_url: str) -> None:
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    for extra in (["--on", "0001-01-01"], ["--now", "9999-12-31T23:59"]):
        result = srz(demo_db_url, "done", str(task), "--evidence", "x", *extra, code=2)
        _clean(result)
        assert "年份应在 1970 至 2100 之间" in result.stderr
    result = srz(demo_db_url, "extend", str(task), "--to", "9999-12-31", "--reason", "x", code=2)
    assert "年份应在 1970 至 2100 之间" in result.stderr
    assert dump(demo_db_url) == before


# --------------------------------------------------------------------------- missing file


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "srz.db"
    url = f"sqlite:///{path}"
    for args in (["tasks"], ["report", "--now", NOW], ["done", "1", "--evidence", "x"]):
        result = srz(url, *args, code=2)
        _clean(result)
        assert f"数据库文件不存在：{path}" in result.stderr and "srz init" in result.stderr
    assert not path.parent.exists()
    srz(url, "init")  # init (and demo) still create it
    assert path.is_file()


def test_an_unreachable_server_is_a_message(tmp_path: Path) -> None:
    result = srz("postgresql+psycopg://srz@127.0.0.1:1/srz", "tasks", code=2)
    _clean(result)
    assert "无法连接数据库" in result.stderr


# --------------------------------------------------------------------------- read-only


def _srz_subprocess(db_url: str, *args: str, read_only: Path | None = None) -> Any:
    """``srz`` in a process of its own; with ``read_only`` that file or directory is
    read-only for it (a read-only bind mount as root, chmod otherwise)."""
    cmd = [sys.executable, "-c", "from srz_tracker.cli import main; main()", "--db", db_url]
    cmd += list(args)
    env = {**os.environ, "COLUMNS": "240", "SRZ_USER": "测试员"}
    env.pop("SRZ_CONFIG", None)
    if read_only is not None and os.geteuid() == 0:
        script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, str(read_only), *cmd]
    saved: list[tuple[Path, int]] = []
    if read_only is not None and os.geteuid() != 0:
        for p in [read_only, *(read_only.iterdir() if read_only.is_dir() else [])]:
            saved.append((p, p.stat().st_mode))
            p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=Path.cwd(), timeout=120
        )
    finally:
        for p, mode in reversed(saved):
            p.chmod(mode)


@pytest.fixture(scope="session")
def can_make_read_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    if os.geteuid() != 0:
        return
    probe = tmp_path_factory.mktemp("ro-probe")
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && ! touch "$0/x"'
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a read-only file")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, str(probe)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a read-only file")


@pytest.mark.parametrize("what", ["file", "directory"])
def test_listings_and_reports_work_on_a_read_only_sqlite_database(
    demo_db_url: str, what: str, can_make_read_only: None
) -> None:
    if not demo_db_url.startswith("sqlite"):
        pytest.skip("SQLite files; PostgreSQL: test_read_only_postgresql_transactions")
    path = Path(make_url(demo_db_url).database or "")
    task = _open_task(demo_db_url)
    db.dispose_all()
    before = dump(demo_db_url)
    db.dispose_all()
    target = path if what == "file" else path.parent
    listed = _srz_subprocess(
        demo_db_url, "tasks", "--now", NOW, "--format", "json", read_only=target
    )
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) > 50
    report = _srz_subprocess(
        demo_db_url, "report", "--now", NOW, "--format", "json", read_only=target
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["cities"]
    refused = _srz_subprocess(
        demo_db_url, "done", str(task), "--evidence", "x", "--now", NOW, read_only=target
    )
    assert refused.returncode == 2, refused.stderr
    _clean(refused)
    assert "错误：数据库是只读的" in refused.stderr and "未写入任何数据" in refused.stderr
    assert dump(demo_db_url) == before


def test_read_only_postgresql_transactions(demo_db_url: str) -> None:
    if not demo_db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL; SQLite: the read-only file tests above")
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    read_only = (
        make_url(demo_db_url)
        .update_query_dict({"options": "-c default_transaction_read_only=on"})
        .render_as_string(hide_password=False)
    )
    assert srz_json(read_only, "tasks", "--now", NOW)
    assert srz_json(read_only, "report", "--now", NOW)["cities"]
    result = _done(read_only, task, code=2)
    _clean(result)
    assert "错误：数据库是只读的" in result.stderr
    assert dump(demo_db_url) == before


def test_a_write_on_a_read_only_connection_is_the_read_only_message(
    demo_db_url: str, tmp_path: Path
) -> None:
    """The message itself, on a URL that opens the file read-only (no mount needed)."""
    if not demo_db_url.startswith("sqlite"):
        pytest.skip("SQLite URI; PostgreSQL: test_read_only_postgresql_transactions")
    path = make_url(demo_db_url).database
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert srz_json(url, "tasks", "--now", NOW)
    result = _done(url, task, code=2)
    _clean(result)
    assert "数据库是只读的" in result.stderr
    assert dump(demo_db_url) == before


# --------------------------------------------------------------------------- full disk


def test_a_full_disk_during_an_import_writes_nothing(
    demo_db_url: str, patched_engines: list[Any]
) -> None:
    if not demo_db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: a full server disk cannot be made in a test")
    before = dump(demo_db_url)
    db.dispose_all()

    def no_room(dbapi_conn: Any, _record: Any) -> None:
        # The file may not grow by one page: SQLite answers "database or disk is full".
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    patched_engines.append(("connect", no_room))
    # A year's tasks for every institution: far more than the free room in the last pages.
    result = srz(
        demo_db_url, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--now", NOW, code=2
    )
    _clean(result)
    assert "错误：数据库所在磁盘已满" in result.stderr and "未写入任何数据" in result.stderr
    patched_engines.clear()
    db.dispose_all()
    assert dump(demo_db_url) == before


# --------------------------------------------------------------------------- PostgreSQL data


def test_an_over_long_value_on_postgresql_is_a_message(demo_db_url: str) -> None:
    if not demo_db_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce VARCHAR lengths (part 1 of the issue checks them)")
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    result = _done(demo_db_url, task, "--by", "很长的名字" * 100, code=2)
    _clean(result)
    assert "错误：" in result.stderr
    assert dump(demo_db_url) == before


def test_a_nul_byte_on_postgresql_is_a_message(demo_db_url: str) -> None:
    if not demo_db_url.startswith("postgresql"):
        pytest.skip("SQLite stores NUL bytes in text")
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    result = _done(demo_db_url, task, "--note", "已报送\x00", code=2)
    _clean(result)
    assert "错误：" in result.stderr
    assert dump(demo_db_url) == before


def test_a_connection_lost_mid_command_is_a_message(
    demo_db_url: str, patched_engines: list[Any]
) -> None:
    if not demo_db_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose")
    task = _open_task(demo_db_url)
    before = dump(demo_db_url)
    admin = db.make_engine(demo_db_url)

    def kill_before_first_write(conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    patched_engines.append(("before_cursor_execute", kill_before_first_write))
    db.dispose_all()  # the next engine gets the listener
    result = _done(demo_db_url, task, code=2)
    _clean(result)
    assert "错误：与数据库的连接" in result.stderr and "未写入任何数据" in result.stderr
    patched_engines.clear()
    admin.dispose()
    db.dispose_all()
    assert dump(demo_db_url) == before


# --------------------------------------------------------------------------- the translation


def _raise_in_write_session(engine: Engine, statement: str, **params: Any) -> DatabaseError:
    with pytest.raises(DatabaseError) as caught, db.write_session(engine) as session:
        session.execute(text(statement), params)
    return caught.value


def test_driver_errors_become_database_errors_of_their_kind(engine: Engine) -> None:
    if db.is_sqlite(engine):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = engine.url.database
        ro = db.make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        error = _raise_in_write_session(ro, "INSERT INTO cities (name) VALUES ('x')")
        ro.dispose()
        assert error.kind == "readonly" and "数据库是只读的" in str(error)
        return
    error = _raise_in_write_session(
        engine, "INSERT INTO cities (name) VALUES (:name)", name="x" * 100
    )
    assert error.kind == "too_long" and "有内容超过数据库允许的长度" in str(error)
    assert "character varying(64)" in str(error)  # the database's own words, for the office
    error = _raise_in_write_session(
        engine, "INSERT INTO cities (name) VALUES (:name)", name="a\x00b"
    )
    assert error.kind == "bad_text" and "NUL" in str(error)
    with db.read_session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM cities")).scalar() == 0


def test_integrity_errors_are_left_to_their_callers(engine: Engine) -> None:
    with db.write_session(engine) as session:
        session.execute(text("INSERT INTO cities (name) VALUES ('南宁市')"))
    with pytest.raises(IntegrityError), db.write_session(engine) as session:
        session.execute(text("INSERT INTO cities (name) VALUES ('南宁市')"))
    assert as_database_error(ValueError("x")) is None
