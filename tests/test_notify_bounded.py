"""Bounded reminders (issue 10): escalation repeats stop after ``repeat_max``; a digest lists
the most urgent items in full and attaches the whole list; no email is over 256 KB;
a late first pass writes one ``skipped`` row per task and step; and a scripted run over
three simulated plan years (passes day by day at 09:30, in process) keeps every rule.
Pure timing, then the bundled plan and sample directory on real SQLite and PostgreSQL
with mail through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from srz_tracker.clock import local_date, parse_now
from srz_tracker.config import Settings, load_settings
from srz_tracker.errors import PlanError
from srz_tracker.kinds import NotificationKind, PlanYearState, TaskStatus
from srz_tracker.mail.context import MessagePlan, build_context
from srz_tracker.mail.render import Renderer
from srz_tracker.notify.compose import MAX_EMAIL_BYTES
from srz_tracker.notify.passes import make_calendar, run_pass
from srz_tracker.plan.schema import load_plan_file
from srz_tracker.store import db
from srz_tracker.store.models import (
    City,
    Contact,
    Notification,
    Obligation,
    Plan,
    PlanYear,
    Task,
)
from srz_tracker.tasks.ops import mark_done
from srz_tracker.tasks.years import task_year
from srz_tracker.timing.steps import NEEDS_PLANNING, Policy, TaskTiming, decide, steps_for
from srz_tracker.timing.workdays import WorkdayCalendar
from tests.smtp_server import SmtpTestServer
from tests.srz_cli_helpers import BUNDLED_PLAN, srz

BEIJING = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkdayCalendar()
CONFIGURED = {"E1", "E7"}  # the bundled plan's escalations; the repeats come after


def settings_for(db_url: str, server: SmtpTestServer, **env: str) -> Settings:
    environ = {
        "SRZ_SMTP_HOST": server.host,
        "SRZ_SMTP_PORT": str(server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_MAIL_FROM": "srz@gx-agri.example.org",
        **env,
    }
    return load_settings(db_url=db_url, environ=environ)


def labels(policy: Policy, due: str = "2023-06-30") -> list[str]:
    timing = TaskTiming(dt.date.fromisoformat(due))
    return [s.label for s in steps_for(timing, policy, CALENDAR, BEIJING)]


# -- repeat_max ---------------------------------------------------------------------------


def test_escalation_repeats_stop_after_repeat_max() -> None:
    default = labels(Policy.merge())
    assert [x for x in default if x.startswith("E")] == ["E1", "E7", "E14", "E21", "E28", "E35"]
    assert [x for x in labels(Policy.merge({"repeat_max": 0})) if x.startswith("E")] == [
        "E1",
        "E7",
    ]
    # The obligation's own policy wins over the plan's.
    merged = Policy.merge({"repeat_max": 1}, {"repeat_max": 2, "repeat_every": 10})
    assert [x for x in labels(merged) if x.startswith("E")] == ["E1", "E7", "E17", "E27"]


def test_the_last_step_is_history_once_a_repeat_would_have_come() -> None:
    policy = Policy.merge()
    steps = steps_for(TaskTiming(dt.date(2023, 6, 30)), policy, CALENDAR, BEIJING)
    last = steps[-1]
    assert last.label == "E35"
    fresh = decide(steps, set(), last.send_at + dt.timedelta(days=6), policy.final_fresh)
    assert fresh.send == last and fresh.next_at is None
    stale = decide(steps, set(), last.send_at + dt.timedelta(days=8), policy.final_fresh)
    assert stale.send is None and stale.skipped[-1] == last


def test_the_plan_file_validates_repeat_max_and_digest_max_items(tmp_path: Path) -> None:
    spec = load_plan_file(BUNDLED_PLAN)
    assert spec.document["notifications"]["repeat_max"] == 4
    assert spec.document["notifications"]["digest_max_items"] == 30
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    cases = {
        "  repeat_max: 4 ": "  repeat_max: -1 ",
        "  digest_max_items: 30 ": "  digest_max_items: 0 ",
        "    evidence: 资金下达文件\n": "    evidence: 资金下达文件\n    notifications:\n"
        "      repeat_max: 2\n      digest_max_items: 5\n",
    }
    messages = []
    for old, new in cases.items():
        assert old in text
        path = tmp_path / "plan.yaml"
        path.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(PlanError) as raised:
            load_plan_file(path)
        messages += [str(p).split(": ", 1)[1] for p in raised.value.problems]
    assert messages == [
        "notifications.repeat_max 应不小于 0，而不是 -1",
        "notifications.digest_max_items 应不小于 1，而不是 0",
        "未知的键 'digest_max_items'（可用：escalations, reminders, repeat_every, "
        "repeat_max, send_hour）",
    ]


# -- the digest's limit, in memory ------------------------------------------------------------


def test_a_digest_lists_the_most_urgent_first() -> None:
    """Due today, then overdue by age (oldest first), then upcoming (soonest first)."""
    today = dt.date(2023, 12, 20)
    ob = Obligation(id=1, key="k", title="事项", clause="二", quote="原文", checkpoint=None)
    city = City(id=1, name="南宁市")
    plan_doc = {"plan": {"timezone": "Asia/Shanghai"}, "notifications": {"digest_max_items": 4}}
    offsets = [5, -3, 0, -40, 12, -10, 1]  # days from today
    rows, tasks = [], {}
    for n, offset in enumerate(offsets, start=1):
        due = today + dt.timedelta(days=offset)
        tasks[n] = Task(
            id=n, obligation=ob, city=city, institution=None, period=f"2023-{n}",
            due_on=due, required_count=1, done_count=0,
        )  # fmt: skip
        kind = NotificationKind.REMINDER if offset >= 0 else NotificationKind.ESCALATION_OFFICE
        rows.append(
            Notification(
                id=n, task_id=n, kind=kind, step="R0", recipient_email="o@example.org",
                recipient_name=None, recipient_field="to", payload={"role": "office"},
            )
        )  # fmt: skip
    now = dt.datetime(2023, 12, 20, 1, 30, tzinfo=dt.UTC)
    kind, context = build_context(MessagePlan("<m@x>", rows), tasks, plan_doc, now)
    assert kind == "digest"
    assert sorted(i["days_left"] for i in context["items"]) == [-40, -10, -3, 0]
    assert context["more"] == 3 and len(context["all_items"]) == 7
    assert context["attachment_name"] == "待办事项清单（2023年12月20日）.xlsx"
    # The settings' value wins over the plan's.
    _kind, wide = build_context(MessagePlan("<m@x>", rows), tasks, plan_doc, now, max_items=6)
    assert sorted(i["days_left"] for i in wide["items"]) == [-40, -10, -3, 0, 1, 5]
    _kind, whole = build_context(MessagePlan("<m@x>", rows), tasks, plan_doc, now, max_items=7)
    assert whole["more"] == 0 and whole["attachment_name"] is None
    rendered = Renderer(Path(__file__).resolve().parent.parent / "email_templates").render(
        kind, context
    )
    assert "共有 7 项事项尚未登记办结，以下列出其中最紧急的 4 项" in rendered.text
    assert "另有 3 项，见附件“待办事项清单（2023年12月20日）.xlsx”" in rendered.text
    assert "7 项事项待办" in rendered.subject


# -- a city of 300 open overdue tasks ------------------------------------------------------------


def add_overdue(db_url: str, city: str, n: int, due: dt.date) -> list[int]:
    """``n`` open tasks of ``city`` all due on ``due`` (periods of the report's year)."""
    with db.write_session(db.get_engine(db_url)) as session:
        ob = session.scalar(select(Obligation).where(Obligation.key == "city-hands-on-training"))
        city_id = session.scalar(select(City.id).where(City.name == city))
        stamp = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)
        tasks = [
            Task(
                obligation_id=ob.id, subject_type="city", subject_key=f"city:{city_id}",
                city_id=city_id, period=f"{due.year}-X{i:03d}", due_on=due, original_due_on=due,
                status="open", required_count=1, done_count=0, next_step_at=NEEDS_PLANNING,
                created_at=stamp, updated_at=stamp,
            )
            for i in range(n)
        ]  # fmt: skip
        session.add_all(tasks)
        session.flush()
        return [t.id for t in tasks]


def workbook_rows(part: Any) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(part.get_content())).active
    return [r for r in sheet.iter_rows(min_row=3, values_only=True) if r[0] is not None]


def test_a_city_with_300_overdue_tasks_gets_emails_under_256_kb(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    ids = add_overdue(loaded, "南宁市", 300, dt.date(2023, 12, 15))  # a Friday
    settings = settings_for(loaded, smtp_server)
    # Monday 12-18: the E1 of all 300 (to the leaders, contacts in copy) and the week's summary.
    run_pass(db.get_engine(loaded), settings, parse_now("2023-12-18T09:30"), weekly=True)
    assert smtp_server.messages
    assert max(len(m.raw) for m in smtp_server.messages) < MAX_EMAIL_BYTES
    [leaders] = [
        m.message for m in smtp_server.messages if "leader@nanning.example.org" in m.message["To"]
    ]
    text = leaders.get_body(("plain",)).get_content()
    total = int(re.search(r"共有 (\d+) 项事项尚未登记办结", text)[1])  # the 300 and a few
    assert total >= 300 and "以下列出其中最紧急的 30 项" in text
    assert text.count("srz done ") == 30 and f"另有 {total - 30} 项，见附件" in text
    [attachment] = list(leaders.iter_attachments())
    rows = workbook_rows(attachment)
    assert len(rows) == total and {f"srz done {i}" for i in ids} <= {r[10] for r in rows}
    [weekly] = [
        m.message
        for m in smtp_server.messages
        if "工作周报" in m.message["Subject"] and "南宁市" in m.message["Subject"]
    ]
    assert "逾期 3" in weekly["Subject"]  # 300 and more
    weekly_text = weekly.get_body(("plain",)).get_content()
    assert "见附件“待办事项清单（2023年12月18日）.xlsx”" in weekly_text
    assert len(workbook_rows(next(weekly.iter_attachments()))) >= 300


def test_a_digest_too_big_for_a_mailbox_lists_fewer_items_in_full(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    add_overdue(loaded, "南宁市", 300, dt.date(2023, 12, 15))
    settings = settings_for(loaded, smtp_server, SRZ_DIGEST_MAX_ITEMS="500")
    run_pass(db.get_engine(loaded), settings, parse_now("2023-12-18T09:30"), weekly=True)
    assert max(len(m.raw) for m in smtp_server.messages) < MAX_EMAIL_BYTES
    [leaders] = [
        m.message for m in smtp_server.messages if "leader@nanning.example.org" in m.message["To"]
    ]
    text = leaders.get_body(("plain",)).get_content()
    total = int(re.search(r"共有 (\d+) 项事项尚未登记办结", text)[1])
    listed = text.count("srz done ")
    assert 30 < listed < total and f"另有 {total - listed} 项，见附件" in text
    assert len(workbook_rows(next(leaders.iter_attachments()))) == total


# -- catch-up after downtime ---------------------------------------------------------------------


def test_a_late_first_pass_skips_one_row_per_task_and_step(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    settings = settings_for(loaded, smtp_server)
    counts = run_pass(db.get_engine(loaded), settings, parse_now("2023-12-20T09:30")).as_dict()
    with db.read_session(db.get_engine(loaded)) as session:
        skipped = session.execute(
            select(Notification.task_id, Notification.step, Notification.recipient_email).where(
                Notification.status == "skipped"
            )
        ).all()
    assert skipped and counts["skipped"] == len(skipped)
    assert {r.recipient_email for r in skipped} == {"-"}
    assert max(Counter((r.task_id, r.step) for r in skipped).values()) == 1


# -- three simulated years ------------------------------------------------------------


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def test_three_simulated_years(loaded: str, smtp_server: SmtpTestServer) -> None:
    """The plan loaded for 2023, 2024 and 2025; one pass a day at 09:30 from 2023-11-01 to
    2026-04-10; 防城港市 does each of its tasks on its due date, nobody else does anything.
    Only the office and the contacts of 南宁市 and 防城港市 stay in the directory (the
    other cities' steps go to the office): the same rules with fewer messages to wait for."""
    srz(loaded, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--year", "2025",
        "--now", "2023-11-01T10:00")  # fmt: skip
    engine = db.get_engine(loaded)
    settings = settings_for(loaded, smtp_server)
    renderer, calendar = Renderer(settings.templates_dir), make_calendar(settings)
    with db.write_session(engine) as session:
        fcg = session.scalar(select(City.id).where(City.name == "防城港市"))
        kept = set(session.scalars(select(City.id).where(City.name.in_(["南宁市", "防城港市"]))))
        session.execute(
            update(Contact)
            .where(Contact.city_id.is_not(None), Contact.city_id.not_in(kept))
            .values(active=False)
        )
    sent_on: dict[dt.date, int] = {}
    for day in days(dt.date(2023, 11, 1), dt.date(2026, 4, 10)):
        now = dt.datetime.combine(day, dt.time(9, 30), tzinfo=BEIJING).astimezone(dt.UTC)
        with db.write_session(engine) as session:
            for task in session.scalars(
                select(Task).where(Task.city_id == fcg, Task.status == "open", Task.due_on == day)
            ):
                while task.status == TaskStatus.OPEN:
                    mark_done(session, task, now, day, "防城港", no_evidence_reason="模拟")
        before = len(smtp_server.messages)
        run_pass(engine, settings, now, renderer=renderer, calendar=calendar, weekly=True)
        sent_on[day] = len(smtp_server.messages) - before

    with db.read_session(engine) as session:
        plans = {p.id: p.year for p in session.scalars(select(Plan))}
        closed_at = {
            (y.plan_id, y.year): y.closed_at
            for y in session.scalars(select(PlanYear))
            if y.state == PlanYearState.CLOSED
        }
        tasks = {t.id: t for t in session.scalars(select(Task))}
        obligations = {o.id: o.plan_id for o in session.scalars(select(Obligation))}
        sent = session.scalars(select(Notification).where(Notification.status == "sent")).all()
        assert session.scalar(
            select(Notification.id).where(Notification.status.in_(["pending", "sending"]))
        ) is None  # fmt: skip

    # Every year closed on the first workday after its 03-31, at the pass of 09:30.
    assert sorted(closed_at) == [(p, y) for p in plans for y in (2023, 2024, 2025)]
    assert sorted(local_date(at, "Asia/Shanghai") for at in closed_at.values()) == [
        dt.date(2024, 4, 1), dt.date(2025, 4, 1), dt.date(2026, 4, 1),
    ]  # fmt: skip
    # One closing summary per year, with the report attached.
    summaries = [r for r in sent if r.kind == NotificationKind.YEAR_CLOSED]
    assert sorted((r.payload["year"], r.recipient_email) for r in summaries) == [
        (y, "office@gx-agri.example.org") for y in (2023, 2024, 2025)
    ]
    mails = [m.message for m in smtp_server.messages if "年度总结" in m.message["Subject"]]
    assert len(mails) == 3
    for mail in mails:
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_filename().endswith(".xlsx")
    # At most repeat_max escalation repeats per task (and due date).
    repeats: dict[tuple[int, dt.date], set[str]] = defaultdict(set)
    for row in sent:
        if row.task_id and row.kind.startswith("escalation") and row.step not in CONFIGURED:
            repeats[(row.task_id, tasks[row.task_id].due_on)].add(row.step)
    assert repeats and max(len(s) for s in repeats.values()) == 4
    # Never an email about a task of a closed year, nor a weekly summary once all closed.
    for row in sent:
        if row.task_id is None:
            continue
        task = tasks[row.task_id]
        plan_id = obligations[task.obligation_id]
        year_closed = closed_at[(plan_id, task_year(task.period, plans[plan_id]))]
        assert row.sent_at < year_closed, (row.task_id, row.step, row.sent_at)
    last_close = max(closed_at.values())
    assert not [r for r in sent if r.sent_at > last_close]
    assert sum(n for day, n in sent_on.items() if day > dt.date(2026, 4, 1)) == 0
    # Every email went to somebody whose address is real, and none is over 256 KB.
    assert max(len(m.raw) for m in smtp_server.messages) < MAX_EMAIL_BYTES
    assert all(
        a != "-" for m in smtp_server.messages for _n, a in email.utils.getaddresses(
            m.message.get_all("To", [])
        )
    )  # fmt: skip
    # 防城港市 did everything on time; the other cities' tasks were all left open.
    # (its tasks due before the first simulated day were left open too).
    final = Counter(
        (t.city_id == fcg and t.due_on >= dt.date(2023, 11, 1), t.status)
        for t in tasks.values()
        if t.status != "not_applicable"
    )
    assert final[(True, TaskStatus.OVERDUE_AT_CLOSE)] == 0 and final[(True, TaskStatus.DONE)] > 0
    assert final[(False, TaskStatus.OPEN)] == 0 and final[(False, TaskStatus.DONE)] == 0
