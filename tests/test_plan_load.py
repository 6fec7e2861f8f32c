"""The plan as data: the bundled file says what the plan says, and every kind of
malformed file is refused with FILE:LINE for each problem, exit code 2, nothing stored."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from srz_tracker.errors import PlanError
from srz_tracker.plan.schema import load_plan_file
from srz_tracker.store import db
from srz_tracker.store.models import CityTarget, Obligation, Plan
from tests.srz_cli_helpers import BUNDLED_PLAN, NOW, row_counts, srz, srz_json

PLAN_TEXT = BUNDLED_PLAN.read_text(encoding="utf-8")

# The performance table (绩效目标表) of the plan: city, 项目金额 (万元), 机构个数.
PLAN_TABLE = {
    "南宁市": (40, 2),
    "柳州市": (55, 3),
    "桂林市": (40, 2),
    "梧州市": (40, 2),
    "防城港市": (20, 1),
    "钦州市": (20, 1),
    "贵港市": (40, 2),
    "玉林市": (40, 2),
    "百色市": (80, 4),
    "河池市": (40, 2),
    "来宾市": (20, 1),
    "崇左市": (40, 2),
}

OBLIGATIONS = {
    # id: (clause starts with, scope, condition)
    "staff-course-attendance": ("三（一）", "institution", None),
    "city-hands-on-training": ("三（一）", "city", None),
    "onsite-guidance": ("三（一）", "institution", None),
    "staff-training-plan": ("三（一）", "institution", None),
    "key-staff-training": ("三（一）", "institution", None),
    "pairing-assistance": ("三（二）", "institution", "not_dual_certified"),
    "backbone-training": ("三（三）", "region", None),
    "city-expert-team": ("三（四）", "city", None),
    "skills-drill": ("三（五）", "city", None),
    "certification-application": ("四（二）", "institution", "not_dual_certified"),
    "proficiency-test": ("四（二）", "institution", "dual_certified"),
    "scope-extension": ("二", "institution", "dual_certified"),
    "city-summary-report": ("四（二）", "city", None),
    "special-funds": ("四（三）", "city", None),
}


# --------------------------------------------------------------------------- the bundled plan


def test_bundled_plan_matches_the_plan_document() -> None:
    spec = load_plan_file(BUNDLED_PLAN)
    assert spec.key == "gx-srz-2023" and spec.year == 2023 and spec.timezone == "Asia/Shanghai"
    table = {row.name: (row.allocation_wan, row.institutions) for row in spec.cities}
    assert table == {name: (Decimal(a), n) for name, (a, n) in PLAN_TABLE.items()}
    assert sum(row.institutions for row in spec.cities) == 24
    assert sum(row.allocation_wan for row in spec.cities) == Decimal(475)
    assert spec.document["targets"]["region_dual_certified_share"] == pytest.approx(0.8)
    assert spec.document["targets"]["satisfaction"] == pytest.approx(0.9)
    assert spec.document["targets"]["major_incidents"] == 0

    obligations = {o.key: o for o in spec.obligations}
    assert len(spec.obligations) == 14
    assert set(obligations) == set(OBLIGATIONS)
    for key, (clause, scope, condition) in OBLIGATIONS.items():
        ob = obligations[key]
        assert ob.clause.startswith(clause), key
        assert (ob.scope, ob.condition) == (scope, condition), key
        assert ob.quote and ob.title, key
        # A date the plan does not state is marked as our assumption.
        if key not in ("city-summary-report", "certification-application"):
            assert ob.assumption, key
    assert obligations["city-summary-report"].recurrence.due == ((12, 30),)
    assert "12月30日前" in obligations["city-summary-report"].quote
    assert obligations["certification-application"].recurrence.due == ((11, 30),)
    assert obligations["city-expert-team"].recurrence.type == "once"
    assert obligations["key-staff-training"].required_count == 2
    assert obligations["key-staff-training"].checkpoint == {"due": "06-30", "count": 1}


def test_plan_check_cli_accepts_the_bundled_plan() -> None:
    result = srz(None, "plan", "check", str(BUNDLED_PLAN))
    assert "校验通过" in result.stdout
    assert "14 项义务" in result.stdout and "12 个市" in result.stdout


def test_plan_load_stores_the_table_and_obligations(db_url: str) -> None:
    srz(db_url, "init")
    result = srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--now", NOW)
    assert "已导入方案 gx-srz-2023：14 项义务" in result.stdout
    with db.read_session(db.get_engine(db_url)) as session:
        targets = {
            t.city.name: (t.allocation_wan, t.target_institutions, t.year)
            for t in session.scalars(select(CityTarget))
        }
        assert targets == {n: (Decimal(a), c, 2023) for n, (a, c) in PLAN_TABLE.items()}
        assert session.scalar(select(Plan.key)) == "gx-srz-2023"
        assert len(session.scalars(select(Obligation)).all()) == 14
    shown = srz_json(db_url, "plan", "show")
    assert {row["id"] for row in shown} == set(OBLIGATIONS)


def test_reload_is_idempotent_and_year_adds_a_year(demo_db_url: str) -> None:
    db_url = demo_db_url
    before = row_counts(db_url)
    result = srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--now", NOW)
    assert "已更新方案" in result.stdout and "新增任务 0 项" in result.stdout
    after = row_counts(db_url)
    assert after["tasks"] == before["tasks"]
    assert after["obligations"] == 14 and after["city_targets"] == 12

    tasks_2023 = srz_json(db_url, "tasks", "--now", NOW)
    srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--now", NOW)
    tasks = srz_json(db_url, "tasks", "--now", NOW)
    new = [t for t in tasks if t["period"] == "2024"]
    # Every yearly task again, for 2024; the one-off expert team is not repeated.
    yearly_2023 = [t for t in tasks_2023 if t["period"] == "2023"]
    assert len(new) == len(yearly_2023)
    assert not any(t["obligation"] == "city-expert-team" for t in new)
    assert [t["period"] for t in tasks if t["obligation"] == "city-expert-team"] == ["once"] * 12
    report = [t for t in new if t["obligation"] == "city-summary-report" and t["city"] == "南宁市"]
    assert [t["due_on"] for t in report] == ["2024-12-30"]
    # Loading 2024 again changes nothing.
    counts = row_counts(db_url)["tasks"]
    srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--year", "2024", "--now", NOW)
    assert row_counts(db_url)["tasks"] == counts


# --------------------------------------------------------------------------- malformed files


@dataclass(frozen=True)
class Bad:
    """A malformed variant of the bundled plan: ``old`` replaced by ``new``; the problem
    is expected on the line holding ``marker`` (its first occurrence after the edit)."""

    name: str
    old: str
    new: str
    marker: str
    message: str

    def text(self) -> str:
        assert PLAN_TEXT.count(self.old) >= 1, self.old
        return PLAN_TEXT.replace(self.old, self.new, 1)

    def line(self) -> int:
        return _line_of(self.text(), self.marker)


def _line_of(text: str, marker: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the file")


REPORT = '    recurrence: {type: yearly, due: "12-30"}\n'
FUNDS_ID = "  - id: special-funds\n"
FUNDS_HEAD = FUNDS_ID + "    title: 与本级财政部门沟通落实专项资金，资金仅用于规定用途\n"

BAD_FILES = [
    Bad(
        "yaml-syntax",
        "    clause: 四（三）\n",
        "    clause: 四（三）: 多余\n",
        "四（三）: 多余",
        "YAML",
    ),
    Bad(
        "unknown-key",
        FUNDS_ID,
        FUNDS_ID + "    deadline: 12-30\n",
        "deadline:",
        "未知的键 'deadline'",
    ),
    Bad(
        "missing-field",
        "    clause: 四（三）\n",
        "",
        "id: special-funds",
        "缺少必填项 'clause'",
    ),
    Bad(
        "impossible-month-day",
        REPORT,
        '    recurrence: {type: yearly, due: "02-30"}\n',
        '"02-30"',
        "不存在的日期",
    ),
    Bad(
        "impossible-yaml-date",
        REPORT,
        "    recurrence: {type: yearly, due: 2023-02-30}\n",
        "2023-02-30",
        "不存在的日期 '2023-02-30'",
    ),
    Bad(
        "bad-recurrence-type",
        REPORT,
        '    recurrence: {type: monthly, due: "12-30"}\n',
        "type: monthly",
        "未知的周期类型 'monthly'",
    ),
    Bad(
        "twice-yearly-one-date",
        REPORT,
        '    recurrence: {type: twice_yearly, due: ["12-30"]}\n',
        "twice_yearly",
        "需要 2 个到期日",
    ),
    Bad(
        "invalid-rrule",
        REPORT,
        "    recurrence: {type: rrule, rrule: 'FREQ=SOMETIMES'}\n",
        "FREQ=SOMETIMES",
        "无效的 RRULE",
    ),
    Bad(
        "duplicate-id",
        FUNDS_ID,
        "  - id: skills-drill\n",
        "id: skills-drill",  # see _expected_line: the second definition
        "重复的 id 'skills-drill'",
    ),
    Bad(
        "duplicate-yaml-key",
        FUNDS_HEAD,
        FUNDS_HEAD + "    title: 重复的标题\n",
        "title: 重复的标题",
        "重复的键 'title'",
    ),
    Bad(
        "city-not-in-table",
        FUNDS_ID,
        FUNDS_ID + "    cities: [不存在市]\n",
        "cities: [不存在市]",
        "市 '不存在市' 不在绩效目标表",
    ),
    Bad(
        "bad-table-row",
        "    - {name: 南宁市, allocation_wan: 40, institutions: 2}\n",
        "    - {name: 南宁市, allocation_wan: 四十, institutions: 2}\n",
        "allocation_wan: 四十",
        "allocation_wan 应为非负金额",
    ),
]


def _expected_line(bad: Bad) -> int:
    if bad.name == "duplicate-id":
        # The second definition is the one refused, at its own line.
        lines = bad.text().splitlines()
        hits = [i for i, line in enumerate(lines, start=1) if line == "  - id: skills-drill"]
        assert len(hits) == 2
        return hits[1]
    return bad.line()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad-plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", BAD_FILES, ids=lambda b: b.name)
def test_plan_check_reports_file_and_line(tmp_path: Path, bad: Bad) -> None:
    path = _write(tmp_path, bad.text())
    result = srz(None, "plan", "check", str(path), code=2)
    expected = f"{path}:{_expected_line(bad)}: "
    lines = result.stderr.splitlines()
    hits = [line for line in lines if line.startswith(expected)]
    assert hits, f"no {expected!r} in:\n{result.stderr}"
    assert any(bad.message in line for line in hits), result.stderr
    assert lines[-1].startswith("错误：共") and "未写入任何数据" in lines[-1]
    assert "校验通过" not in result.stdout
    with pytest.raises(PlanError):
        load_plan_file(path)


def test_plan_load_refuses_every_bad_file_and_stores_nothing(
    demo_db_url: str, tmp_path: Path
) -> None:
    db_url = demo_db_url
    before = row_counts(db_url)
    tasks_before = srz_json(db_url, "tasks", "--now", NOW)
    for bad in BAD_FILES:
        path = _write(tmp_path, bad.text())
        result = srz(db_url, "plan", "load", str(path), "--year", "2024", "--now", NOW, code=2)
        assert f"{path}:{_expected_line(bad)}: " in result.stderr, (bad.name, result.stderr)
        assert row_counts(db_url) == before, bad.name
    assert srz_json(db_url, "tasks", "--now", NOW) == tasks_before


def test_plan_load_into_empty_database_stores_nothing(db_url: str, tmp_path: Path) -> None:
    srz(db_url, "init")
    before = row_counts(db_url)
    path = _write(tmp_path, BAD_FILES[-2].text())
    srz(db_url, "plan", "load", str(path), code=2)
    assert row_counts(db_url) == before
    assert sum(before.values()) == 0


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = PLAN_TEXT
    text = text.replace(REPORT, "    recurrence: {type: yearly, due: 2023-02-30}\n", 1)
    text = text.replace(FUNDS_HEAD, FUNDS_HEAD + "    title: 重复的标题\n    deadline: 12-30\n", 1)
    text = text.replace(
        "  - id: skills-drill\n", "  - id: skills-drill\n    cities: [不存在市]\n", 1
    )
    text = text.replace('{type: yearly, due: "03-31"}', '{type: twice_yearly, due: "03-31"}', 1)
    path = _write(tmp_path, text)
    result = srz(None, "plan", "check", str(path), code=2)
    expected = {
        _line_of(text, "2023-02-30"): "不存在的日期",
        _line_of(text, "title: 重复的标题"): "重复的键 'title'",
        _line_of(text, "deadline: 12-30"): "未知的键 'deadline'",
        _line_of(text, "cities: [不存在市]"): "不在绩效目标表",
        _line_of(text, "twice_yearly"): "需要 2 个到期日",
    }
    for line, message in expected.items():
        assert any(
            row.startswith(f"{path}:{line}: ") and message in row
            for row in result.stderr.splitlines()
        ), (line, message, result.stderr)
    assert "共 5 个问题" in result.stderr
    # Listed in file order.
    numbers = [int(row.split(":")[1]) for row in result.stderr.splitlines()[:-1]]
    assert numbers == sorted(numbers)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = srz(None, "plan", "check", str(missing), code=2)
    assert str(missing) in result.stderr and "无法读取文件" in result.stderr
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes(PLAN_TEXT.encode("gb18030"))
    result = srz(None, "plan", "check", str(gbk), code=2)
    assert "不是 UTF-8" in result.stderr


def test_empty_and_skeleton_files(tmp_path: Path) -> None:
    path = _write(tmp_path, "null\n")
    result = srz(None, "plan", "check", str(path), code=2)
    assert f"{path}:1: " in result.stderr
    path = _write(tmp_path, "plan: {id: x-plan, title: 测试, year: 2023}\n")
    result = srz(None, "plan", "check", str(path), code=2)
    assert "缺少必填项 'obligations'" in result.stderr
    assert "缺少必填项 'performance_table'" in result.stderr


def test_an_obligation_removed_from_the_file_closes_its_open_tasks(
    demo_db_url: str, tmp_path: Path
) -> None:
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    start = text.index("  - id: skills-drill")
    end = text.index("  - id: certification-application")
    edited = tmp_path / "plan.yaml"
    edited.write_text(text[:start] + text[end:], encoding="utf-8")
    srz(demo_db_url, "plan", "load", str(edited), "--now", "2023-11-02T10:00")
    drills = srz_json(demo_db_url, "tasks", "--obligation", "skills-drill")
    assert len(drills) == 12 and {t["status"] for t in drills} == {"not_applicable"}
    log = srz_json(demo_db_url, "log", "--task", str(drills[0]["id"]))
    assert log[-1]["detail"]["reason"] == "obligation removed from the plan file"
    # Loading the full file again brings them back.
    srz(demo_db_url, "plan", "load", str(BUNDLED_PLAN), "--now", "2023-11-03T10:00")
    drills = srz_json(demo_db_url, "tasks", "--obligation", "skills-drill")
    assert {t["status"] for t in drills} == {"open"}
