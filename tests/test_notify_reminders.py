"""Reminders and escalations end to end: the bundled plan and sample directory, passes at
fixed instants, mail through yagmail to a real SMTP server on loopback, parsed back with
Python's ``email`` package. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections import Counter
from typing import Any

from sqlalchemy import select

from srz_tracker.clock import parse_now
from srz_tracker.config import Settings, load_settings
from srz_tracker.notify.passes import run_pass
from srz_tracker.store import db
from srz_tracker.store.models import Notification, Task
from tests.smtp_server import SmtpTestServer
from tests.srz_cli_helpers import srz, srz_json

REPORT_TITLE = "报送县级质检机构“双认证”工作总结和绩效自评报告"
REPORT_DUE = "2023年12月30日（星期六）"
CITY_CONTACTS = {
    f"contact@{p}.example.org"
    for p in [
        "nanning",
        "liuzhou",
        "guilin",
        "wuzhou",
        "fangchenggang",
        "qinzhou",
        "guigang",
        "yulin",
        "baise",
        "hechi",
        "laibin",
        "chongzuo",
    ]
}


def smtp_env(server: SmtpTestServer) -> dict[str, str]:
    return {
        "SRZ_SMTP_HOST": server.host,
        "SRZ_SMTP_PORT": str(server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_MAIL_FROM": "srz@gx-agri.example.org",
    }


def settings_for(db_url: str, server: SmtpTestServer) -> Settings:
    return load_settings(db_url=db_url, environ=smtp_env(server))


def a_pass(db_url: str, server: SmtpTestServer, when: str) -> dict[str, Any]:
    engine = db.get_engine(db_url)
    return run_pass(engine, settings_for(db_url, server), parse_now(when)).as_dict()


def to_addresses(msg: Any, header: str = "To") -> set[str]:
    return {a.lower() for _n, a in email.utils.getaddresses(msg.get_all(header, []))}


def body_text(msg: Any) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def report_task_id(db_url: str, city: str) -> int:
    rows = srz_json(db_url, "tasks", "--city", city, "--obligation", "city-summary-report")
    return rows[0]["id"]


def test_pass_sends_one_digest_per_city_contact_naming_the_report(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    counts = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    assert counts["sent"] > 0 and counts["failed"] == 0
    by_recipient: dict[str, list[Any]] = {}
    for received in smtp_server.messages:
        for address in to_addresses(received.message):
            by_recipient.setdefault(address, []).append(received.message)
    for contact in CITY_CONTACTS:
        messages = by_recipient.get(contact, [])
        # One email per recipient per pass (the escalation copy to leaders is another kind).
        own = [m for m in messages if contact in to_addresses(m)]
        assert len(own) == 1, contact
        text = body_text(own[0])
        assert REPORT_TITLE in text and REPORT_DUE in text
        assert "四（二）" in text and "12月30日前" in text
        subject = own[0]["Subject"]
        assert "=?" not in subject and "双认证" in subject
    # Raw headers are RFC 2047-encoded ASCII; decoded, the Chinese subject is exact.
    raw = smtp_server.messages[0].raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii()


def test_same_pass_again_sends_nothing(loaded: str, smtp_server: SmtpTestServer) -> None:
    first = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    received = len(smtp_server.messages)
    again = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    assert first["messages"] > 0
    assert again["planned"] == 0 and again["messages"] == 0
    assert len(smtp_server.messages) == received


def test_done_stops_reminders_about_the_task(loaded: str, smtp_server: SmtpTestServer) -> None:
    a_pass(loaded, smtp_server, "2023-12-20T09:30")
    task_id = report_task_id(loaded, "南宁市")
    srz(
        loaded,
        "done",
        str(task_id),
        "--evidence",
        "南农函〔2023〕88号",
        "--now",
        "2023-12-21T10:00",
        "--on",
        "2023-12-21",
    )
    smtp_server.reset()
    a_pass(loaded, smtp_server, "2023-12-22T09:30")  # the R7 step of the report
    nanning = [
        m.message
        for m in smtp_server.messages
        if "contact@nanning.example.org" in to_addresses(m.message)
    ]
    assert all(f"srz done {task_id}" not in body_text(m) for m in nanning)
    liuzhou = [
        m.message
        for m in smtp_server.messages
        if "contact@liuzhou.example.org" in to_addresses(m.message)
    ]
    assert any(REPORT_TITLE in body_text(m) for m in liuzhou)
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        statuses = set(
            session.scalars(
                select(Notification.status).where(
                    Notification.task_id == task_id,
                    Notification.scheduled_at > dt.datetime(2023, 12, 21, tzinfo=dt.UTC),
                )
            )
        )
    assert statuses <= {"cancelled"}


def test_after_weeks_of_silence_only_the_latest_step_goes_out(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    a_pass(loaded, smtp_server, "2023-11-01T09:30")
    smtp_server.reset()
    counts = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    assert counts["skipped"] > 0
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        rows = session.execute(
            select(Notification.task_id, Notification.step).where(
                Notification.status == "sent", Notification.sent_at == parse_now("2023-12-20T09:30")
            )
        ).all()
        steps_per_task = Counter(task for task, _step in set(rows))
        assert steps_per_task and max(steps_per_task.values()) == 1
        report = report_task_id(loaded, "南宁市")
        skipped = set(
            session.scalars(
                select(Notification.step).where(
                    Notification.task_id == report, Notification.status == "skipped"
                )
            )
        )
        sent = set(
            session.scalars(
                select(Notification.step).where(
                    Notification.task_id == report, Notification.status == "sent"
                )
            )
        )
    # Nothing was due at the first pass; after the silence R30 (11-30) was missed and R14
    # (12-15) is the latest step: R14 goes out, R30 is recorded as skipped.
    assert sent == {"R14"}
    assert skipped == {"R30"}
    # A recipient got one email in that pass, however many steps were missed.
    per_address = Counter(a for m in smtp_server.messages for a in to_addresses(m.message))
    assert max(per_address.values()) == 1


def test_escalation_goes_to_leaders_with_contacts_in_copy(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    a_pass(loaded, smtp_server, "2023-12-29T09:30")
    smtp_server.reset()
    a_pass(loaded, smtp_server, "2024-01-02T09:30")  # E1 of the 12-30 report: next workday
    leader_mails = [
        m.message
        for m in smtp_server.messages
        if "leader@nanning.example.org" in to_addresses(m.message)
    ]
    assert len(leader_mails) == 1
    msg = leader_mails[0]
    assert "contact@nanning.example.org" in to_addresses(msg, "Cc")
    assert REPORT_TITLE in body_text(msg)
    assert "逾期" in body_text(msg)
    # An address is never twice on one message.
    everyone = [a for h in ("To", "Cc") for _n, a in email.utils.getaddresses(msg.get_all(h, []))]
    assert len(everyone) == len(set(everyone))


def test_message_id_is_the_outbox_rows(loaded: str, smtp_server: SmtpTestServer) -> None:
    a_pass(loaded, smtp_server, "2023-12-20T09:30")
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        ids = set(
            session.scalars(select(Notification.message_id).where(Notification.status == "sent"))
        )
    received = {m.message["Message-ID"] for m in smtp_server.messages}
    assert received == ids


def test_server_down_keeps_rows_pending_until_it_is_back(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    smtp_server.stop()
    down = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    assert down["sent"] == 0 and down["retrying"] > 0 and down["failed"] == 0
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        pending = session.scalars(
            select(Notification).where(Notification.status == "pending")
        ).all()
        assert pending and all(n.last_error for n in pending)
        retry_at = max(n.next_attempt_at for n in pending)
    smtp_server.start()
    back = a_pass(loaded, smtp_server, retry_at.isoformat())
    assert back["sent"] == down["retrying"]
    assert back["failed"] == 0
    with db.read_session(engine) as session:
        assert not session.scalars(
            select(Notification).where(Notification.status.in_(["pending", "sending"]))
        ).all()


def test_550_fails_one_recipient_only_and_the_office_is_told(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    smtp_server.reject_recipients = {"contact@nanning.example.org"}
    counts = a_pass(loaded, smtp_server, "2023-12-20T09:30")
    assert counts["failed"] >= 1
    got = {a for m in smtp_server.messages for a in to_addresses(m.message)}
    assert "contact@nanning.example.org" not in {
        r for m in smtp_server.messages for r in m.rcpt_tos
    }
    assert CITY_CONTACTS - {"contact@nanning.example.org"} <= got
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        failed = session.scalars(select(Notification).where(Notification.status == "failed")).all()
        assert {n.recipient_email for n in failed} == {"contact@nanning.example.org"}
        assert all(n.last_error and n.last_error.startswith("550") for n in failed)
    smtp_server.reset()
    a_pass(loaded, smtp_server, "2023-12-20T09:45")
    office = [
        m.message
        for m in smtp_server.messages
        if "office@gx-agri.example.org" in to_addresses(m.message)
    ]
    assert len(office) == 1
    assert "contact@nanning.example.org" in body_text(office[0])


def test_holiday_override_from_configuration(
    loaded: str, smtp_server: SmtpTestServer, tmp_path: Any
) -> None:
    config = tmp_path / "srz.toml"
    # Pretend 2023-12-22 (Friday) were a day off: the R7 step of the report moves earlier.
    config.write_text('[calendar]\nholidays = ["2023-12-22"]\n', encoding="utf-8")
    env = {**smtp_env(smtp_server), "SRZ_CONFIG": str(config)}
    settings = load_settings(db_url=loaded, environ=env)
    engine = db.get_engine(loaded)
    run_pass(engine, settings, parse_now("2023-12-20T09:30"))
    report = report_task_id(loaded, "南宁市")
    with db.read_session(engine) as session:
        r7 = session.scalar(
            select(Notification).where(Notification.task_id == report, Notification.step == "R7")
        )
    assert r7 is None  # 12-21 09:00 is still ahead at 12-20 09:30
    run_pass(engine, settings, parse_now("2023-12-21T09:30"))
    with db.read_session(engine) as session:
        r7 = session.scalar(
            select(Notification).where(Notification.task_id == report, Notification.step == "R7")
        )
    assert r7 is not None and r7.scheduled_at == parse_now("2023-12-21T09:00")


def test_extension_replans_from_the_new_date(loaded: str, smtp_server: SmtpTestServer) -> None:
    a_pass(loaded, smtp_server, "2023-12-20T09:30")
    task_id = report_task_id(loaded, "南宁市")
    srz(
        loaded,
        "extend",
        str(task_id),
        "--to",
        "2024-01-31",
        "--reason",
        "等待财政批复",
        "--now",
        "2023-12-20T12:00",
    )
    a_pass(loaded, smtp_server, "2024-01-02T09:30")
    engine = db.get_engine(loaded)
    with db.read_session(engine) as session:
        rows = session.scalars(select(Notification).where(Notification.task_id == task_id)).all()
    new = {n.step for n in rows if "2024-01-31" in n.dedupe_key}
    assert new == {"R30"}  # 2024-01-01 is a holiday: R30 went out on the 2nd's pass
    assert not any(n.step == "E1" for n in rows)  # no escalation for the old date


def test_checkpoint_reminder_only_while_behind(loaded: str, smtp_server: SmtpTestServer) -> None:
    # Load afresh in June: the key-staff training's checkpoint (1 of 2 by 06-30) applies.
    srz(loaded, "plan", "load", "schedules/gx-srz-2023.yaml", "--now", "2023-06-01T10:00")
    engine = db.get_engine(loaded)
    with db.write_session(engine) as session:
        # Start from a quiet state: tasks due later in the year, nothing planned yet.
        for task in session.scalars(select(Task)):
            task.next_step_at = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    a_pass(loaded, smtp_server, "2023-06-26T09:30")
    kst = srz_json(loaded, "tasks", "--obligation", "key-staff-training")
    ids = [t["id"] for t in kst]
    with db.read_session(engine) as session:
        checkpoint_rows = session.scalars(
            select(Notification).where(
                Notification.task_id.in_(ids), Notification.kind == "checkpoint"
            )
        ).all()
    assert {n.task_id for n in checkpoint_rows} == set(ids)
    srz(
        loaded,
        "done",
        str(ids[0]),
        "--on",
        "2023-06-27",
        "--evidence",
        "签到表",
        "--now",
        "2023-06-27T10:00",
    )
    assert srz_json(loaded, "show", str(ids[0]))["progress"] == "1/2"
    a_pass(loaded, smtp_server, "2023-06-29T09:30")
    with db.read_session(engine) as session:
        later = session.scalars(
            select(Notification).where(
                Notification.task_id == ids[0],
                Notification.kind == "checkpoint",
                Notification.scheduled_at > parse_now("2023-06-27T10:00"),
            )
        ).all()
        other = session.scalars(
            select(Notification).where(
                Notification.task_id == ids[1],
                Notification.kind == "checkpoint",
                Notification.scheduled_at > parse_now("2023-06-27T10:00"),
            )
        ).all()
    assert later == [] and other


def test_dry_run_writes_and_sends_nothing(loaded: str, smtp_server: SmtpTestServer) -> None:
    from tests.srz_cli_helpers import row_counts

    before = row_counts(loaded)
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    result = CliRunner().invoke(
        cli,
        ["--db", loaded, "remind", "--now", "2023-12-20T09:30", "--dry-run"],
        env=smtp_env(smtp_server),
    )
    assert result.exit_code == 0, result.output
    assert REPORT_TITLE in result.output and "演练" in result.output
    assert row_counts(loaded) == before
    assert smtp_server.messages == []


def test_remind_cli_prints_what_it_sent(loaded: str, smtp_server: SmtpTestServer) -> None:
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    result = CliRunner().invoke(
        cli, ["--db", loaded, "remind", "--now", "2023-12-20T09:30"], env=smtp_env(smtp_server)
    )
    assert result.exit_code == 0, result.output
    assert "已发送" in result.output and "发送邮件" in result.output
    subjects = {m.message["Subject"] for m in smtp_server.messages}
    assert all(s in result.output for s in subjects)


def test_preview_matches_day_by_day_passes(loaded: str, smtp_server: SmtpTestServer) -> None:
    # --now before the period (issue 10: preview takes --now; without it, the real clock
    # would put this whole period in the past).
    preview = srz_json(
        loaded, "preview", "--from", "2023-12-18", "--to", "2024-01-12", "--now", "2023-12-17T12:00"
    )
    assert {p["status"] for p in preview} == {"planned"}
    assert preview and {"send_at", "to", "cc", "subject", "kind", "task_ids"} <= set(preview[0])
    assert dt.datetime.fromisoformat(preview[0]["send_at"]).utcoffset() == dt.timedelta(hours=8)
    expected = Counter(
        (p["send_at"][:10], tuple(sorted(p["to"])), tuple(sorted(p["cc"])), p["subject"])
        for p in preview
    )
    actual: Counter[tuple[str, ...]] = Counter()
    day = dt.date(2023, 12, 18)
    while day <= dt.date(2024, 1, 12):
        smtp_server.reset()
        a_pass(loaded, smtp_server, f"{day.isoformat()}T09:30")
        for m in smtp_server.messages:
            actual[
                (
                    day.isoformat(),
                    tuple(sorted(to_addresses(m.message))),
                    tuple(sorted(to_addresses(m.message, "Cc"))),
                    m.message["Subject"],
                )
            ] += 1
        day += dt.timedelta(days=1)
    assert actual == expected
    # Afterwards the same period shows what was sent, not "0 封".
    sent = srz_json(
        loaded, "preview", "--from", "2023-12-18", "--to", "2024-01-12", "--now", "2024-01-12T12:00"
    )
    assert {p["status"] for p in sent} == {"sent"}
    assert (
        Counter(
            (p["send_at"][:10], tuple(sorted(p["to"])), tuple(sorted(p["cc"])), p["subject"])
            for p in sent
        )
        == expected
    )


def test_outbox_listing_and_retry(loaded: str, smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_recipients = {"contact@guilin.example.org"}
    a_pass(loaded, smtp_server, "2023-12-20T09:30")
    failed = srz_json(loaded, "outbox", "--status", "failed")
    assert failed and all(r["to"] == "contact@guilin.example.org" for r in failed)
    srz(loaded, "outbox", "retry", str(failed[0]["id"]), "--now", "2023-12-20T10:00")
    smtp_server.reject_recipients = set()
    smtp_server.reset()
    a_pass(loaded, smtp_server, "2023-12-20T10:05")
    assert any(
        "contact@guilin.example.org" in to_addresses(m.message) for m in smtp_server.messages
    )
    srz(loaded, "outbox", "retry", "999999", code=2)


def test_weekly_summary_once_per_city_per_week(loaded: str, smtp_server: SmtpTestServer) -> None:
    engine = db.get_engine(loaded)
    settings = settings_for(loaded, smtp_server)
    run_pass(engine, settings, parse_now("2023-12-18T08:30"), weekly=True)  # before 09:00
    assert not [m for m in smtp_server.messages if "工作周报" in m.message["Subject"]]
    run_pass(engine, settings, parse_now("2023-12-18T09:30"), weekly=True)
    run_pass(engine, settings, parse_now("2023-12-18T11:30"), weekly=True)
    run_pass(engine, settings, parse_now("2023-12-20T09:30"), weekly=True)
    weekly = [m.message for m in smtp_server.messages if "工作周报" in m.message["Subject"]]
    assert sorted(a for m in weekly for a in to_addresses(m)) == sorted(CITY_CONTACTS)
    nanning = next(m for m in weekly if "contact@nanning.example.org" in to_addresses(m))
    # Weeks read as people say them (issue 10); the outbox key keeps 2023-W51.
    assert "南宁市" in nanning["Subject"] and "2023年第51周" in nanning["Subject"]
    # 16 of Nanning's 17 tasks (the scope extension of 二 included) are due by 12-18
    # and none is done; the report is due 12-30.
    assert "已完成 0/16 项" in nanning["Subject"] and "逾期 16 项" in nanning["Subject"]
    text = body_text(nanning)
    assert REPORT_TITLE in text and "已逾期" in text
    html = nanning.get_body(preferencelist=("html",)).get_content()
    assert 'class="progress-bar"' in html and "完成进度" in html
    smtp_server.reset()
    run_pass(engine, settings, parse_now("2023-12-25T09:30"), weekly=True)
    assert len([m for m in smtp_server.messages if "工作周报" in m.message["Subject"]]) == 12


def test_weekly_summary_waits_for_the_first_workday(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    # ISO week 40 of 2023: Mon 10-02 .. Fri 10-06 are National Day holidays, Saturday 10-07
    # is a make-up workday, so the week's summary goes out then.
    engine = db.get_engine(loaded)
    settings = settings_for(loaded, smtp_server)
    srz(loaded, "plan", "load", "schedules/gx-srz-2023.yaml", "--now", "2023-09-01T10:00")
    run_pass(engine, settings, parse_now("2023-10-04T09:30"), weekly=True)
    assert not [m for m in smtp_server.messages if "工作周报" in m.message["Subject"]]
    run_pass(engine, settings, parse_now("2023-10-07T09:30"), weekly=True)
    assert len([m for m in smtp_server.messages if "工作周报" in m.message["Subject"]]) == 12


def test_remind_warns_about_years_the_calendar_does_not_know(
    loaded: str, smtp_server: SmtpTestServer
) -> None:
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    srz(
        loaded,
        "plan",
        "load",
        "schedules/gx-srz-2023.yaml",
        "--year",
        "2099",
        "--now",
        "2023-11-01T10:00",
    )
    result = CliRunner().invoke(
        cli,
        ["--db", loaded, "remind", "--now", "2023-11-02T09:30", "--dry-run"],
        env=smtp_env(smtp_server),
    )
    assert result.exit_code == 0, result.output
    assert "2099 年的法定节假日安排尚无数据" in result.stderr
    assert "2023 年" not in result.stderr
