"""What a user reads is finished (issue 10, items 4 and 5): every help example runs as
printed, dates mean what they say, statuses and actions are in Chinese, no internal
placeholder or step code reaches a reader, quotes nest the Chinese way, weeks read as
weeks, and the email's Date is the pass's time. CLI level: output, exit codes, and
nothing written on refusal."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import importlib
import mailbox
import re
import shlex
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from srz_tracker.cli import COMMANDS, cli
from tests.srz_cli_helpers import BUNDLED_PLAN, NN_DUAL, NN_PLAIN, NOW, row_counts, srz, srz_json

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ help examples


def _commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [("srz", cli)]
    for name, target in sorted(COMMANDS.items()):
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        found.append((f"srz {name}", command))
        if isinstance(command, click.Group):
            found += [(f"srz {name} {sub}", cmd) for sub, cmd in sorted(command.commands.items())]
    return found


_COMMAND_LINE = re.compile(r"^(?:[A-Z_]+=\S+\s+)*srz(?:\s|$)")


def help_examples() -> list[str]:
    """Every example of ``srz --help`` and of each command's help, in order, once: the
    epilog after 示例：, split where the help separates examples (a line break or two
    spaces or more); a note in （）after an example is not part of it."""
    seen: dict[str, None] = {}
    for _name, command in _commands():
        text = (command.epilog or "").replace("\b", "")
        if "示例" not in text:
            continue
        for segment in re.split(r"\n+|\s{2,}", text.split("示例：", 1)[1]):
            segment = segment.strip()
            if _COMMAND_LINE.match(segment):
                seen.setdefault(segment)
    return list(seen)


# Examples that cannot run in a test as printed, each with the reason.
NOT_RUN = {
    "srz --db postgresql://srz@localhost/srz init": "needs a PostgreSQL server on localhost",
    "srz run": "runs until stopped",
    "srz --config /etc/srz-tracker/srz.toml run --interval 600": (
        "runs until stopped, with the server's own configuration file"
    ),
    "srz outbox retry 42": (
        "names a failed notification by its number (test_reminders retries a real one)"
    ),
    "srz outbox retry 42 --message": (
        "names a message refused as a whole (test_notify_delivery retries a real one)"
    ),
    "srz evidence get 3 -o 工作总结.pdf": (
        "names an uploaded file by its number (the web tests export a real one)"
    ),
    "SRZ_WEB_SECRET=... srz serve": "serves until stopped",
    "srz serve --host 127.0.0.1 --port 8080 --workers 2": "serves until stopped",
}
# Examples whose documented exit code is not 0.
EXIT_CODES = {
    "srz status": 3,  # no daemon alive: the monitoring exit code its help explains
    "srz status --format json": 3,
}


def test_the_examples_are_found() -> None:
    examples = help_examples()
    assert "srz demo" in examples and "srz tasks --city 南宁市" in examples
    assert any(e.startswith("srz done") and "--evidence" in e for e in examples)
    assert set(NOT_RUN) <= set(examples), set(NOT_RUN) - set(examples)
    assert "示例" in srz(None, "--help").stdout
    top = (cli.epilog or "").split("示例：", 1)[1]
    assert all(part.startswith("srz ") for part in re.split(r"\s{2,}", top.strip()))


def test_no_help_example_addresses_a_real_mailbox() -> None:
    for example in help_examples():
        for address in re.findall(r"[\w.+-]+@[\w.-]+", example):
            if "://" in example and address.startswith(("srz@", "user@")):
                continue  # a database URL's user, not a mailbox
            assert address.endswith("@example.org"), example


def _run_example(example: str, db_url: str, tmp_path: Path) -> Any:
    words = shlex.split(example)
    env = {
        "COLUMNS": "200",
        "SRZ_USER": "测试员",
        "SRZ_MAILDIR": str(tmp_path / "maildir"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words.pop(0) == "srz"
    redirect = None
    if ">" in words:
        redirect = tmp_path / words[words.index(">") + 1]
        words = words[: words.index(">")]
    argv = words if "--db" in words else ["--db", db_url, *words]
    result = CliRunner().invoke(cli, argv, env=env)
    if redirect is not None:
        redirect.write_text(result.stdout, encoding="utf-8")
    return result


@pytest.mark.parametrize("example", [e for e in help_examples() if e not in NOT_RUN])
def test_every_help_example_runs_as_printed(
    example: str, demo_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # files an example writes land here
    result = _run_example(example, demo_db_url, tmp_path)
    expected = EXIT_CODES.get(example, 0)
    assert result.exit_code == expected, f"{example}\n{result.output}\n{result.exception!r}"
    if " > " in example:
        assert (tmp_path / example.rsplit("> ", 1)[1]).read_text(encoding="utf-8")
    if example.startswith("srz done 77"):
        assert "已记录 1 次" in result.stdout  # the counted-task example records one session


# ------------------------------------------------------------------ dates that mean what they say


def _one(db_url: str, obligation: str, **where: str) -> dict[str, Any]:
    args = ["tasks", "--obligation", obligation, "--now", NOW]
    for key, value in where.items():
        args += [f"--{key}", value]
    [row] = srz_json(db_url, *args)
    return row


def test_done_refuses_a_date_before_the_period_starts(demo_db_url: str) -> None:
    task = _one(demo_db_url, "city-summary-report", city="南宁市")
    before = row_counts(demo_db_url)
    result = srz(
        demo_db_url,
        *("done", str(task["id"]), "--on", "2022-12-31", "--evidence", "文号", "--now", NOW),
        code=2,
    )
    assert "期间 2023 从 2023-01-01 开始" in result.stderr and "早于期间开始" in result.stderr
    assert row_counts(demo_db_url) == before
    # The first day of the period is fine.
    srz(demo_db_url, "done", str(task["id"]), "--on", "2023-01-01", "--evidence", "文号")


def test_done_refuses_a_date_after_today_and_writes_nothing(demo_db_url: str) -> None:
    a = _one(demo_db_url, "city-summary-report", city="南宁市")
    b = _one(demo_db_url, "city-summary-report", city="柳州市")
    before = row_counts(demo_db_url)
    result = srz(
        demo_db_url,
        *("done", str(a["id"]), str(b["id"]), "--on", "2023-11-02", "--evidence", "文号"),
        *("--now", NOW),
        code=2,
    )
    assert "晚于今天（2023-11-01）" in result.stderr and "--on" in result.stderr
    assert row_counts(demo_db_url) == before


def test_period_start_of_every_period_label() -> None:
    from srz_tracker.tasks.materialize import period_start

    assert period_start("2024", 2023) == dt.date(2024, 1, 1)
    assert period_start("once", 2023) == dt.date(2023, 1, 1)
    assert period_start("2023-H1", 2023) == dt.date(2023, 1, 1)
    assert period_start("2023-H2", 2023) == dt.date(2023, 7, 1)
    assert period_start("2025-05-10", 2023) == dt.date(2025, 1, 1)


def test_spending_nothing_is_not_met_until_the_year_is_final() -> None:
    from srz_tracker.report.rules import IN_PROGRESS, MET, NOT_MET, Period, judge_cost

    during, after = Period(2023, dt.date(2023, 6, 1)), Period(2023, dt.date(2024, 1, 10))
    final = Period(2023, dt.date(2024, 4, 1), final=True)
    assert judge_cost(Decimal(0), Decimal(40), during) == IN_PROGRESS
    assert judge_cost(Decimal(0), Decimal(40), after) == IN_PROGRESS  # over, not closed
    assert judge_cost(Decimal(0), Decimal(40), final) == MET
    assert judge_cost(Decimal(10), Decimal(40), after) == MET
    assert judge_cost(Decimal(41), Decimal(40), during) == NOT_MET


def test_a_report_of_an_open_year_does_not_call_zero_spending_met(demo_db_url: str) -> None:
    rows = {r["city"]: r for r in srz_json(demo_db_url, "report", "--now", "2024-01-10")["cities"]}
    assert rows["南宁市"]["cost"]["actual"] == 0.0
    assert rows["南宁市"]["cost"]["verdict"] == "进行中"


# ------------------------------------------------------------------ Chinese labels


def test_log_shows_actions_and_details_in_chinese(demo_db_url: str) -> None:
    task = _one(demo_db_url, "city-summary-report", city="南宁市")
    srz(demo_db_url, "done", str(task["id"]), "--on", "2023-10-30", "--evidence", "桂农函5号")
    srz(demo_db_url, "reopen", str(task["id"]))
    out = srz(demo_db_url, "log", "--task", str(task["id"])).stdout
    assert "办结" in out and "重新打开" in out
    assert "日期=2023-10-30" in out and "佐证=桂农函5号" in out and "此前=已完成" in out
    for code in ("done", "reopen", "on=", "evidence="):
        assert code not in out
    # JSON keeps the codes for scripts.
    assert [e["action"] for e in srz_json(demo_db_url, "log", "--task", str(task["id"]))] == [
        "done",
        "reopen",
    ]
    whole = srz(demo_db_url, "log").stdout
    assert "导入方案" in whole and "导入名录" in whole and "sha256" not in whole


def test_org_list_shows_certification_statuses_in_chinese(demo_db_url: str) -> None:
    out = srz(demo_db_url, "org", "list", "--city", "南宁市", "--now", NOW).stdout
    assert "已通过" in out and "未申请" in out
    assert "certified" not in out and "none" not in out
    rows = srz_json(demo_db_url, "org", "list", "--city", "南宁市", "--now", NOW)
    assert next(r for r in rows if r["name"] == NN_DUAL)["CMA"] == "certified"


def test_cert_set_takes_the_import_s_chinese_words(demo_db_url: str) -> None:
    out = srz(demo_db_url, "cert", "set", NN_PLAIN, "CATL", "已通过", "--on", "2023-10-12").stdout
    assert "CATL：已通过" in out
    rows = srz_json(demo_db_url, "org", "list", "--now", NOW)
    assert next(r for r in rows if r["name"] == NN_PLAIN)["CATL"] == "certified"
    for word, code in (("已申请", "applied"), ("过期", "expired"), ("未申请", "none")):
        srz(demo_db_url, "cert", "set", NN_PLAIN, "CMA", word)
        rows = srz_json(demo_db_url, "org", "list", "--now", NOW)
        assert next(r for r in rows if r["name"] == NN_PLAIN)["CMA"] == code
    before = row_counts(demo_db_url)
    result = srz(demo_db_url, "cert", "set", NN_PLAIN, "CMA", "通过了吧", code=2)
    assert "未知的认证状态 '通过了吧'" in result.stderr and "已通过" in result.stderr
    assert row_counts(demo_db_url) == before


# ------------------------------------------------------------------ status, preview, dry run


def _maildir_env(tmp_path: Path) -> dict[str, str]:
    return {"SRZ_TRANSPORT": "maildir", "SRZ_MAILDIR": str(tmp_path / "maildir")}


def _remind(db_url: str, now: str, tmp_path: Path, *extra: str) -> Any:
    env = {"COLUMNS": "240", "SRZ_USER": "测试员", **_maildir_env(tmp_path)}
    result = CliRunner().invoke(cli, ["--db", db_url, "remind", "--now", now, *extra], env=env)
    assert result.exit_code == 0, result.output
    return result


def _messages(tmp_path: Path) -> list[email.message.EmailMessage]:
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    return [
        email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)  # type: ignore[misc]
        for key in sorted(box.keys())
    ]


def test_status_hides_the_placeholder_date_and_explains_skipped_rows(
    demo_db_url: str, tmp_path: Path
) -> None:
    out = srz(demo_db_url, "status", code=3).stdout
    assert "2000-01-01" not in out and "待下一轮执行时安排" in out
    status = srz_json_status(demo_db_url)
    assert status["outbox"]["tasks_to_plan"] > 0
    assert not (status["outbox"]["next_task_step_at"] or "").startswith("2000")
    # A pass long after the due dates records the older steps as skipped: explained.
    _remind(demo_db_url, "2023-12-20T09:30", tmp_path)
    out = srz(demo_db_url, "status", code=3).stdout
    assert "2000-01-01" not in out
    assert "不会补发" in out and "已跳过" in out


def srz_json_status(db_url: str) -> dict[str, Any]:
    import json

    return json.loads(srz(db_url, "status", "--format", "json", code=3).stdout)


def test_preview_shows_what_was_sent_beside_what_will_be(demo_db_url: str, tmp_path: Path) -> None:
    _remind(demo_db_url, "2023-12-20T09:30", tmp_path)
    sent = len(_messages(tmp_path))
    assert sent
    args = ("preview", "--from", "2023-12-20", "--to", "2023-12-22", "--now", "2023-12-20T12:00")
    rows = srz_json(demo_db_url, *args)
    assert sum(1 for r in rows if r["status"] == "sent") == sent
    assert any(r["status"] == "planned" for r in rows)
    assert all(r["send_at"] > "2023-12-20T12:00" for r in rows if r["status"] == "planned")
    out = srz(demo_db_url, *args).stdout
    assert "已发送" in out and "将发送" in out and f"已发送 {sent} 封" in out
    assert "共 0 封" not in out
    # Over a past period with nothing sent the answer says so in words.
    quiet = srz(demo_db_url, "preview", "--from", "2023-01-02", "--to", "2023-01-03").stdout
    assert "没有已发送的邮件" in quiet


def test_preview_takes_now(demo_db_url: str) -> None:
    early = srz_json(demo_db_url, "preview", "--from", "2023-12-18", "--to", "2023-12-20")
    assert early == []  # the real clock: the period is long past and nothing was sent
    planned = srz_json(
        demo_db_url, "preview", "--from", "2023-12-18", "--to", "2023-12-20", "--now", NOW
    )
    assert planned and {r["status"] for r in planned} == {"planned"}


def test_dry_run_says_plainly_what_would_be_sent(demo_db_url: str, tmp_path: Path) -> None:
    before = row_counts(demo_db_url)
    out = _remind(demo_db_url, "2023-12-20T09:30", tmp_path, "--dry-run").stdout
    assert "演练：2023年12月20日 09:30（北京时间）执行一次提醒，将发送以下" in out
    assert "不发送，也不写入数据库" in out and "第 1 封（共" in out and "收件人：" in out
    assert "不再补发" in out and "实际发送：srz remind" in out
    assert row_counts(demo_db_url) == before and not (tmp_path / "maildir").exists()
    _remind(demo_db_url, "2023-12-20T09:30", tmp_path)
    again = _remind(demo_db_url, "2023-12-20T09:40", tmp_path, "--dry-run").stdout
    assert "没有需要发送的邮件" in again


# ------------------------------------------------------------------ what the emails say


def test_emails_nest_quotes_hide_step_codes_and_carry_the_pass_time(
    demo_db_url: str, tmp_path: Path
) -> None:
    _remind(demo_db_url, "2023-10-24T09:30", tmp_path)  # onsite guidance is due 10-31
    messages = _messages(tmp_path)
    assert messages
    bodies = []
    for msg in messages:
        assert email.utils.parsedate_to_datetime(msg["Date"]) == dt.datetime(
            2023, 10, 24, 1, 30, tzinfo=dt.UTC
        )
        for part in ("plain", "html"):
            bodies.append(msg.get_body(preferencelist=(part,)).get_content())
    text = "\n".join(bodies)
    assert "“一对一”现场服务指导。”" not in text and "‘一对一’现场服务指导。”" in text
    assert "“县级质检机构‘双认证’建设”工作提醒系统" in text
    for body in bodies:
        # A “ opened inside an open “ is a nesting mistake.
        depth = 0
        for char in body:
            depth += {"“": 1, "”": -1}.get(char, 0)
            assert depth <= 1, body
    assert "提醒节点" not in text and not re.search(r"[（，]\s*[REC]\d+[）\s]", text)
    assert "到期前 7 天提醒" in text


def test_the_weekly_summary_names_the_week_and_a_bare_bar_is_not_green() -> None:
    from srz_tracker.mail.render import Renderer
    from srz_tracker.mail.samples import sample_context
    from srz_tracker.resources import EMAIL_TEMPLATES, bundled_dir
    from srz_tracker.text import week_display, week_label

    assert week_label(dt.date(2026, 12, 1)) == "2026-W49"  # the outbox key keeps this
    assert week_display("2026-W49") == "2026年第49周" and week_display("别的") == "别的"
    renderer = Renderer(bundled_dir(EMAIL_TEMPLATES))
    context = sample_context("weekly_summary")
    rendered = renderer.render("weekly_summary", context)
    assert "2023年第51周" in rendered.subject and "W51" not in rendered.text + rendered.html
    assert "工作2023年第51周进展情况" in rendered.text
    context.update(done=0, completion_pct=0.0)
    html = renderer.render("weekly_summary", context).html
    bar = html[html.index('class="progress-bar"') :].split("</table>", 1)[0]
    assert "#2e7d32" not in bar and "#2e7d32" not in html.split('class="progress-bar"')[0][-600:]
    context.update(done=8, completion_pct=100.0)
    html = renderer.render("weekly_summary", context).html
    assert "#2e7d32" in html[html.index('class="progress-bar"') :].split("</table>", 1)[0]


def test_show_nests_the_plan_s_quotes(demo_db_url: str) -> None:
    task = _one(demo_db_url, "onsite-guidance", institution=NN_PLAIN)
    out = srz(demo_db_url, "show", str(task["id"]), "--now", NOW).stdout
    [basis] = [line for line in out.splitlines() if "依据" in line]
    assert "‘一对一’现场服务指导。”" in basis and "“一对一”" not in basis
    assert "开展一次“一对一”现场服务指导" in out  # the title is not inside a quotation


def test_the_plan_file_refers_to_no_file_outside_the_repository() -> None:
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    assert "../" not in text and "/work" not in text and "DESIGN.md" not in text
    for name in re.findall(r"[\w./-]+\.(?:md|py|ya?ml|csv|toml)\b", text):
        assert (ROOT / name).exists() or (ROOT / "schedules" / name).exists(), name
