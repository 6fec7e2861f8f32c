"""The Alembic head this code expects; a test keeps it equal to the migrations' head.
Kept apart so that everyday commands can check the schema without importing Alembic."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from srz_tracker.errors import ConfigError

SCHEMA_HEAD = "0003"


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is unreachable, empty or of another version."""
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        url = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"无法连接数据库 {url}：{reason}") from None
    with conn:
        try:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            version = None
    if version is None:
        raise ConfigError("数据库尚未初始化：请先运行 srz init")
    if version != SCHEMA_HEAD:
        raise ConfigError(
            f"数据库结构版本为 {version}，本程序需要 {SCHEMA_HEAD}：请运行 srz init 升级"
        )
