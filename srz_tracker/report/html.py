"""The performance report as one self-contained HTML page for a department head:
region summary cards, two bar charts as inline SVG (task completion per city; spending
against allocation per city), the table laid out like the plan's 绩效目标表, and the
definitions. No JavaScript, no network, inline CSS, and a print stylesheet (A4
landscape). Every figure carries ``data-key``/``data-value`` with the JSON number."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from srz_tracker.report.columns import DEFINITIONS, all_rows
from srz_tracker.report.svg import Bar, bar_chart, nice_ceiling
from srz_tracker.text import cn_datetime, pct_of_fraction, pct_target_of_fraction, wan

COLOURS = {"met": "#2e7d32", "not_met": "#c62828", "in_progress": "#e0a100", "no_data": "#9e9e9e"}

CSS = """
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;color:#1f2933;background:#fff;
 font-family:"Microsoft YaHei","PingFang SC","Noto Sans CJK SC","Source Han Sans SC",
 "WenQuanYi Micro Hei",sans-serif;font-size:14px;line-height:1.5}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;padding-left:8px;border-left:4px solid #1f4e79}
.sub{color:#52606d;margin:0 0 8px}
.legend{color:#52606d;font-size:12px}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#fff;
 white-space:nowrap}
.met{background:#2e7d32}.not_met{background:#c62828}.in_progress{background:#e0a100;color:#222}
.no_data{background:#cfd4da;color:#333}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:10px 14px;break-inside:avoid}
.card .label{color:#52606d;font-size:13px}
.card .big{font-size:26px;font-weight:bold;margin-right:8px}
.card .detail{color:#52606d;font-size:12px}
.meter{height:8px;background:#e4e7eb;border-radius:4px;margin:6px 0 2px;position:relative}
.meter span{display:block;height:8px;border-radius:4px}
.meter i{position:absolute;top:-3px;width:2px;height:14px;background:#1f2933}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.chart{border:1px solid #d9e2ec;border-radius:6px;padding:8px 10px;break-inside:avoid}
.chart h3{font-size:15px;margin:2px 0 4px}
svg text{font-family:inherit}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #bcccdc;padding:4px 6px;text-align:center;vertical-align:middle}
th{background:#e8f0f8;font-weight:bold}
th.nowrap{white-space:nowrap}
td.city{text-align:left;font-weight:bold;white-space:nowrap}
td .num{font-weight:bold}
td .main{white-space:nowrap}
td .sub{display:block;color:#52606d;font-size:11px;margin:0}
tr.total td{background:#f5f7fa;font-weight:bold;border-top:2px solid #1f4e79}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;font-size:13px}
dt{font-weight:bold}dd{margin:0}
@media print{
 @page{size:A4 landscape;margin:8mm}
 body{padding:0;font-size:10px}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 h1{font-size:18px}
 h2{font-size:13px;margin:8px 0 6px;break-after:avoid}
 .sub,.legend{font-size:9px;margin:0 0 2px}
 .cards{grid-template-columns:repeat(6,1fr);gap:6px}
 .card{padding:4px 6px}
 .card .big{font-size:16px}
 .card .label,.card .detail{font-size:8px}
 .charts{grid-template-columns:1fr 1fr;gap:8px}
 .chart{padding:4px 6px}
 .chart h3{font-size:11px;margin:0}
 table{font-size:9px}
 th,td{padding:2px 3px}
 td .sub{font-size:8px}
 .badge{font-size:8px;padding:0 3px}
 dl{font-size:9px;gap:2px 10px}
 tr,.chart,.card{break-inside:avoid}
 section.table{break-before:page}
}
"""


def _num(key: str, v: Any, text: str) -> str:
    data = "" if v is None else f' data-value="{v}"'
    return f'<span class="num" data-key="{key}"{data}>{escape(text)}</span>'


def _badge(m: dict[str, Any]) -> str:
    return f'<span class="badge {m["status"]}">{escape(m["verdict"])}</span>'


def _card(label: str, big: str, m: dict[str, Any], detail: str, meter: str = "") -> str:
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div><span class="big">{big}</span>{_badge(m)}</div>{meter}'
        f'<div class="detail">{escape(detail)}</div></div>'
    )


def _meter(value: float | None, target: float | None, status: str) -> str:
    width = max(0.0, min(1.0, value or 0.0)) * 100
    mark = f'<i style="left:{target * 100:.1f}%"></i>' if target is not None else ""
    return (
        f'<div class="meter"><span style="width:{width:.1f}%;background:{COLOURS[status]}">'
        f"</span>{mark}</div>"
    )


def _cards(region: dict[str, Any], targets: dict[str, Any]) -> str:
    d, c, t = region["dual_certified"], region["completion"], region["timeliness"]
    cost, inc, sat = region["cost"], region["incidents"], region["satisfaction"]
    return (
        '<section class="cards">'
        + "".join(
            [
                _card(
                    "全区县级质检机构“双认证”占比",
                    _num("region.dual_certified.actual", d["actual"], pct_of_fraction(d["actual"])),
                    d,
                    f"已双认证 {d['dual_certified']} / {d['institutions']} 个机构；"
                    f"目标 {pct_target_of_fraction(d['target'])}（竖线）",
                    _meter(d["actual"], d["target"], d["status"]),
                ),
                _card(
                    "项目任务完成率（截至统计日）",
                    _num("region.completion.actual", c["actual"], pct_of_fraction(c["actual"])),
                    c,
                    f"已到期 {c['due']} 项，其中已完成 {c['done_of_due']} 项，"
                    f"逾期未完成 {c['overdue']} 项；全年 {c['tasks']} 项",
                    _meter(c["actual"], c["target"], c["status"]),
                ),
                _card(
                    "工作开展及时率",
                    _num("region.timeliness.actual", t["actual"], pct_of_fraction(t["actual"])),
                    t,
                    f"已完成 {t['done']} 项，其中按期 {t['on_time']} 项、逾期完成 {t['late']} 项",
                    _meter(t["actual"], t["target"], t["status"]),
                ),
                _card(
                    "经费支出（万元）",
                    _num("region.cost.actual", cost["actual"], wan(cost["actual"])),
                    cost,
                    f"项目金额合计 {wan(cost['target'])} 万元，"
                    f"已支出 {pct_of_fraction(cost['share'])}；"
                    "各市均不得超支",
                    _meter(cost["share"], 1.0, cost["status"]),
                ),
                _card(
                    "重大农产品质量安全事件",
                    _num("region.incidents.actual", inc["actual"], f"{inc['actual']} 起"),
                    inc,
                    f"目标 {targets['major_incidents']} 起",
                ),
                _card(
                    "项目实施主体满意度（已填报市平均）",
                    _num(
                        "region.satisfaction.actual", sat["actual"], pct_of_fraction(sat["actual"])
                    ),
                    sat,
                    f"已填报 {sat.get('recorded', 0)} 个市；"
                    f"目标 ≥{pct_target_of_fraction(sat['target'])}",
                ),
            ]
        )
        + "</section>"
    )


def _charts(rows: list[dict[str, Any]]) -> str:
    completion = []
    for row in rows:
        c = row["completion"]
        overdue = f"，逾期 {c['overdue']}" if c["overdue"] else ""
        completion.append(
            Bar(
                row["city"],
                "completion.actual",
                c["actual"],
                c["actual"] or 0.0,
                COLOURS[c["status"]],
                f"{pct_of_fraction(c['actual'])}（{c['done_of_due']}/{c['due']}{overdue}）",
                track=1.0,
            )
        )
    spending = []
    for row in rows:
        cost = row["cost"]
        over = cost["status"] == "not_met"
        spending.append(
            Bar(
                row["city"],
                "cost.actual",
                cost["actual"],
                cost["actual"] or 0.0,
                "#c62828" if over else "#1f4e79",
                f"{wan(cost['actual'])} / {wan(cost['target'])}" + ("  超支" if over else ""),
                track=cost["target"],
                marker=cost["target"],
            )
        )
    scale = nice_ceiling(max([b.length for b in spending] + [b.track or 0 for b in spending]))
    return (
        '<section class="charts">'
        + bar_chart(
            "各市项目任务完成率（截至统计日）",
            '条形颜色：<b style="color:#2e7d32">绿</b> 达标、<b style="color:#b8860b">黄</b> '
            '进行中、<b style="color:#c62828">红</b> 未达标；括号内为 已完成/已到期 任务数',
            completion,
            1.0,
            percent=True,
        )
        + bar_chart(
            "各市经费支出与项目金额（万元）",
            "灰色底条与黑色竖线：项目金额；深蓝：已支出；红色：超出项目金额",
            spending,
            scale,
            percent=False,
        )
        + "</section>"
    )


def _table(report: dict[str, Any]) -> str:
    t = report["targets"]
    head = (
        "<thead><tr>"
        '<th rowspan="3">市级</th><th rowspan="3" class="nowrap">项目金额<br>（万元）</th>'
        '<th colspan="5">产出指标</th><th>效益指标</th><th>满意度指标</th>'
        "<th>任务目标（二）</th></tr><tr>"
        '<th>数量指标</th><th colspan="2">质量指标</th><th>时效指标</th><th>成本指标</th>'
        "<th>社会效益指标</th><th>项目实施主体满意度指标</th><th>全区目标</th></tr><tr>"
        "<th>辖区内参加能力提升检测机构个数<br>实际/目标</th>"
        "<th>“双认证”工作开展质量<br>（目标 100%）</th>"
        f"<th>项目任务完成率<br>（目标 {pct_target_of_fraction(t['task_completion_rate'])}）</th>"
        f"<th>工作开展及时率<br>（目标 {pct_target_of_fraction(t['timeliness_rate'])}）</th>"
        "<th>项目完成成本（万元）<br>已支出/≤项目金额</th>"
        f"<th>重大农产品质量安全事件发生数量<br>（目标 {t['major_incidents']}）</th>"
        f"<th>满意度<br>（目标 ≥{pct_target_of_fraction(t['satisfaction'])}）</th>"
        "<th>县级质检机构“双认证”占比<br>"
        f"（全区目标 {pct_target_of_fraction(t['region_dual_certified_share'])}）</th>"
        "</tr></thead>"
    )
    body = []
    for row in all_rows(report):
        total = row is report.get("region")
        inst, q, c = row["institutions"], row["quality"], row["completion"]
        ti, cost, inc = row["timeliness"], row["cost"], row["incidents"]
        sat, dual = row["satisfaction"], row["dual_certified"]

        def cell(main: str, sub: str, m: dict[str, Any] | None) -> str:
            badge = f" {_badge(m)}" if m is not None and m["target"] is not None else ""
            sub_html = f'<span class="sub">{escape(sub)}</span>' if sub else ""
            return f'<td><span class="main">{main}{badge}</span>{sub_html}</td>'

        css_class = ' class="total"' if total else ""
        body.append(
            f'<tr data-city="{escape(row["city"])}"{css_class}>'
            f'<td class="city">{escape(row["city"])}</td>'
            f"<td>{_num('allocation_wan', row['allocation_wan'], wan(row['allocation_wan']))}</td>"
            + cell(
                _num("institutions.actual", inst["actual"], str(inst["actual"]))
                + f"/{_num('institutions.target', inst['target'], str(inst['target'] or '—'))}",
                "",
                inst,
            )
            + cell(
                _num("quality.actual", q["actual"], pct_of_fraction(q["actual"])),
                f"能力验证 {q['passed']}/{q['certified']}；"
                f"申请 {q['applied']}/{q['not_certified']}",
                q,
            )
            + cell(
                _num("completion.actual", c["actual"], pct_of_fraction(c["actual"])),
                f"已完成 {c['done_of_due']}/到期 {c['due']}，逾期 {c['overdue']}",
                c,
            )
            + cell(
                _num("timeliness.actual", ti["actual"], pct_of_fraction(ti["actual"])),
                f"按期 {ti['on_time']}/已完成 {ti['done']}",
                ti,
            )
            + cell(
                _num("cost.actual", cost["actual"], wan(cost["actual"]))
                + f" / {_num('cost.target', cost['target'], wan(cost['target']))}",
                f"支出占比 {pct_of_fraction(cost['share'])}",
                cost,
            )
            + cell(_num("incidents.actual", inc["actual"], f"{inc['actual']} 起"), "", inc)
            + cell(
                _num(
                    "satisfaction.actual",
                    sat["actual"],
                    "未填报" if sat["actual"] is None else pct_of_fraction(sat["actual"]),
                ),
                "",
                sat,
            )
            + cell(
                _num("dual_certified.actual", dual["actual"], pct_of_fraction(dual["actual"])),
                f"{dual['dual_certified']}/{dual['institutions']} 个机构",
                dual,
            )
            + "</tr>"
        )
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    from srz_tracker.report.columns import subtitle

    tz = report["timezone"]
    when = cn_datetime(dt.datetime.fromisoformat(report["now"]), tz)
    stamp = escape(f"{when}（{'北京时间' if tz == 'Asia/Shanghai' else tz}）")
    region = report.get("region")
    cards = _cards(region, report["targets"]) if region else ""
    definitions = "".join(
        f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in DEFINITIONS if text
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report['title'])}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(report['title'])}</h1>"
        f'<p class="sub">{escape(subtitle(report))}</p>'
        '<p class="legend">评价：<span class="badge met">达标</span> 已达到目标　'
        '<span class="badge in_progress">进行中</span> 年度未结束、尚未确定不能达标　'
        '<span class="badge not_met">未达标</span> 已确定不能达到或年度结束仍未达到。'
        f"由 srz-tracker 根据任务、名录、认证、支出、指标与事件记录生成，统计时刻 {stamp}。</p>"
        "</header>"
        + (f"<h2>全区概况</h2>{cards}" if cards else "")
        + "<h2>各市进展</h2>"
        + _charts(report["cities"])
        + '<section class="table"><h2>绩效目标完成情况（对照绩效目标表）</h2>'
        + _table(report)
        + "</section>"
        + f"<h2>统计口径</h2><dl>{definitions}</dl>"
        + "</body></html>\n"
    )
