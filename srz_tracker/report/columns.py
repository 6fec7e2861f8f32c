"""The performance report as flat columns (shared by CSV and XLSX), as a terminal
table (rich) and as CSV (UTF-8 with BOM so that Excel/WPS read the Chinese).

The columns follow the plan's 绩效目标表: 市级, 项目金额, then 产出指标 (数量、质量、
时效、成本), 效益指标, 满意度指标, and finally the region goal of 二、任务目标 (share of
county institutions dual-certified). Each column has a band, a group, an indicator
name and a leaf header, so that the XLSX can merge them into the plan's header rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from srz_tracker.exports import csv_text
from srz_tracker.text import cn_date_short, pct_of_fraction, pct_target_of_fraction, wan

REPORT_FILE_STEM = "绩效自评"


@dataclass(frozen=True)
class Column:
    path: str  # "completion.actual": key into a report row
    leaf: str  # 目标 / 实际 / 评价 ...; "" when the indicator has a single column
    kind: str  # text | int | wan | rate | verdict
    head: str  # the indicator, as the plan's table names it
    group: str = ""  # 数量指标 / 质量指标 ...
    band: str = ""  # 产出指标 / 效益指标 / 满意度指标

    @property
    def title(self) -> str:
        return f"{self.head}-{self.leaf}" if self.leaf else self.head


def _indicator(
    key: str, head: str, group: str, band: str, parts: list[tuple[str, str, str]]
) -> list[Column]:
    return [Column(f"{key}.{f}", leaf, kind, head, group, band) for f, leaf, kind in parts]


_TARGET_ACTUAL = [
    ("target", "目标", "int"),
    ("actual", "实际", "int"),
    ("verdict", "评价", "verdict"),
]
COLUMNS: list[Column] = [
    Column("city", "", "text", "市级"),
    Column("allocation_wan", "", "wan", "项目金额（万元）"),
    *_indicator(
        "institutions", "辖区内参加能力提升检测机构个数", "数量指标", "产出指标", _TARGET_ACTUAL
    ),
    *_indicator(
        "quality",
        "“双认证”工作开展质量",
        "质量指标",
        "产出指标",
        [
            ("target", "目标", "rate"),
            ("certified", "已双认证机构", "int"),
            ("passed", "其中通过能力验证", "int"),
            ("not_certified", "未双认证机构", "int"),
            ("applied", "其中11月30日前提交申请", "int"),
            ("actual", "达成率", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
    *_indicator(
        "completion",
        "项目任务完成率",
        "质量指标",
        "产出指标",
        [
            ("target", "目标", "rate"),
            ("tasks", "年度任务", "int"),
            ("due", "截至统计日应完成", "int"),
            ("done_of_due", "其中已完成", "int"),
            ("actual", "完成率", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
    *_indicator(
        "timeliness",
        "工作开展及时率",
        "时效指标",
        "产出指标",
        [
            ("target", "目标", "rate"),
            ("done", "已完成", "int"),
            ("on_time", "其中按期完成", "int"),
            ("actual", "及时率", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
    *_indicator(
        "cost",
        "项目完成成本（万元）",
        "成本指标",
        "产出指标",
        [
            ("target", "目标（≤）", "wan"),
            ("actual", "已支出", "wan"),
            ("share", "支出占比", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
    *_indicator(
        "incidents", "重大农产品质量安全事件发生数量", "社会效益指标", "效益指标", _TARGET_ACTUAL
    ),
    *_indicator(
        "satisfaction",
        "项目实施主体满意度",
        "项目实施主体满意度指标",
        "满意度指标",
        [
            ("target", "目标（≥）", "rate"),
            ("actual", "实际", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
    *_indicator(
        "dual_certified",
        "县级质检机构“双认证”占比",
        "全区目标",
        "任务目标（二）",
        [
            ("institutions", "县级质检机构", "int"),
            ("dual_certified", "已双认证", "int"),
            ("target", "目标", "rate"),
            ("actual", "占比", "rate"),
            ("verdict", "评价", "verdict"),
        ],
    ),
]


DEFINITIONS = [
    ("统计口径", ""),
    ("年度任务", "实施方案义务在本年度的全部任务（原定期限在本年度内），已豁免、不适用的不计。"),
    ("截至统计日应完成", "现行期限（含批准延期）不晚于统计日的任务。"),
    ("年度结束未完成", "方案年度结束时仍未完成的任务：不再提醒，计为未完成、已逾期。"),
    ("项目任务完成率", "截至统计日应完成的任务中已完成的 ÷ 截至统计日应完成的任务。"),
    ("工作开展及时率", "完成日期不晚于现行期限的任务 ÷ 已完成任务。"),
    (
        "“双认证”工作开展质量",
        "已双认证机构以本年度“能力验证”任务完成为通过；未双认证机构以本年度“提交双认证申请”"
        "任务在 11 月 30 日前完成为达成。达成率 = (通过 + 达成) ÷ 机构数。认证状态按统计日"
        "（最迟为 12 月 31 日）判断。",
    ),
    ("项目完成成本", "本年度已记录的支出合计（按支出日期所在年度），目标为不超过项目金额。"),
    ("县级质检机构“双认证”占比", "名录中全部县级质检机构里同时持有有效 CATL 与 CMA 的比例。"),
    ("评价", ""),
    ("达标", "已达到目标。"),
    (
        "未达标",
        "已确定不能达到目标（如已有任务逾期完成、支出超出金额、发生重大事件），"
        "或年度结束仍未达到。",
    ),
    ("进行中", "年度尚未结束，且尚未确定不能达标。"),
    ("—", "无可评价的数据（如无目标值或无任务）。"),
    (
        "全区合计",
        "各项为各市合计（任务含自治区本级任务，满意度为已填报市的平均值）；"
        "评价取各市中最差者（任一市未达标即未达标）。",
    ),
]


def value(row: dict[str, Any], path: str) -> Any:
    node: Any = row
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def all_rows(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from report["cities"]
    if report.get("region"):
        yield report["region"]


def subtitle(report: dict[str, Any]) -> str:
    today = cn_date_short(dt.date.fromisoformat(report["today"]))
    return (
        f"年度：{report['year']}　　统计日：{today}"
        f"{'（年度已结束）' if report['year_over'] else '（年度进行中）'}　　"
        f"依据：《{report['plan_title']}》绩效目标表"
    )


# --- text for people --------------------------------------------------------------------


def _plain_verdict(verdict: str, status: str) -> str:
    return verdict


def _same(text: str) -> str:
    return text


def summary_cells(
    row: dict[str, Any],
    mark: Callable[[str, str], str] = _plain_verdict,
    escape: Callable[[str], str] = _same,
) -> dict[str, str]:
    """One short cell per indicator: the figure, how it was counted, the verdict.
    ``mark(verdict, status)`` may decorate the verdict (the CLI colours it) and
    ``escape`` protects data text from that decoration's syntax."""
    q, c, t = row["quality"], row["completion"], row["timeliness"]
    cost, inst, sat = row["cost"], row["institutions"], row["satisfaction"]
    dual = row["dual_certified"]

    def _cell(m: dict[str, Any], text: str) -> str:
        return f"{text}\n{mark(m['verdict'], m['status'])}"

    return {
        "city": escape(row["city"]),
        "allocation": wan(row["allocation_wan"]),
        "institutions": _cell(inst, f"{inst['actual']}/{inst['target'] or '—'}"),
        "quality": _cell(
            q,
            f"{pct_of_fraction(q['actual'])}（能力验证 {q['passed']}/{q['certified']}，"
            f"申请 {q['applied']}/{q['not_certified']}）",
        ),
        "completion": _cell(c, f"{pct_of_fraction(c['actual'])}（{c['done_of_due']}/{c['due']}）"),
        "timeliness": _cell(t, f"{pct_of_fraction(t['actual'])}（{t['on_time']}/{t['done']}）"),
        "cost": _cell(cost, f"{wan(cost['actual'])}/{wan(cost['target'])}"),
        "incidents": _cell(row["incidents"], str(row["incidents"]["actual"])),
        "satisfaction": _cell(
            sat, "未填报" if sat["actual"] is None else pct_of_fraction(sat["actual"])
        ),
        "dual": (
            f"{pct_of_fraction(dual['actual'])}（{dual['dual_certified']}/{dual['institutions']}）"
            + (f"\n{_cell(dual, '').strip()}" if dual["target"] is not None else "")
        ),
    }


def summary_headers(report: dict[str, Any]) -> list[tuple[str, str]]:
    t = report["targets"]
    goal = {
        key: pct_target_of_fraction(t[key])
        for key in (
            "task_completion_rate",
            "timeliness_rate",
            "satisfaction",
            "region_dual_certified_share",
        )
    }
    return [
        ("city", "市级"),
        ("allocation", "项目金额\n（万元）"),
        ("institutions", "参加机构数\n实际/目标"),
        ("quality", "“双认证”工作开展质量\n（目标 100%）"),
        ("completion", f"项目任务完成率\n（目标 {goal['task_completion_rate']}）"),
        ("timeliness", f"工作开展及时率\n（目标 {goal['timeliness_rate']}）"),
        ("cost", "项目完成成本\n已支出/金额（万元）"),
        ("incidents", f"重大质量安全事件\n（目标 {t['major_incidents']}）"),
        ("satisfaction", f"满意度\n（目标 ≥{goal['satisfaction']}）"),
        ("dual", f"双认证占比\n（全区目标 {goal['region_dual_certified_share']}）"),
    ]


# --- CSV --------------------------------------------------------------------------------


def csv_cell(v: Any) -> Any:
    return "" if v is None else csv_text(v)


def report_csv(report: dict[str, Any]) -> str:
    """UTF-8 CSV text with a BOM; numbers as numbers (rates as fractions 0..1)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.title for c in COLUMNS])
    for row in all_rows(report):
        writer.writerow([csv_cell(value(row, c.path)) for c in COLUMNS])
    return "\ufeff" + buf.getvalue()
