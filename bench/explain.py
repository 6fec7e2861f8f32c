"""The query plans of a pass: every statement a pass runs is captured as it goes to the
database, then shown with ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN`` (PostgreSQL).
A full scan of one of the tables that grow with history (tasks, notifications,
task_occurrences, audit_events) is flagged."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

GROWING = ("tasks", "notifications", "task_occurrences", "audit_events")


@dataclass
class Captured:
    statements: dict[str, Any] = field(default_factory=dict)  # sql -> first parameters


@contextlib.contextmanager
def capture(engine: Engine) -> Iterator[Captured]:
    got = Captured()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if head in ("SELECT", "UPDATE", "DELETE", "WITH") and statement not in got.statements:
            got.statements[statement] = parameters[0] if many and parameters else parameters

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield got
    finally:
        event.remove(engine, "before_cursor_execute", before)


@dataclass
class Plan:
    sql: str
    plan: list[str]
    full_scans: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"sql": self.sql, "plan": self.plan, "full_scans": self.full_scans}


def _one_line(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def explain(engine: Engine, captured: Captured) -> list[Plan]:
    out = []
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for sql, params in captured.statements.items():
            if "alembic_version" in sql or "daemon_lease" in sql:
                continue
            cur = raw.cursor()
            try:
                if sqlite:
                    cur.execute("EXPLAIN QUERY PLAN " + sql, params)
                    lines = [str(r[3]) for r in cur.fetchall()]
                    scans = [
                        line
                        for line in lines
                        if re.match(rf"SCAN ({'|'.join(GROWING)})\b", line) and "USING" not in line
                    ]
                else:
                    cur.execute("EXPLAIN " + sql, params)
                    lines = [str(r[0]) for r in cur.fetchall()]
                    scans = [
                        line.strip()
                        for line in lines
                        if re.search(rf"Seq Scan on ({'|'.join(GROWING)})\b", line)
                    ]
            finally:
                cur.close()
            out.append(Plan(_one_line(sql), lines, scans))
        if not sqlite:
            raw.rollback()
    return out


def format_plans(plans: list[Plan], title: str) -> str:
    lines = [f"-- {title}: {len(plans)} statement(s)"]
    for p in plans:
        sql = p.sql if len(p.sql) <= 300 else p.sql[:297] + "..."
        lines.append(f"{sql}")
        for line in p.plan:
            lines.append(f"    {line}")
        if p.full_scans:
            lines.append(f"    !! full scan of a growing table: {'; '.join(p.full_scans)}")
    return "\n".join(lines)
