"""What the database refused, in the product's words.

A read-only or full SQLite file, a value too long or a NUL byte on PostgreSQL, a server
that went away: each reaches the user as a ``DatabaseError`` (exit 2) saying what
happened and that nothing was written, never as a driver traceback. The transaction
that failed is rolled back before the error leaves ``write_session``.

Integrity errors are not translated: callers catch them on purpose (two daemons
inserting the lease row), and one that escapes is a bug worth its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

from srz_tracker.errors import DatabaseError

NOTHING_WRITTEN = "本次操作未写入任何数据"

# (kind, text the driver's message contains, what the user reads). SQLite and psycopg
# messages; PostgreSQL's are checked by SQLSTATE first.
_BY_TEXT: tuple[tuple[str, str, str], ...] = (
    ("readonly", "readonly database", "数据库是只读的（数据库文件或其所在目录不可写）"),
    ("readonly", "read-only transaction", "数据库是只读的（只读事务或只读副本）"),
    ("full", "database or disk is full", "数据库所在磁盘已满（或已达数据库大小上限）"),
    ("full", "no space left", "数据库所在磁盘已满"),
    ("bad_text", "nul (0x00)", "内容含有 NUL 字符（\\x00），数据库无法保存"),
    ("too_long", "value too long", "有内容超过数据库允许的长度"),
    ("busy", "database is locked", "数据库正被其他进程占用，等待超时，请稍后重试"),
    ("missing", "unable to open database file", "无法打开数据库文件（文件不存在或无权访问）"),
    ("io", "disk i/o error", "读写数据库文件出错（磁盘 I/O 错误）"),
    ("corrupt", "malformed", "数据库文件已损坏"),
    ("corrupt", "file is not a database", "该文件不是 SQLite 数据库"),
)
_BY_SQLSTATE: tuple[tuple[str, str, str], ...] = (
    ("too_long", "22001", "有内容超过数据库允许的长度"),
    ("bad_text", "22021", "内容含有数据库无法保存的字符"),
    ("bad_text", "22P05", "内容含有数据库无法保存的字符"),
    ("full", "53100", "数据库服务器磁盘已满"),
    ("full", "53", "数据库服务器资源不足"),
    ("readonly", "25006", "数据库是只读的（只读事务或只读副本）"),
    ("connection", "08", "与数据库的连接中断或无法建立"),
    ("connection", "57P", "与数据库的连接被服务器断开（服务器关闭、重启或管理员终止了连接）"),
)
_CONNECTION_HINTS = (
    "connection",
    "server closed",
    "could not connect",
    "terminating",
    "timeout expired",
    "network",
)


def _reason(exc: sa_exc.DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


def as_database_error(exc: BaseException) -> DatabaseError | None:
    """The ``DatabaseError`` for a driver error SQLAlchemy raised, or None when ``exc``
    is not one this module speaks for."""
    if isinstance(exc, sa_exc.IntegrityError) or not isinstance(exc, sa_exc.DBAPIError):
        return None
    # Operational, data and interface errors are about the database or the data, never
    # the program; other classes (internal, programming) only when known below, e.g. a
    # read-only transaction (SQLSTATE 25006) that psycopg calls an InternalError.
    always = isinstance(exc, sa_exc.OperationalError | sa_exc.DataError | sa_exc.InterfaceError)
    always = always or bool(getattr(exc, "connection_invalidated", False))
    reason = _reason(exc)
    lowered = reason.lower()
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    found: tuple[str, str] | None = None
    for kind, prefix, message in _BY_SQLSTATE:
        if sqlstate and sqlstate.startswith(prefix):
            found = (kind, message)
            break
    if found is None:
        for kind, needle, message in _BY_TEXT:
            if needle in lowered:
                found = (kind, message)
                break
    if (
        found is None
        and always
        and (
            isinstance(exc, sa_exc.InterfaceError)
            or getattr(exc, "connection_invalidated", False)
            or any(hint in lowered for hint in _CONNECTION_HINTS)
        )
    ):
        found = ("connection", "与数据库的连接中断或无法建立")
    if found is None and not always:
        return None
    kind, message = found or ("other", "数据库报错")
    return DatabaseError(f"{message}：{NOTHING_WRITTEN}（数据库的原话：{reason}）", kind)


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Turn a driver error raised inside the block into a ``DatabaseError``."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        translated = as_database_error(exc)
        if translated is None:
            raise
        raise translated from exc
