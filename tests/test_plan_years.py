"""Plan years that end (issue 10): a loaded year is open until it closes, by its date in a
pass or by ``srz plan close``; its open tasks then become final (``overdue_at_close``),
nothing more is planned or sent for them, and the office gets one closing summary with
the year's report attached as XLSX. The bundled plan and sample directory (``srz demo``
at 2023-11-01), passes at fixed instants, mail through a real SMTP server on loopback.
Real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text, update

from srz_tracker.clock import parse_now
from srz_tracker.config import Settings, load_settings
from srz_tracker.daemon.status import collect_status
from srz_tracker.kinds import NotificationKind, TaskStatus
from srz_tracker.notify.passes import run_pass, startup_warnings
from srz_tracker.notify.planner import plan_notifications
from srz_tracker.store import db, migrate
from srz_tracker.store.models import AuditEvent, Notification, PlanYear, Task
from srz_tracker.timing.workdays import WorkdayCalendar
from tests.smtp_server import SmtpTestServer
from tests.srz_cli_helpers import BUNDLED_PLAN, NN_DUAL, NN_PLAIN, row_counts, srz, srz_json

OFFICE = "office@gx-agri.example.org"
CLOSES = "2024-04-01T09:30"  # 03-31 was the last day; 04-01 is a Monday, the send hour 09:00


def settings_for(db_url: str, server: SmtpTestServer) -> Settings:
    env = {
        "SRZ_SMTP_HOST": server.host,
        "SRZ_SMTP_PORT": str(server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_MAIL_FROM": "srz@gx-agri.example.org",
    }
    return load_settings(db_url=db_url, environ=env)


def a_pass(db_url: str, server: SmtpTestServer, when: str, weekly: bool = False) -> dict[str, Any]:
    engine = db.get_engine(db_url)
    return run_pass(engine, settings_for(db_url, server), parse_now(when), weekly=weekly).as_dict()


def summaries(server: SmtpTestServer) -> list[Any]:
    return [m.message for m in server.messages if "年度总结" in m.message["Subject"]]


def years(db_url: str, now: str = "2023-11-01T10:00") -> list[dict[str, Any]]:
    return srz_json(db_url, "plan", "list", "--now", now)


def statuses(db_url: str) -> dict[str, int]:
    with db.read_session(db.get_engine(db_url)) as session:
        return dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())


# -- the plan years and srz plan list ---------------------------------------------------


def test_a_loaded_year_is_open_with_the_files_closing_date(loaded: str) -> None:
    [year] = years(loaded)
    assert (year["plan"], year["year"], year["state"]) == ("gx-srz-2023", 2023, "open")
    assert year["closes_on"] == "2024-03-31" and year["closed_at"] is None
    # At 2023-11-01 every task of the demo is open; those due by 10-31 are overdue.
    assert year["tasks"] == year["open"] == sum(statuses(loaded).values())
    assert 0 < year["overdue"] < year["open"] and year["done"] == 0
    srz(loaded, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--now", "2023-11-01T10:00")
    listed = years(loaded)
    assert [(y["year"], y["state"], y["closes_on"]) for y in listed] == [
        (2023, "open", "2024-03-31"),
        (2024, "open", "2025-03-31"),
    ]
    table = srz(loaded, "plan", "list", "--now", "2023-11-01T10:00").stdout
    assert "方案年度" in table and "进行中" in table and "2025-03-31（之后自动结束）" in table


def test_the_migration_gives_every_loaded_year_a_row(engine: Any) -> None:
    """A database of 0002 with a plan loaded for two years: 0003 makes both open rows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.execute(
            text(
                "INSERT INTO plans (id, key, title, year, timezone, source_path, "
                "content_sha256, loaded_at, document) VALUES (7, 'p', 't', 2023, "
                "'Asia/Shanghai', 'f.yaml', 'x', '2023-01-01 00:00:00', :doc)"
            ),
            {"doc": '{"years": [2023, 2024]}'},
        )
    migrate.upgrade(engine)
    with db.read_session(engine) as session:
        rows = session.execute(
            select(PlanYear.plan_id, PlanYear.year, PlanYear.state, PlanYear.closes_on).order_by(
                PlanYear.year
            )
        ).all()
    assert [tuple(r) for r in rows] == [(7, 2023, "open", None), (7, 2024, "open", None)]


# -- closing by hand ------------------------------------------------------------------------


def test_closing_by_hand_refuses_what_it_cannot_do_and_writes_nothing(loaded: str) -> None:
    before = row_counts(loaded)
    result = srz(loaded, "plan", "close", "gx-srz-2023", "--now", "2023-12-20T10:00", code=2)
    assert "2023 年度尚未过完" in result.stderr and "2024 年 1 月 1 日起才能结束" in result.stderr
    result = srz(loaded, "plan", "close", "no-such-plan", "--now", "2024-02-01T10:00", code=2)
    assert "未知的方案 'no-such-plan'" in result.stderr and "gx-srz-2023" in result.stderr
    result = srz(loaded, "plan", "close", "gx-srz-2023", "--year", "2030", code=2)
    assert "没有 2030 年度" in result.stderr
    assert row_counts(loaded) == before


def test_closing_by_hand_makes_the_open_tasks_final(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    application = srz_json(
        loaded, "tasks", "--institution", NN_PLAIN, "--obligation", "certification-application"
    )[0]
    srz(loaded, "done", str(application["id"]), "--evidence", "受理号 1", "--on", "2023-11-20",
        "--now", "2023-11-20T10:00")  # fmt: skip
    a_pass(loaded, smtp_server, "2024-01-02T09:30")  # escalations of the 12-30 report
    # Planned and not yet sent when the year closes: these rows must never go out.
    with db.write_session(db.get_engine(loaded)) as session:
        plan_notifications(session, parse_now("2024-01-31T09:30"), WorkdayCalendar())
    with db.read_session(db.get_engine(loaded)) as session:
        waiting = set(
            session.scalars(select(Notification.id).where(Notification.status == "pending"))
        )
    assert waiting
    open_before = statuses(loaded)[TaskStatus.OPEN]

    out = srz(loaded, "plan", "close", "gx-srz-2023", "--now", "2024-02-01T10:00").stdout
    assert f"已结束方案 gx-srz-2023 的 2023 年度：{open_before} 项未完成任务" in out
    assert "年度总结邮件（附绩效自评表）将在下一次提醒时发给处室 1 位联系人" in out
    after = statuses(loaded)
    assert after.get(TaskStatus.OPEN, 0) == 0
    assert after[TaskStatus.OVERDUE_AT_CLOSE] == open_before and after[TaskStatus.DONE] == 1
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        final = session.scalars(select(Task).where(Task.status == "overdue_at_close")).all()
        assert all(t.next_step_at is None for t in final)
        # Audited, one event per task, and one for the year.
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "overdue_at_close"))
        assert {e.task_id for e in events} == {t.id for t in final}
        [year_event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "close_year"))
        assert year_event.detail["how"] == "hand" and year_event.actor == "测试员"
        assert {
            status
            for status in session.scalars(
                select(Notification.status).where(Notification.id.in_(waiting))
            )
        } == {"cancelled"}
        [summary_row] = session.scalars(
            select(Notification).where(Notification.status == "pending")
        )
        assert (summary_row.kind, summary_row.recipient_email) == ("year_closed", OFFICE)
    [year] = years(loaded, "2024-02-01T10:00")
    assert (year["state"], year["closed_by"], year["overdue_at_close"]) == (
        "closed",
        "测试员",
        open_before,
    )
    assert "已结束" in srz(loaded, "plan", "list", "--now", "2024-02-01T10:00").stdout

    # A final task is kept as the year left it; a new certificate adds nothing to 2023.
    task = srz_json(loaded, "tasks", "--institution", NN_DUAL, "--obligation", "proficiency-test")
    before = row_counts(loaded)
    for args in (["done", str(task[0]["id"]), "--evidence", "x"], ["reopen", str(task[0]["id"])]):
        result = srz(loaded, *args, "--now", "2024-02-02T10:00", code=2)
        assert "所属的方案年度已经结束" in result.stderr
    assert row_counts(loaded) == before
    srz(loaded, "cert", "set", NN_PLAIN, "CATL", "certified", "--now", "2024-02-02T10:00")
    srz(loaded, "cert", "set", NN_PLAIN, "CMA", "certified", "--now", "2024-02-02T10:00")
    assert statuses(loaded) == after
    again = srz(loaded, "plan", "close", "gx-srz-2023", "--now", "2024-02-03T10:00", code=2)
    assert "均已结束" in again.stderr

    # The summary goes out with the next pass, once; then nothing more about 2023.
    smtp_server.reset()
    a_pass(loaded, smtp_server, "2024-02-05T09:30", weekly=True)
    [summary] = summaries(smtp_server)
    assert "由测试员执行 srz plan close 结束" in summary.get_body(("plain",)).get_content()
    assert len(smtp_server.messages) == 1  # no reminder, no escalation, no weekly summary
    smtp_server.reset()
    for day in ("2024-02-06T09:30", "2024-02-12T09:30", "2024-04-01T09:30"):
        a_pass(loaded, smtp_server, day, weekly=True)
    assert smtp_server.messages == []


# -- closing by date ------------------------------------------------------------------------


def test_a_pass_closes_the_year_after_its_date_and_the_office_gets_one_summary(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    from openpyxl import load_workbook

    # Some done (one of them late), the rest left open.
    nanning = srz_json(loaded, "tasks", "--city", "南宁市", "--now", "2023-11-01T10:00")
    report = next(t for t in nanning if t["obligation"] == "city-summary-report")
    drill = next(t for t in nanning if t["obligation"] == "skills-drill")
    srz(loaded, "done", str(report["id"]), "--evidence", "南农函〔2023〕88号",
        "--on", "2023-12-28", "--now", "2023-12-28T10:00")  # fmt: skip
    srz(loaded, "done", str(drill["id"]), "--evidence", "总结", "--on", "2024-01-05",
        "--now", "2024-01-05T10:00")  # fmt: skip
    for when in ("2024-03-29T09:30", "2024-03-31T23:59", "2024-04-01T08:59"):
        counts = a_pass(loaded, smtp_server, when)
        assert counts["years_closed"] == 0
    assert years(loaded, "2024-04-01T08:59")[0]["state"] == "open"
    smtp_server.reset()

    counts = a_pass(loaded, smtp_server, CLOSES)
    assert counts["years_closed"] == 1 and counts["tasks"] == 0
    [summary] = summaries(smtp_server)
    assert len(smtp_server.messages) == 1
    assert [a for _n, a in email.utils.getaddresses([summary["To"]])] == [OFFICE]
    text_part = summary.get_body(("plain",)).get_content()
    assert "2023 年度已于2024年4月1日结束" in text_part
    assert "方案文件设定的年度结束日期为2024年3月31日" in text_part
    # Per city: done, on time, late, not done (南宁市: the report on time, the drill late).
    nanning_line = next(line for line in text_part.splitlines() if "南宁市：" in line)
    assert "已完成 2 项（按期 1 项，逾期完成 1 项）" in nanning_line
    assert f"未完成 {len(nanning) - 2} 项" in nanning_line
    [attachment] = list(summary.iter_attachments())
    assert attachment.get_filename().endswith("项目绩效自评表.xlsx")
    assert attachment.get_content_type().endswith("spreadsheetml.sheet")
    workbook = load_workbook(io.BytesIO(attachment.get_content()))
    sheet = workbook["绩效自评"]
    assert sheet["A1"].value.startswith("2023年") and sheet["A7"].value == "南宁市"
    assert "年度已结束" in sheet["A2"].value

    # The report of the year counts the final tasks as not done.
    data = srz_json(loaded, "report", "--year", "2023", "--now", CLOSES)
    row = next(c for c in data["cities"] if c["city"] == "南宁市")
    assert (row["completion"]["tasks"], row["completion"]["done"]) == (len(nanning), 2)
    assert row["completion"]["overdue"] == len(nanning) - 2
    assert row["completion"]["verdict"] == "未达标"

    # Sent once: later passes (and a pass at the same instant) add nothing about 2023.
    smtp_server.reset()
    for when in (CLOSES, "2024-04-02T09:30", "2024-04-08T09:30", "2024-12-02T09:30"):
        counts = a_pass(loaded, smtp_server, when, weekly=True)
        assert counts["years_closed"] == 0 and counts["planned"] == 0
    assert smtp_server.messages == []
    with db.read_session(db.get_engine(loaded)) as session:
        kinds = session.scalars(
            select(Notification.kind).where(Notification.kind == NotificationKind.YEAR_CLOSED)
        ).all()
    assert kinds == ["year_closed"]


def test_the_closing_waits_for_the_next_workday(loaded: str, smtp_server: SmtpTestServer) -> None:
    """2024's last day is 2025-03-31 (a Monday): it closes on Tuesday at the send hour; a
    closing date before a weekend closes on the Monday."""
    with db.write_session(db.get_engine(loaded)) as session:
        session.execute(update(PlanYear).values(closes_on=dt.date(2024, 3, 29)))  # a Friday
    assert a_pass(loaded, smtp_server, "2024-03-30T09:30")["years_closed"] == 0
    assert a_pass(loaded, smtp_server, "2024-03-31T12:00")["years_closed"] == 0
    assert a_pass(loaded, smtp_server, "2024-04-01T09:00")["years_closed"] == 1


# -- the warnings of srz status and srz run ----------------------------------------------


def test_status_warns_when_every_loaded_year_has_ended(loaded: str) -> None:
    engine = db.get_engine(loaded)
    settings = load_settings(db_url=loaded, environ={})
    mid_year = startup_warnings(engine, settings, parse_now("2023-06-01T10:00"))
    assert not any("方案年度均已结束" in w for w in mid_year)
    ended = startup_warnings(engine, settings, parse_now("2024-02-01T10:00"))
    [warning] = [w for w in ended if "方案年度均已结束" in w]
    assert "gx-srz-2023 2023 年度（年度已过，尚待结束）" in warning
    assert "--year 2024 加载本年度" in warning and str(BUNDLED_PLAN) in warning
    data = collect_status(engine, settings, parse_now("2024-02-01T10:00"))
    assert warning in data["warnings"]
    # srz status reads the real clock, long after 2023.
    result = srz(loaded, "status", code=3)
    assert "警告：所有已加载的方案年度均已结束" in result.stderr
    # Loading this year's obligations silences it.
    srz(loaded, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--now", "2024-02-01T10:00")
    assert not any(
        "方案年度均已结束" in w
        for w in startup_warnings(engine, settings, parse_now("2024-02-01T10:00"))
    )


def test_status_warns_in_the_autumn_when_next_years_calendar_is_unknown(loaded: str) -> None:
    engine = db.get_engine(loaded)
    settings = load_settings(db_url=loaded, environ={})
    calendar = "2099 年的法定节假日安排尚无数据"
    assert not any(
        calendar in w for w in startup_warnings(engine, settings, parse_now("2098-09-30T10:00"))
    )
    assert any(
        calendar in w for w in startup_warnings(engine, settings, parse_now("2098-10-01T10:00"))
    )
    # chinesecalendar knows 2024 (the year after 2023): no warning in 2023's autumn.
    assert not any(
        "2024 年的法定节假日安排" in w
        for w in startup_warnings(engine, settings, parse_now("2023-11-01T10:00"))
    )


def test_srz_run_warns_at_start(loaded: str) -> None:
    """``srz run`` (here ``--once``, a real process at the real clock) says it too."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    srz_exe = str(Path(sys.executable).with_name("srz"))
    env = {**os.environ, "SRZ_TRANSPORT": "null", "SRZ_USER": "测试员"}
    result = subprocess.run(
        [srz_exe, "--db", loaded, "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "警告：所有已加载的方案年度均已结束" in result.stderr
    # Its pass closed 2023 (its date is long past) and planned the office's summary.
    [year] = years(loaded)
    assert year["state"] == "closed" and year["closed_by"] == "system"
