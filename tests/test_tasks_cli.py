"""The CLI to see and mark tasks, tried as a new user would after ``srz demo``: the
overview for Nanning, marking done, the audit log, every refusal leaving the database
exactly as it was."""

from __future__ import annotations

import csv
import importlib
import io
from pathlib import Path
from typing import Any

import click
import pytest

from srz_tracker.cli import COMMANDS
from srz_tracker.config import load_settings
from tests.srz_cli_helpers import NN_DUAL, NN_PLAIN, NOW, demo, row_counts, srz, srz_json


def tasks(db_url: str, *args: str, now: str = NOW) -> list[dict[str, Any]]:
    return srz_json(db_url, "tasks", "--now", now, *args)


def one(db_url: str, obligation: str, city: str = "南宁市", institution: str | None = None) -> dict:
    args = ["--obligation", obligation, "--city", city]
    if institution:
        args += ["--institution", institution]
    [task] = tasks(db_url, *args)
    return task


def show(db_url: str, ref: str) -> dict[str, Any]:
    return srz_json(db_url, "show", ref, "--now", NOW)


def log(db_url: str, *args: str) -> list[dict[str, Any]]:
    return srz_json(db_url, "log", *args)


# --------------------------------------------------------------------------- looking


def test_nanning_tasks_as_json(loaded: str) -> None:
    rows = tasks(loaded, "--city", "南宁市")
    assert rows, "Nanning has tasks"
    keys = {
        "id",
        "obligation",
        "title",
        "city",
        "institution",
        "period",
        "due_on",
        "status",
        "overdue",
        "completed_on",
    }
    for row in rows:
        assert keys <= set(row)
        assert isinstance(row["id"], int) and not isinstance(row["id"], bool)
        assert isinstance(row["overdue"], bool)
        assert row["city"] == "南宁市"
        assert row["status"] == "open" and row["completed_on"] is None
        assert len(row["due_on"]) == 10 and row["due_on"][4] == "-"
    by_ob: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_ob.setdefault(row["obligation"], []).append(row)

    [report] = by_ob["city-summary-report"]
    assert (report["due_on"], report["institution"], report["period"]) == (
        "2023-12-30",
        None,
        "2023",
    )
    assert report["title"] == "报送县级质检机构“双认证”工作总结和绩效自评报告"
    # The application only for the institution not yet dual-certified ...
    [application] = by_ob["certification-application"]
    assert (application["institution"], application["due_on"]) == (NN_PLAIN, "2023-11-30")
    [pairing] = by_ob["pairing-assistance"]
    assert pairing["institution"] == NN_PLAIN
    # ... the proficiency test only for the dual-certified one.
    [proficiency] = by_ob["proficiency-test"]
    assert proficiency["institution"] == NN_DUAL
    # ... and so is the scope extension of 二、任务目标.
    [extension] = by_ob["scope-extension"]
    assert (extension["institution"], extension["due_on"]) == (NN_DUAL, "2023-11-30")
    # Key staff training, counted to two, per institution.
    training = by_ob["key-staff-training"]
    assert {t["institution"] for t in training} == {NN_PLAIN, NN_DUAL}
    assert {t["progress"] for t in training} == {"0/2"}
    assert {t["due_on"] for t in training} == {"2023-12-15"}
    # City tasks: one each; the region's task is not Nanning's.
    for key in ("city-hands-on-training", "skills-drill", "special-funds", "city-expert-team"):
        assert len(by_ob[key]) == 1 and by_ob[key][0]["institution"] is None
    assert "backbone-training" not in by_ob
    # Overdue at --now 2023-11-01: the plan due 03-31 is, the report due 12-30 is not.
    assert all(t["overdue"] for t in by_ob["staff-training-plan"])
    assert not report["overdue"] and not application["overdue"]
    assert len(rows) == 17


def test_overdue_flag_turns_at_the_end_of_the_due_day(loaded: str) -> None:
    ref = "city-summary-report:南宁市:2023"
    assert not tasks(loaded, "--obligation", "city-summary-report", now="2023-12-30T23:59")[0][
        "overdue"
    ]
    late = tasks(loaded, "--obligation", "city-summary-report", now="2023-12-31T00:00")
    assert all(t["overdue"] for t in late) and len(late) == 12
    # An aware --now is read as that instant: 16:00 UTC is already the 31st in Beijing.
    late = tasks(loaded, "--obligation", "city-summary-report", now="2023-12-30T16:00+00:00")
    assert all(t["overdue"] for t in late)
    srz(loaded, "done", ref, "--evidence", "回执", "--now", "2024-01-02T09:00")
    [done] = tasks(loaded, "--obligation", "city-summary-report", "--city", "南宁市")
    assert done["status"] == "done" and not done["overdue"]


def test_filters(loaded: str) -> None:
    everything = tasks(loaded)
    overdue = tasks(loaded, "--status", "overdue")
    assert overdue and all(t["overdue"] and t["due_on"] < "2023-11-01" for t in overdue)
    assert {t["id"] for t in overdue} == {t["id"] for t in everything if t["overdue"]}
    early = tasks(loaded, "--due-before", "2023-07-01")
    assert early and all(t["due_on"] < "2023-07-01" for t in early)
    assert {t["obligation"] for t in early} == {
        "staff-training-plan",
        "city-expert-team",
        "special-funds",
    }
    reports = tasks(loaded, "--obligation", "city-summary-report")
    assert len(reports) == 12 and {t["due_on"] for t in reports} == {"2023-12-30"}
    mine = tasks(loaded, "--institution", NN_DUAL)
    assert mine and {t["institution"] for t in mine} == {NN_DUAL}
    assert tasks(loaded, "--status", "done") == []
    assert len(tasks(loaded, "--status", "open")) == len(everything)
    # The region's own task has no city.
    [backbone] = tasks(loaded, "--obligation", "backbone-training")
    assert backbone["city"] is None and backbone["institution"] is None
    assert sum(1 for t in everything if t["city"] is None) == 1


def test_csv_and_table_formats(loaded: str) -> None:
    out = srz(loaded, "tasks", "--city", "南宁市", "--format", "csv", "--now", NOW).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 17
    assert {"id", "title", "due_on", "status", "overdue", "obligation"} <= set(rows[0])
    [report] = [r for r in rows if r["obligation"] == "city-summary-report"]
    assert (report["due_on"], report["status"], report["overdue"]) == (
        "2023-12-30",
        "open",
        "false",
    )

    table = srz(loaded, "tasks", "--city", "南宁市", "--now", NOW).stdout
    for title in (
        "提交“双认证”申请",
        "报送县级质检机构“双认证”工作总结和绩效自评报告",
        "成立市级检验检测专家服务团",
    ):
        assert title in table
    assert "已逾期" in table and "未完成" in table and "0/2" in table
    assert "共 17 项" in table


def test_unknown_filters_are_errors(loaded: str) -> None:
    result = srz(loaded, "tasks", "--city", "南京市", "--now", NOW, code=2)
    assert "未知的市 '南京市'" in result.stderr and "南宁市" in result.stderr
    result = srz(loaded, "tasks", "--obligation", "no-such-thing", code=2)
    assert "未知的义务" in result.stderr
    result = srz(loaded, "tasks", "--institution", "不存在的机构", code=2)
    assert "未知的机构" in result.stderr
    result = srz(loaded, "tasks", "--due-before", "2023-02-30", code=2)
    assert "2023-02-30" in result.stderr and "不是有效日期" in result.stderr
    result = srz(loaded, "tasks", "--now", "tomorrow", code=2)
    assert "--now" in result.stderr
    srz(loaded, "tasks", "--status", "late", code=2)


def test_demo_prints_the_overview(db_url: str) -> None:
    out = srz(db_url, "demo", "--now", NOW).stdout
    assert "任务总览" in out and "南宁市" in out and "自治区" in out
    assert "示例名录：24 个机构" in out
    before = row_counts(db_url)
    # Twice is harmless: nothing imported again.
    out = srz(db_url, "demo", "--now", NOW).stdout
    assert "示例名录" not in out and "任务总览" in out
    assert row_counts(db_url)["tasks"] == before["tasks"]
    assert row_counts(db_url)["institutions"] == 24


# --------------------------------------------------------------------------- marking done


def test_done_shows_in_tasks_and_log(loaded: str) -> None:
    task = one(loaded, "city-summary-report")
    before = len(log(loaded))
    out = srz(
        loaded,
        "done",
        str(task["id"]),
        "--evidence",
        "桂农质函〔2023〕5号",
        "--note",
        "已报送",
        "--by",
        "张三",
        "--on",
        "2023-10-30",
        "--now",
        NOW,
    ).stdout
    assert f"任务 {task['id']} 已完成" in out
    [after] = tasks(loaded, "--obligation", "city-summary-report", "--city", "南宁市")
    assert (after["status"], after["completed_on"]) == ("done", "2023-10-30")
    table = srz(loaded, "tasks", "--city", "南宁市", "--status", "done", "--now", NOW).stdout
    assert "已完成" in table and "报送县级质检机构" in table

    events = log(loaded)
    assert len(events) == before + 1
    event = events[-1]
    assert (event["action"], event["task_id"], event["actor"]) == ("done", task["id"], "张三")
    assert event["detail"]["evidence"] == "桂农质函〔2023〕5号"
    assert [e["action"] for e in log(loaded, "--task", str(task["id"]))] == ["done"]
    text = srz(loaded, "log", "--task", "city-summary-report:南宁市:2023").stdout
    # The table speaks Chinese (issue 10): the action "done" reads 办结.
    assert "办结" in text and "张三" in text
    assert "2023-11-01 10:00" in text  # Beijing time, as --now was given
    detail = show(loaded, str(task["id"]))
    assert detail["note"] == "已报送" and detail["evidence"] == "桂农质函〔2023〕5号"
    assert detail["occurrences"][0]["by"] == "张三"


def test_done_twice_is_harmless(loaded: str) -> None:
    ref = str(one(loaded, "city-summary-report")["id"])
    srz(loaded, "done", ref, "--evidence", "回执", "--now", NOW)
    before = row_counts(loaded)
    out = srz(loaded, "done", ref, "--evidence", "另一份", "--now", "2023-11-02T10:00").stdout
    assert "已经是完成状态" in out and "未作改动" in out
    assert row_counts(loaded) == before
    assert [e["action"] for e in log(loaded, "--task", ref)] == ["done"]
    assert show(loaded, ref)["completed_on"] == "2023-11-01"


def test_unknown_task_is_a_clear_error(loaded: str) -> None:
    before = row_counts(loaded)
    result = srz(loaded, "done", "999999", "--evidence", "x", "--now", NOW, code=2)
    assert "没有编号为 999999 的任务" in result.stderr
    result = srz(loaded, "done", "city-summary-report:南京市:2023", "--evidence", "x", code=2)
    assert "未知的对象 '南京市'" in result.stderr
    result = srz(loaded, "show", "city-summary-report:南宁市:2030", code=2)
    assert "没有任务" in result.stderr
    result = srz(loaded, "show", "nonsense", code=2)
    assert "city-summary-report:南宁市:2023" in result.stderr  # says how to write it
    for command in (["reopen", "999999"], ["waive", "999999", "--reason", "x"]):
        srz(loaded, *command, code=2)
    srz(loaded, "extend", "999999", "--to", "2024-01-31", "--reason", "x", code=2)
    srz(loaded, "log", "--task", "999999", code=2)
    assert row_counts(loaded) == before


def test_evidence_is_required_unless_a_reason_is_given(loaded: str) -> None:
    task = one(loaded, "certification-application", institution=NN_PLAIN)
    ref = str(task["id"])
    before = row_counts(loaded)
    result = srz(loaded, "done", ref, "--now", NOW, code=2)
    assert "需要佐证材料：申请受理编号" in result.stderr
    assert "--no-evidence-reason" in result.stderr
    assert row_counts(loaded) == before
    srz(loaded, "done", ref, "--no-evidence-reason", "受理编号待省局下发", "--now", NOW)
    detail = show(loaded, ref)
    assert detail["status"] == "done"
    assert detail["no_evidence_reason"] == "受理编号待省局下发"
    assert detail["occurrences"][0]["no_evidence_reason"] == "受理编号待省局下发"
    assert "受理编号待省局下发" in srz(loaded, "show", ref).stdout
    assert log(loaded, "--task", ref)[-1]["detail"]["no_evidence_reason"] == "受理编号待省局下发"


def test_counted_task_records_each_occurrence(loaded: str) -> None:
    ref = str(one(loaded, "key-staff-training", institution=NN_PLAIN)["id"])
    out = srz(loaded, "done", ref, "--on", "2023-09-20", "--evidence", "签到表2.pdf", "--now", NOW)
    assert "进度 1/2" in out.stdout
    detail = show(loaded, ref)
    assert (detail["status"], detail["progress"], detail["completed_on"]) == ("open", "1/2", None)
    out = srz(loaded, "done", ref, "--on", "2023-05-10", "--evidence", "签到表1.pdf", "--now", NOW)
    assert "已完成" in out.stdout and "2/2" in out.stdout
    detail = show(loaded, ref)
    assert (detail["status"], detail["progress"]) == ("done", "2/2")
    # Done when the second session took place, whatever order they were recorded in.
    assert detail["completed_on"] == "2023-09-20"
    assert [(o["on"], o["evidence"]) for o in detail["occurrences"]] == [
        ("2023-09-20", "签到表2.pdf"),
        ("2023-05-10", "签到表1.pdf"),
    ]
    assert [e["action"] for e in log(loaded, "--task", ref)] == ["progress", "done"]
    [row] = tasks(loaded, "--institution", NN_PLAIN, "--obligation", "key-staff-training")
    assert (row["progress"], row["status"]) == ("2/2", "done")


def test_done_several_is_all_or_nothing(loaded: str) -> None:
    a = one(loaded, "city-summary-report")
    before = row_counts(loaded)
    result = srz(loaded, "done", str(a["id"]), "999999", "--evidence", "x", "--now", NOW, code=2)
    assert "999999" in result.stderr
    assert row_counts(loaded) == before
    assert one(loaded, "city-summary-report")["status"] == "open"
    # Both known: both done, one transaction.
    b = one(loaded, "skills-drill")
    srz(loaded, "done", str(a["id"]), str(b["id"]), "--evidence", "x", "--now", NOW)
    assert one(loaded, "city-summary-report")["status"] == "done"
    assert one(loaded, "skills-drill")["status"] == "done"


def test_done_date_in_the_future_or_impossible_is_refused(loaded: str) -> None:
    ref = str(one(loaded, "city-summary-report")["id"])
    before = row_counts(loaded)
    result = srz(loaded, "done", ref, "--on", "2023-11-02", "--evidence", "x", "--now", NOW, code=2)
    assert "晚于今天" in result.stderr
    result = srz(loaded, "done", ref, "--on", "2023-02-30", "--evidence", "x", "--now", NOW, code=2)
    assert "2023-02-30" in result.stderr and "不是有效日期" in result.stderr
    assert row_counts(loaded) == before


def test_readable_key_for_show_and_done(loaded: str) -> None:
    task = one(loaded, "city-summary-report")
    key = "city-summary-report:南宁市:2023"
    detail = show(loaded, key)
    assert detail["id"] == task["id"] and detail["key"] == key
    assert detail["clause"] == "四（二）" and "12月30日前" in detail["quote"]
    text = srz(loaded, "show", key, "--now", NOW).stdout
    assert "报送县级质检机构“双认证”工作总结和绩效自评报告" in text and "2023-12-30" in text
    srz(loaded, "done", key, "--evidence", "回执", "--now", NOW)
    assert show(loaded, str(task["id"]))["status"] == "done"
    # Institutions and the region by name as well.
    inst_key = f"key-staff-training:{NN_DUAL}:2023"
    assert show(loaded, inst_key)["institution"] == NN_DUAL
    assert show(loaded, "backbone-training:自治区:2023")["obligation"] == "backbone-training"
    # The key in the JSON is the one that resolves.
    for row in tasks(loaded, "--city", "百色市")[:5]:
        assert show(loaded, row["key"])["id"] == row["id"]


# --------------------------------------------------------------------------- extend, waive, reopen


def test_extend(loaded: str) -> None:
    ref = str(one(loaded, "city-summary-report")["id"])
    before = row_counts(loaded)
    result = srz(loaded, "extend", ref, "--to", "2023-02-30", "--reason", "x", code=2)
    assert "--to '2023-02-30' 不是有效日期" in result.stderr
    result = srz(loaded, "extend", ref, "--to", "2023-12-01", "--reason", "x", code=2)
    assert "必须晚于当前期限 2023-12-30" in result.stderr
    srz(loaded, "extend", ref, "--to", "2024-01-31", code=2)  # the reason is required
    result = srz(loaded, "extend", ref, "--to", "2024-01-31", "--reason", " ", code=2)
    assert "理由" in result.stderr
    assert row_counts(loaded) == before

    out = srz(loaded, "extend", ref, "--to", "2024-01-15", "--reason", "等待审计", "--now", NOW)
    assert "2023-12-30 延至 2024-01-15" in out.stdout
    detail = show(loaded, ref)
    assert (detail["due_on"], detail["original_due_on"]) == ("2024-01-15", "2023-12-30")
    assert detail["extensions"] == [
        {"from": "2023-12-30", "to": "2024-01-15", "reason": "等待审计"}
    ]
    text = srz(loaded, "show", ref, "--now", NOW).stdout
    assert "2023-12-30 → 2024-01-15（等待审计）" in text and "原期限 2023-12-30" in text
    assert log(loaded, "--task", ref)[-1]["action"] == "extend"
    # Not overdue on the old date any more.
    late = tasks(
        loaded, "--obligation", "city-summary-report", "--city", "南宁市", now="2024-01-02"
    )
    assert not late[0]["overdue"]
    # Reloading the plan does not undo the extension.
    from tests.srz_cli_helpers import BUNDLED_PLAN

    srz(loaded, "plan", "load", str(BUNDLED_PLAN), "--now", NOW)
    assert show(loaded, ref)["due_on"] == "2024-01-15"


def test_waive_and_reopen(loaded: str) -> None:
    ref = str(one(loaded, "skills-drill")["id"])
    result = srz(loaded, "waive", ref, code=2)
    assert "--reason" in result.output
    srz(loaded, "waive", ref, "--reason", "   ", code=2)
    assert show(loaded, ref)["status"] == "open"
    out = srz(loaded, "waive", ref, "--reason", "已并入全区竞赛", "--now", NOW).stdout
    assert "已豁免" in out
    assert show(loaded, ref)["status"] == "waived"
    assert tasks(loaded, "--status", "waived")[0]["id"] == int(ref)
    # A waived task cannot be marked done before it is reopened.
    result = srz(loaded, "done", ref, "--evidence", "x", "--now", NOW, code=2)
    assert "srz reopen" in result.stderr
    out = srz(loaded, "reopen", ref, "--now", NOW).stdout
    assert "已重新打开" in out and show(loaded, ref)["status"] == "open"
    assert "本来就是未完成" in srz(loaded, "reopen", ref, "--now", NOW).stdout
    assert [e["action"] for e in log(loaded, "--task", ref)] == ["waive", "reopen"]

    # A done task reopens; it cannot be waived while done.
    srz(loaded, "done", ref, "--evidence", "通知", "--now", NOW)
    srz(loaded, "waive", ref, "--reason", "x", code=2)
    srz(loaded, "reopen", ref, "--now", NOW)
    detail = show(loaded, ref)
    assert (detail["status"], detail["completed_on"], detail["progress"]) == ("open", None, "0/1")


def test_reopening_a_counted_task_revokes_the_session_that_closed_it(loaded: str) -> None:
    ref = str(one(loaded, "key-staff-training", institution=NN_PLAIN)["id"])
    srz(loaded, "done", ref, "--on", "2023-05-10", "--evidence", "签到表一", "--now", NOW)
    srz(loaded, "done", ref, "--on", "2023-10-20", "--evidence", "签到表二", "--now", NOW)
    assert show(loaded, ref)["progress"] == "2/2"
    srz(loaded, "reopen", ref, "--now", NOW)
    detail = show(loaded, ref)
    assert (detail["status"], detail["progress"]) == ("open", "1/2")
    assert [o["revoked"] for o in detail["occurrences"]] == [False, True]
    assert "已因重新打开而撤销" in srz(loaded, "show", ref, "--now", NOW).stdout
    srz(loaded, "done", ref, "--on", "2023-10-25", "--evidence", "签到表三", "--now", NOW)
    detail = show(loaded, ref)
    assert (detail["status"], detail["progress"], detail["completed_on"]) == (
        "done",
        "2/2",
        "2023-10-25",
    )
    assert [o["revoked"] for o in detail["occurrences"]] == [False, True, False]


# --------------------------------------------------------------------------- certification changes


def test_cert_change_moves_conditional_tasks(loaded: str) -> None:
    application = one(loaded, "certification-application", institution=NN_PLAIN)
    pairing = one(loaded, "pairing-assistance", institution=NN_PLAIN)
    srz(loaded, "done", str(pairing["id"]), "--evidence", "帮扶记录", "--on", "2023-10-10")
    srz(loaded, "done", str(pairing["id"]), "--evidence", "帮扶记录", "--now", NOW)
    done_before = show(loaded, str(pairing["id"]))
    assert not tasks(loaded, "--institution", NN_PLAIN, "--obligation", "proficiency-test")

    out = srz(loaded, "cert", "set", NN_PLAIN, "CATL", "certified", "--now", NOW).stdout
    assert "转为不适用 0" in out  # CATL alone is not dual certification
    out = srz(
        loaded, "cert", "set", NN_PLAIN, "CMA", "certified", "--on", "2023-10-20", "--now", NOW
    )
    # New: its proficiency test and its scope extension (both for dual-certified ones).
    assert "任务新增 2" in out.stdout and "转为不适用 1" in out.stdout

    assert show(loaded, str(application["id"]))["status"] == "not_applicable"
    events = log(loaded, "--task", str(application["id"]))
    assert events[-1]["action"] == "not_applicable"
    [proficiency] = tasks(loaded, "--institution", NN_PLAIN, "--obligation", "proficiency-test")
    assert (proficiency["status"], proficiency["due_on"]) == ("open", "2023-12-15")
    # The done pairing task is kept exactly as it was, though its condition no longer holds.
    assert show(loaded, str(pairing["id"])) == done_before
    listed = srz_json(loaded, "org", "list", "--now", NOW)
    assert next(r for r in listed if r["name"] == NN_PLAIN)["dual_certified"] is True

    # The certificate lapses: the application comes back, the proficiency test goes.
    srz(loaded, "cert", "set", NN_PLAIN, "CMA", "expired", "--on", "2023-10-25", "--now", NOW)
    assert show(loaded, str(application["id"]))["status"] == "open"
    assert show(loaded, str(proficiency["id"]))["status"] == "not_applicable"
    assert show(loaded, str(pairing["id"]))["status"] == "done"
    # Certified again later: the old expiry date does not count against the new certificate.
    srz(loaded, "cert", "set", NN_PLAIN, "CMA", "certified", "--on", "2023-10-30", "--now", NOW)
    assert show(loaded, str(proficiency["id"]))["status"] == "open"
    assert show(loaded, str(application["id"]))["status"] == "not_applicable"


def test_cert_set_refusals(loaded: str) -> None:
    before = row_counts(loaded)
    result = srz(loaded, "cert", "set", "不存在的机构", "CMA", "certified", code=2)
    assert "未知的机构" in result.stderr
    srz(loaded, "cert", "set", NN_PLAIN, "ISO", "certified", code=2)
    srz(loaded, "cert", "set", NN_PLAIN, "CMA", "passed", code=2)
    result = srz(loaded, "cert", "set", NN_PLAIN, "CMA", "certified", "--on", "2023-02-30", code=2)
    assert "不是有效日期" in result.stderr
    assert row_counts(loaded) == before


# --------------------------------------------------------------------------- setup and help


def test_init_twice_is_harmless(db_url: str, tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'new' / 'srz.db'}"
    assert "已初始化" in srz(fresh, "init").stdout
    assert "已是最新" in srz(fresh, "init").stdout
    demo(db_url)
    before = row_counts(db_url)
    assert "已是最新" in srz(db_url, "init").stdout
    assert row_counts(db_url) == before


def test_commands_need_an_initialized_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = srz(url, "tasks", code=2)
    assert "srz init" in result.stderr


def _all_commands() -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []
    for name, target in sorted(COMMANDS.items()):
        module_name, attr = target.split(":")
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # a command another change has not landed yet
                continue
            raise
        found.append(([name], command))
        if isinstance(command, click.Group):
            found += [([name, sub], cmd) for sub, cmd in sorted(command.commands.items())]
    return found


def test_every_command_has_help_with_an_example() -> None:
    commands = _all_commands()
    names = {" ".join(path) for path, _cmd in commands}
    assert {"init", "plan check", "plan load", "org import", "cert set", "done", "log"} <= names
    assert "示例" in srz(None, "--help").stdout
    for path, _command in [([], None), *commands]:
        result = srz(None, *path, "--help")
        assert "示例" in result.stdout, f"srz {' '.join(path)} --help has no example"


# --------------------------------------------------------------------------- settings


def test_database_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRZ_DATABASE_URL", raising=False)
    monkeypatch.delenv("SRZ_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    # Nothing configured: the documented default.
    assert (
        load_settings().database_url == f"sqlite:///{tmp_path / 'xdg' / 'srz-tracker' / 'srz.db'}"
    )
    # ./srz.toml
    (tmp_path / "srz.toml").write_text('database_url = "sqlite:///from-cwd.db"\n')
    assert load_settings().database_url == "sqlite:///from-cwd.db"
    # SRZ_CONFIG names another file, which wins over ./srz.toml
    other = tmp_path / "etc" / "srz.toml"
    other.parent.mkdir()
    other.write_text('database_url = "sqlite:///from-config.db"\n')
    monkeypatch.setenv("SRZ_CONFIG", str(other))
    assert load_settings().database_url == "sqlite:///from-config.db"
    # SRZ_DATABASE_URL beats the file
    monkeypatch.setenv("SRZ_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings().database_url == "sqlite:///from-env.db"
    # --db beats everything
    assert load_settings(db_url="sqlite:///from-flag.db").database_url == "sqlite:///from-flag.db"


def test_cli_uses_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRZ_DATABASE_URL", raising=False)
    config = tmp_path / "srz.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "cfg.db"}"\n')
    monkeypatch.setenv("SRZ_CONFIG", str(config))
    srz(None, "init")
    assert (tmp_path / "cfg.db").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("database_url = \n")
    monkeypatch.setenv("SRZ_CONFIG", str(bad))
    result = srz(None, "init", code=2)
    assert str(bad) in result.stderr and "格式有误" in result.stderr
    monkeypatch.setenv("SRZ_CONFIG", str(tmp_path / "missing.toml"))
    assert "找不到配置文件" in srz(None, "tasks", code=2).stderr


def test_log_after_demo_has_the_plan_load_and_the_import(loaded: str) -> None:
    assert [e["action"] for e in log(loaded)] == ["load", "import"]


def test_marking_a_task_locks_it_until_commit(loaded: str) -> None:
    """Two people recording a session of the same counted task at once must both count:
    the writer locks the task row, so the second one reads the first one's count."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from srz_tracker.store import db
    from srz_tracker.store.models import Task
    from srz_tracker.tasks.ops import resolve_task

    engine = db.get_engine(loaded)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes write transactions from BEGIN IMMEDIATE on")
    task_id = one(loaded, "key-staff-training", institution=NN_PLAIN)["id"]
    for ref in (str(task_id), f"key-staff-training:{NN_PLAIN}:2023"):
        with db.write_session(engine) as first:
            assert resolve_task(first, ref, lock=True).id == task_id
            with Session(engine) as second, pytest.raises(OperationalError, match="lock"):
                second.get(Task, task_id, with_for_update={"nowait": True})
    # Unlocked after commit; and reading (srz show / tasks) never locks.
    with db.read_session(engine) as reader:
        resolve_task(reader, str(task_id))
        with Session(engine) as second:
            assert second.get(Task, task_id, with_for_update={"nowait": True}) is not None


def test_unreachable_or_unknown_database_is_a_clear_error() -> None:
    result = srz("postgresql://srz:secret@127.0.0.1:1/srz", "tasks", code=2)
    assert "无法连接数据库" in result.stderr and "secret" not in result.stderr
    result = srz("nonsense://x", "tasks", code=2)
    assert "不支持的数据库类型" in result.stderr


def test_click_usage_errors_speak_chinese() -> None:
    result = srz(None, "tasks", "--status", "bogus", code=2)
    assert "的值无效" in result.stderr and "不是可选值" in result.stderr
    assert "用法：" in result.stderr
    assert "显示本帮助并退出" in srz(None, "--help").stdout
