"""The performance report on a scripted year: the bundled plan and sample directory,
completions on chosen dates (some late, one early, one after an extension, one
waived), expenses (柳州市 over its allocation), satisfaction (柳州市 below 90 %), one
incident (防城港市). The expected figures below are the hand computation, written out
literally; the report must agree in JSON, CSV, XLSX and HTML, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from srz_tracker.report.columns import COLUMNS, value
from tests.srz_cli_helpers import srz

NN_A, NN_B = "南宁市示例县甲县级质检机构（占位）", "南宁市示例县乙县级质检机构（占位）"
LZ_A, LZ_B, LZ_C = (f"柳州市示例县{x}县级质检机构（占位）" for x in "甲乙丙")
FC_A = "防城港市示例县甲县级质检机构（占位）"
RECORDED = "2023-12-20T08:00"  # when the office records it all
MID = "2023-12-20T10:00"  # the report before the year is over
AFTER = "2024-01-10T10:00"  # and after it


def done(db_url: str, on: str, *keys: str) -> None:
    srz(db_url, "done", *keys, "--on", on, "--now", RECORDED, "--no-evidence-reason", "脚本")


def script_year(db_url: str) -> None:
    """The scripted year. Task keys are OBLIGATION:SUBJECT:PERIOD."""
    srz(db_url, "demo", "--now", "2023-01-05T09:00")
    # The scope extension of 二 came after this hand computation was written: waived
    # tasks are left out of every figure, so the figures below stay those of the script.
    extensions = json.loads(
        srz(db_url, "tasks", "--obligation", "scope-extension", "--format", "json").stdout
    )
    for task in extensions:
        srz(db_url, "waive", str(task["id"]), "--reason", "不在本脚本核算", "--now", RECORDED)
    # 南宁市: 16 tasks. Late: staff-training-plan 乙 (03-31 → 04-10), onsite 乙 (10-31 →
    # 11-05). Early: the summary report (due 12-30) done 12-18. Open: skills-drill,
    # course 乙, key-staff 乙 (1 of 2 sessions).
    done(db_url, "2023-03-20", f"staff-training-plan:{NN_A}:2023")
    done(db_url, "2023-04-10", f"staff-training-plan:{NN_B}:2023")
    done(db_url, "2023-06-28", "city-expert-team:南宁市:once")
    done(db_url, "2023-06-30", "special-funds:南宁市:2023")
    done(db_url, "2023-10-15", "city-hands-on-training:南宁市:2023")
    done(db_url, "2023-10-20", f"onsite-guidance:{NN_A}:2023")
    done(db_url, "2023-11-05", f"onsite-guidance:{NN_B}:2023")
    done(db_url, "2023-09-30", f"pairing-assistance:{NN_A}:2023")
    done(db_url, "2023-11-28", f"certification-application:{NN_A}:2023")
    done(db_url, "2023-12-10", f"proficiency-test:{NN_B}:2023")
    done(db_url, "2023-11-30", f"staff-course-attendance:{NN_A}:2023")
    done(db_url, "2023-06-01", f"key-staff-training:{NN_A}:2023", f"key-staff-training:{NN_B}:2023")
    done(db_url, "2023-12-01", f"key-staff-training:{NN_A}:2023")
    done(db_url, "2023-12-18", "city-summary-report:南宁市:2023")
    # 柳州市: 22 tasks; 甲 applies after November (late, not counted as applied).
    done(db_url, "2023-12-05", f"certification-application:{LZ_A}:2023")
    done(db_url, "2023-11-10", f"certification-application:{LZ_C}:2023")
    done(db_url, "2023-06-20", "special-funds:柳州市:2023")
    # 桂林市: skills-drill waived; hands-on training extended to 12-31 and done 12-15.
    srz(db_url, "waive", "skills-drill:桂林市:2023", "--reason", "并入全区竞赛", "--now", RECORDED)
    srz(
        db_url, "extend", "city-hands-on-training:桂林市:2023", "--to", "2023-12-31",
        "--reason", "场地改期", "--now", "2023-10-20T09:00",
    )  # fmt: skip
    done(db_url, "2023-12-15", "city-hands-on-training:桂林市:2023")
    # 防城港市: all 11 tasks done on time, the summary report early.
    done(db_url, "2023-03-15", f"staff-training-plan:{FC_A}:2023")
    done(db_url, "2023-06-15", "city-expert-team:防城港市:once", "special-funds:防城港市:2023")
    done(db_url, "2023-06-15", f"key-staff-training:{FC_A}:2023")
    done(db_url, "2023-12-01", f"key-staff-training:{FC_A}:2023")
    done(
        db_url, "2023-10-10", "city-hands-on-training:防城港市:2023",
        f"onsite-guidance:{FC_A}:2023", f"pairing-assistance:{FC_A}:2023",
    )  # fmt: skip
    done(
        db_url, "2023-11-20", "skills-drill:防城港市:2023",
        f"certification-application:{FC_A}:2023", f"staff-course-attendance:{FC_A}:2023",
    )  # fmt: skip
    done(db_url, "2023-12-18", "city-summary-report:防城港市:2023")
    # The region's own task (backbone training), on time.
    done(db_url, "2023-11-25", "backbone-training:自治区:2023")
    # Money, indicators, incidents (some outside 2023, which must not count).
    for city, amount, category, on in [
        ("南宁市", "12.5", "training", "2023-05-10"),
        ("南宁市", "8.25", "采购试剂", "2023-07-01"),
        ("南宁市", "15", "检测设备", "2023-09-15"),
        ("柳州市", "50", "equipment", "2023-04-01"),
        ("柳州市", "10.5", "维护仪器设备", "2023-08-08"),
        ("防城港市", "18", "consumables", "2023-10-01"),
    ]:
        srz(db_url, "expense", "add", "--city", city, "--amount", amount, "--category", category,
            "--on", on, "--now", RECORDED)  # fmt: skip
    srz(db_url, "expense", "add", "--city", "南宁市", "--amount", "5", "--category", "training",
        "--on", "2024-01-05", "--now", AFTER)  # fmt: skip
    for city, pct in [("南宁市", "92"), ("柳州市", "88.5%"), ("防城港市", "0.95")]:
        srz(db_url, "indicator", "set", "--city", city, "--year", "2023", "satisfaction", pct)
    srz(db_url, "indicator", "set", "--city", "南宁市", "--year", "2022", "satisfaction", "50%")
    srz(db_url, "incident", "add", "--city", "防城港市", "--on", "2023-08-03", "--note",
        "某批次蔬菜农药残留超标", "--now", RECORDED)  # fmt: skip
    srz(db_url, "incident", "add", "--city", "南宁市", "--on", "2022-06-01", "--note", "往年事件",
        "--now", RECORDED)  # fmt: skip


@pytest.fixture
def year(db_url: str) -> str:
    script_year(db_url)
    return db_url


def report(db_url: str, now: str, *args: str) -> dict[str, Any]:
    return json.loads(srz(db_url, "report", "--now", now, "--format", "json", *args).stdout)


def figures(row: dict[str, Any]) -> dict[str, Any]:
    """The figures a reader checks, flattened: (indicator, field) -> value."""
    out = {"allocation_wan": row["allocation_wan"]}
    for indicator, fields in {
        "institutions": ("target", "actual", "verdict"),
        "quality": ("certified", "passed", "not_certified", "applied", "actual", "verdict"),
        "completion": ("tasks", "due", "done_of_due", "done", "overdue", "actual", "verdict"),
        "timeliness": ("done", "on_time", "late", "actual", "verdict"),
        "cost": ("target", "actual", "share", "verdict"),
        "incidents": ("actual", "verdict"),
        "satisfaction": ("actual", "verdict"),
        "dual_certified": ("institutions", "dual_certified", "actual"),
    }.items():
        for field in fields:
            out[f"{indicator}.{field}"] = row[indicator][field]
    return out


# The hand computation at 2023-12-20 (year not over; the application deadline 11-30 and
# the proficiency-test due date 12-15 have passed; the summary report is due 12-30).
MID_EXPECTED = {
    "南宁市": {
        "allocation_wan": 40.0,
        "institutions.target": 2, "institutions.actual": 2, "institutions.verdict": "达标",
        # 乙 dual-certified passed the proficiency test; 甲 applied on 11-28.
        "quality.certified": 1, "quality.passed": 1, "quality.not_certified": 1,
        "quality.applied": 1, "quality.actual": 1.0, "quality.verdict": "达标",
        # 16 tasks, 15 due (not the summary report), 12 of them done, 13 done in all.
        "completion.tasks": 16, "completion.due": 15, "completion.done_of_due": 12,
        "completion.done": 13, "completion.overdue": 3, "completion.actual": 0.8,
        "completion.verdict": "进行中",
        # 2 of the 13 done late: 11/13 = 0.84615...
        "timeliness.done": 13, "timeliness.on_time": 11, "timeliness.late": 2,
        "timeliness.actual": 0.8462, "timeliness.verdict": "未达标",
        # 12.5 + 8.25 + 15 (the 2024 expense does not count) = 35.75 of 40.
        "cost.target": 40.0, "cost.actual": 35.75, "cost.share": 0.8938, "cost.verdict": "进行中",
        "incidents.actual": 0, "incidents.verdict": "进行中",
        "satisfaction.actual": 0.92, "satisfaction.verdict": "达标",
        "dual_certified.institutions": 2, "dual_certified.dual_certified": 1,
        "dual_certified.actual": 0.5,
    },
    "柳州市": {
        "allocation_wan": 55.0,
        "institutions.target": 3, "institutions.actual": 3, "institutions.verdict": "达标",
        # 乙 has not passed; 丙 applied 11-10; 甲 applied 12-05, after November.
        "quality.certified": 1, "quality.passed": 0, "quality.not_certified": 2,
        "quality.applied": 1, "quality.actual": 0.3333, "quality.verdict": "未达标",
        "completion.tasks": 22, "completion.due": 21, "completion.done_of_due": 3,
        "completion.done": 3, "completion.overdue": 18, "completion.actual": 0.1429,
        "completion.verdict": "进行中",
        "timeliness.done": 3, "timeliness.on_time": 2, "timeliness.late": 1,
        "timeliness.actual": 0.6667, "timeliness.verdict": "未达标",
        # 50 + 10.5 = 60.5 > 55: missed for good.
        "cost.target": 55.0, "cost.actual": 60.5, "cost.share": 1.1, "cost.verdict": "未达标",
        "incidents.actual": 0, "incidents.verdict": "进行中",
        "satisfaction.actual": 0.885, "satisfaction.verdict": "未达标",
        "dual_certified.institutions": 3, "dual_certified.dual_certified": 1,
        "dual_certified.actual": 0.3333,
    },
    "桂林市": {
        "allocation_wan": 40.0,
        "institutions.target": 2, "institutions.actual": 2, "institutions.verdict": "达标",
        "quality.certified": 1, "quality.passed": 0, "quality.not_certified": 1,
        "quality.applied": 0, "quality.actual": 0.0, "quality.verdict": "未达标",
        # 16 tasks less the waived one; 13 due (not the summary report, not the hands-on
        # training extended to 12-31, which is done 12-15 — on time for its new date).
        "completion.tasks": 15, "completion.due": 13, "completion.done_of_due": 0,
        "completion.done": 1, "completion.overdue": 13, "completion.actual": 0.0,
        "completion.verdict": "进行中",
        "timeliness.done": 1, "timeliness.on_time": 1, "timeliness.late": 0,
        "timeliness.actual": 1.0, "timeliness.verdict": "进行中",
        "cost.target": 40.0, "cost.actual": 0.0, "cost.share": 0.0, "cost.verdict": "进行中",
        "incidents.actual": 0, "incidents.verdict": "进行中",
        "satisfaction.actual": None, "satisfaction.verdict": "进行中",
        "dual_certified.institutions": 2, "dual_certified.dual_certified": 1,
        "dual_certified.actual": 0.5,
    },
    "防城港市": {
        "allocation_wan": 20.0,
        "institutions.target": 1, "institutions.actual": 1, "institutions.verdict": "达标",
        "quality.certified": 0, "quality.passed": 0, "quality.not_certified": 1,
        "quality.applied": 1, "quality.actual": 1.0, "quality.verdict": "达标",
        # Every task of the year done (the summary report early): met before year end.
        "completion.tasks": 11, "completion.due": 10, "completion.done_of_due": 10,
        "completion.done": 11, "completion.overdue": 0, "completion.actual": 1.0,
        "completion.verdict": "达标",
        "timeliness.done": 11, "timeliness.on_time": 11, "timeliness.late": 0,
        "timeliness.actual": 1.0, "timeliness.verdict": "达标",
        "cost.target": 20.0, "cost.actual": 18.0, "cost.share": 0.9, "cost.verdict": "进行中",
        "incidents.actual": 1, "incidents.verdict": "未达标",
        "satisfaction.actual": 0.95, "satisfaction.verdict": "达标",
        "dual_certified.institutions": 1, "dual_certified.dual_certified": 0,
        "dual_certified.actual": 0.0,
    },
    "梧州市": {  # nothing recorded
        "allocation_wan": 40.0,
        "institutions.target": 2, "institutions.actual": 2, "institutions.verdict": "达标",
        "quality.certified": 1, "quality.passed": 0, "quality.not_certified": 1,
        "quality.applied": 0, "quality.actual": 0.0, "quality.verdict": "未达标",
        "completion.tasks": 16, "completion.due": 15, "completion.done_of_due": 0,
        "completion.done": 0, "completion.overdue": 15, "completion.actual": 0.0,
        "completion.verdict": "进行中",
        "timeliness.done": 0, "timeliness.on_time": 0, "timeliness.late": 0,
        "timeliness.actual": None, "timeliness.verdict": "进行中",
        "cost.target": 40.0, "cost.actual": 0.0, "cost.share": 0.0, "cost.verdict": "进行中",
        "incidents.actual": 0, "incidents.verdict": "进行中",
        "satisfaction.actual": None, "satisfaction.verdict": "进行中",
        "dual_certified.institutions": 2, "dual_certified.dual_certified": 1,
        "dual_certified.actual": 0.5,
    },
    "全区合计": {
        "allocation_wan": 475.0,
        "institutions.target": 24, "institutions.actual": 24, "institutions.verdict": "达标",
        # 9 dual-certified (乙 of 9 cities), 1 passed; 15 others, 3 applied in time.
        "quality.certified": 9, "quality.passed": 1, "quality.not_certified": 15,
        "quality.applied": 3, "quality.actual": 0.1667, "quality.verdict": "未达标",
        # 196 tasks less 1 waived; due: 195 less 12 summary reports less 桂林's extended
        # training = 182; done of due: 12 + 3 + 0 + 10 + region 1 = 26; done 13+3+1+11+1.
        "completion.tasks": 195, "completion.due": 182, "completion.done_of_due": 26,
        "completion.done": 29, "completion.overdue": 156, "completion.actual": 0.1429,
        "completion.verdict": "进行中",
        "timeliness.done": 29, "timeliness.on_time": 26, "timeliness.late": 3,
        "timeliness.actual": 0.8966, "timeliness.verdict": "未达标",
        # 35.75 + 60.5 + 18 = 114.25 of 475; 柳州市 over its own allocation.
        "cost.target": 475.0, "cost.actual": 114.25, "cost.share": 0.2405,
        "cost.verdict": "未达标",
        "incidents.actual": 1, "incidents.verdict": "未达标",
        # mean of 0.92, 0.885, 0.95
        "satisfaction.actual": 0.9183, "satisfaction.verdict": "未达标",
        "dual_certified.institutions": 24, "dual_certified.dual_certified": 9,
        "dual_certified.actual": 0.375,
    },
}  # fmt: skip

# After the year (2024-01-10, --year 2023): everything is due, 进行中 becomes a verdict.
AFTER_EXPECTED = {
    "南宁市": {
        "completion.due": 16, "completion.done_of_due": 13, "completion.actual": 0.8125,
        "completion.verdict": "未达标", "timeliness.verdict": "未达标",
        "quality.verdict": "达标", "cost.actual": 35.75, "cost.verdict": "达标",
        "incidents.verdict": "达标", "satisfaction.verdict": "达标",
    },
    "桂林市": {
        "completion.due": 15, "completion.done_of_due": 1, "completion.actual": 0.0667,
        "completion.overdue": 14, "completion.verdict": "未达标",
        "timeliness.actual": 1.0, "timeliness.verdict": "达标",
        # Nothing spent: not 达标 while the plan year is open, year over or not (issue 10).
        "satisfaction.verdict": "未达标", "cost.verdict": "进行中",
    },
    "防城港市": {
        "completion.due": 11, "completion.done_of_due": 11, "completion.actual": 1.0,
        "completion.verdict": "达标", "timeliness.verdict": "达标", "cost.verdict": "达标",
        "incidents.verdict": "未达标", "quality.verdict": "达标",
    },
    "全区合计": {
        "completion.due": 195, "completion.done_of_due": 29, "completion.actual": 0.1487,
        "completion.verdict": "未达标", "dual_certified.actual": 0.375,
    },
}  # fmt: skip


def by_city(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {r["city"]: r for r in data["cities"]}
    if data["region"]:
        rows[data["region"]["city"]] = data["region"]
    return rows


def test_report_matches_the_hand_computation(year: str) -> None:
    mid = report(year, MID)
    assert (mid["year"], mid["today"], mid["year_over"]) == (2023, "2023-12-20", False)
    rows = by_city(mid)
    assert list(rows)[:12] == [
        "南宁市", "柳州市", "桂林市", "梧州市", "防城港市", "钦州市",
        "贵港市", "玉林市", "百色市", "河池市", "来宾市", "崇左市",
    ]  # fmt: skip
    for city, expected in MID_EXPECTED.items():
        got = figures(rows[city])
        assert {k: got[k] for k in expected} == expected, city
    assert rows["全区合计"]["dual_certified"]["target"] == 0.8
    assert rows["全区合计"]["dual_certified"]["verdict"] == "进行中"
    # JSON numbers are numbers.
    assert isinstance(rows["南宁市"]["cost"]["actual"], float)
    assert isinstance(rows["南宁市"]["completion"]["due"], int)

    after = by_city(report(year, AFTER))  # the default year is the last one with tasks
    assert after["全区合计"]["dual_certified"]["verdict"] == "未达标"
    for city, expected in AFTER_EXPECTED.items():
        got = figures(after[city])
        assert {k: got[k] for k in expected} == expected, city

    one = report(year, MID, "--city", "柳州市")
    assert one["region"] is None and [r["city"] for r in one["cities"]] == ["柳州市"]
    assert figures(one["cities"][0]) == figures(rows["柳州市"])
    srz(year, "report", "--city", "北京市", "--now", MID, code=2)


class _Figures(HTMLParser):
    """Collects data-key/data-value of the table (per data-city row) and of SVG bars."""

    def __init__(self) -> None:
        super().__init__()
        self.city: str | None = None
        self.table: dict[tuple[str, str], float] = {}
        self.svgs: list[str] = []
        self.text: list[str] = []
        self.forbidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-city"):
            self.city = a["data-city"]
        if tag in ("script", "link", "img", "iframe", "object"):
            self.forbidden.append(tag)
        if tag == "span" and a.get("data-key") and self.city and a.get("data-value"):
            self.table[(self.city, a["data-key"])] = float(a["data-value"])  # type: ignore[arg-type]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_exports_carry_the_json_numbers(year: str, tmp_path: Path) -> None:
    data = report(year, MID)
    rows = [*data["cities"], data["region"]]

    # CSV: UTF-8 with BOM, one header row and one row per city plus the region.
    path = tmp_path / "r.csv"
    srz(year, "report", "--now", MID, "-o", str(path))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == [c.title for c in COLUMNS] and len(table) == 1 + 13
    for line, row in zip(table[1:], rows, strict=True):
        for cell, c in zip(line, COLUMNS, strict=True):
            v = value(row, c.path)
            if isinstance(v, (int, float)):
                assert float(cell) == pytest.approx(v), (row["city"], c.path)
            else:
                assert cell == ("" if v is None else v), (row["city"], c.path)

    # XLSX read back: the same numbers, number formats, frozen headers.
    from openpyxl import load_workbook

    path = tmp_path / "r.xlsx"
    srz(year, "report", "--now", MID, "--format", "xlsx", "-o", str(path))
    ws = load_workbook(path)["绩效自评"]
    assert ws["A1"].value == data["title"]
    assert ws.freeze_panes == "C7"
    assert ws.cell(3, 1).value == "市级" and ws.cell(3, 3).value == "产出指标"
    col = {c.path: i for i, c in enumerate(COLUMNS, start=1)}
    for r_index, row in enumerate(rows, start=7):
        assert ws.cell(r_index, 1).value == row["city"]
        for c in COLUMNS:
            assert ws.cell(r_index, col[c.path]).value == value(row, c.path), (row["city"], c.path)
    nn = 7
    assert ws.cell(nn, col["cost.actual"]).number_format == "0.00"
    assert ws.cell(nn, col["completion.actual"]).number_format == "0.0%"
    assert ws.cell(nn, col["completion.actual"]).value == 0.8

    # HTML: one file, no scripts or links; table and SVG bars carry the JSON values.
    path = tmp_path / "r.html"
    srz(year, "report", "--now", MID, "--format", "html", "-o", str(path))
    html = path.read_text(encoding="utf-8")
    parser = _Figures()
    parser.feed(html)
    assert parser.forbidden == [] and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in html and "@media print" in html
    for row in rows:
        for key in ("completion.actual", "timeliness.actual", "cost.actual", "quality.actual"):
            v = value(row, key)
            if v is not None:
                assert parser.table[(row["city"], key)] == pytest.approx(v), (row["city"], key)
    assert parser.table[("全区合计", "dual_certified.actual")] == 0.375
    svgs = [html[i : html.index("</svg>", i) + 6] for i in _find_all(html, "<svg ")]
    assert len(svgs) == 2
    ns = {"s": "http://www.w3.org/2000/svg"}
    for svg, key in zip(svgs, ("completion.actual", "cost.actual"), strict=True):
        bars = ET.fromstring(svg).findall(".//s:rect[@class='bar']", ns)
        assert [b.get("data-city") for b in bars] == [r["city"] for r in data["cities"]]
        for bar, row in zip(bars, data["cities"], strict=True):
            assert bar.get("data-key") == key
            v = value(row, key)
            assert (None if bar.get("data-value") is None else float(bar.get("data-value"))) == v
    assert "60.50 / 55.00  超支" in "".join(parser.text)


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def test_report_table_and_usage_errors(year: str, tmp_path: Path) -> None:
    out = srz(year, "report", "--now", MID).stdout
    assert "2023年县级质检机构“双认证”建设项目绩效自评表" in out
    assert "全区合计" in out and "60.50/55.00" in out and "未达标" in out
    files = tmp_path / "out"
    files.mkdir()
    srz(year, "report", "--format", "xlsx", "--now", MID, code=2)  # xlsx needs -o
    srz(year, "report", "-o", str(files / "r.txt"), "--now", MID, code=2)  # format unknown
    srz(year, "report", "-o", str(files / "missing" / "r.csv"), "--now", MID, code=2)
    srz(year, "report", "--format", "table", "-o", str(files / "r.csv"), "--now", MID, code=2)
    assert not list(files.iterdir())


def test_a_year_without_tasks_or_targets_is_refused(year: str) -> None:
    out = srz(year, "report", "--year", "2025", "--now", MID, code=2).output
    assert "2025" in out and "2023" in out


# --------------------------------------------------------------------------- the rules


def test_verdict_rules_at_the_boundaries() -> None:
    import datetime as dt
    from decimal import Decimal

    from srz_tracker.report.rules import (
        IN_PROGRESS,
        MET,
        NO_DATA,
        NOT_MET,
        Period,
        QualityCounts,
        TaskCounts,
        judge_completion,
        judge_cost,
        judge_incidents,
        judge_quality,
        judge_satisfaction,
        judge_timeliness,
        rate,
        worst,
    )

    dec31, jan1 = Period(2023, dt.date(2023, 12, 31)), Period(2023, dt.date(2024, 1, 1))
    assert not dec31.over and jan1.over and jan1.reference == dt.date(2023, 12, 31)
    half = TaskCounts(tasks=4, due=2, done_of_due=2, done=2, on_time=2)
    assert judge_completion(half, dec31) == IN_PROGRESS
    assert judge_completion(TaskCounts(tasks=4, due=4, done_of_due=3, done=3), jan1) == NOT_MET
    assert judge_completion(TaskCounts(tasks=4, due=4, done_of_due=4, done=4), dec31) == MET
    assert judge_completion(TaskCounts(), jan1) == NO_DATA
    assert judge_timeliness(half, dec31) == IN_PROGRESS
    assert judge_timeliness(TaskCounts(tasks=4, due=1, done=1, late=1), dec31) == NOT_MET
    assert judge_timeliness(TaskCounts(tasks=4, due=4, done=2, on_time=2), jan1) == MET
    # Applications are due by 11-30: on 11-30 not yet missed, on 12-01 missed.
    pending = QualityCounts(certified=1, passed=1, not_certified=2, applied=1)
    assert judge_quality(pending, Period(2023, dt.date(2023, 11, 30))) == IN_PROGRESS
    assert judge_quality(pending, Period(2023, dt.date(2023, 12, 1))) == NOT_MET
    no_pt = QualityCounts(certified=1, passed=0, not_certified=1, applied=1)
    assert judge_quality(no_pt, dec31) == IN_PROGRESS and judge_quality(no_pt, jan1) == NOT_MET
    assert judge_cost(Decimal("40.00"), Decimal("40"), dec31) == IN_PROGRESS
    assert judge_cost(Decimal("40.01"), Decimal("40"), dec31) == NOT_MET
    assert judge_cost(Decimal("40.00"), Decimal("40"), jan1) == MET
    assert judge_cost(Decimal("1"), None, jan1) == NO_DATA
    assert judge_incidents(0, 0, dec31) == IN_PROGRESS and judge_incidents(1, 0, dec31) == NOT_MET
    assert judge_satisfaction(0.9, 0.9, dec31) == MET
    assert judge_satisfaction(0.8999, 0.9, dec31) == NOT_MET
    assert judge_satisfaction(None, 0.9, dec31) == IN_PROGRESS
    assert judge_satisfaction(None, 0.9, jan1) == NOT_MET
    assert worst([MET, IN_PROGRESS, MET]) == IN_PROGRESS and worst([MET, NOT_MET]) == NOT_MET
    assert worst([]) == NO_DATA and rate(2, 3) == 0.6667 and rate(1, 0) is None
