"""Render the emails in ``email_templates/`` with jinja2.

Each kind of message has three templates: ``KIND.subject.j2`` (one line once rendered),
``KIND.txt.j2`` (the text/plain part) and ``KIND.html.j2`` (the text/html part, inline
CSS only, no external resources, no JavaScript). Shared pieces: ``_layout.html.j2``,
``_macros.txt.j2`` and ``_macros.html.j2``. HTML templates are autoescaped (anything from
data is escaped); subject and text templates are not. Variables are strict: a name the
context does not have is an error, found by :meth:`Renderer.check` (``srz templates
check``) and by the tests, not at send time.

Filters: ``cn_date`` (2023年12月30日（星期六）), ``cn_date_short`` (2023年12月30日),
``cn_datetime`` (2023年12月22日 09:00 Beijing time; naive values are UTC) and
``days_phrase`` (还剩 5 天 / 今天到期 / 已逾期 3 天), ``pct`` (62.5%).

Template context for every kind except ``weekly_summary`` (built by the outbox)::

    {
      "kind": str,                         # the template kind being rendered
      "plan": {"title": str, "short_title": str, "contact_line": str, "office": str},
      "recipient": {"name": str | None, "email": str, "role": "contact" | "leader" | "office"},
      "items": [ {                         # one or more; single-item kinds have exactly one
          "kind": "reminder" | "due_today" | "checkpoint"
                  | "escalation_leader" | "escalation_office",
          "task_id": int, "task_key": str, # task_key like "city-summary-report:南宁市:2023"
          "title": str, "clause": str, "quote": str,
          "subject_label": str,            # "南宁市" or "南宁市 示例县 某机构"
          "city": str | None, "institution": str | None,
          "period": str, "due_on": date, "days_left": int,   # negative = overdue
          "actor": str,                    # who must act, Chinese
          "required_count": int, "done_count": int,          # 1/1 for ordinary tasks
          "checkpoint": {"due_on": date, "count": int} | None,
          "evidence": str | None,
          "done_command": str,             # "srz done 123"
          "step": str,                     # "R-7", "R0", "E+1", "E+14"
      } ],
      "failures": [ {"recipient_email": str, "error": str, "subject": str,
                     "task_id": int | None, "failed_at": datetime} ],
                                           # delivery_failure; may be non-empty in office digests
      "cc_names": [str],                   # who is in copy (escalations)
      "generated_at": datetime,            # an instant: aware, or naive UTC
    }

``delivery_failure`` has ``items == []``. ``digest`` lists its items grouped: overdue
first (most overdue first), then due today, then upcoming (soonest first).

``weekly_summary`` context: ``plan`` and ``recipient`` as above plus ``"city": str,
"week": "2023-W51", "open_items": [item...], "due_soon": [item...], "overdue": [item...],
"done": int, "total": int, "completion_pct": float`` (0-100), ``"next_deadlines":
[item...]`` and optionally ``"generated_at"``.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from srz_tracker.errors import SrzError
from srz_tracker.text import (
    cn_date,
    cn_date_short,
    cn_datetime,
    days_phrase,
    pct_of_percent,
    sanitize_header,
)

KINDS: tuple[str, ...] = (
    "reminder",
    "due_today",
    "checkpoint",
    "escalation_leader",
    "escalation_office",
    "digest",
    "delivery_failure",
    "weekly_summary",
)
SINGLE_ITEM_KINDS: tuple[str, ...] = (
    "reminder",
    "due_today",
    "checkpoint",
    "escalation_leader",
    "escalation_office",
)
PARTS: tuple[str, ...] = ("subject", "txt", "html")

_ITEM_KEYS = frozenset(
    {
        "kind",
        "task_id",
        "task_key",
        "title",
        "clause",
        "quote",
        "subject_label",
        "city",
        "institution",
        "period",
        "due_on",
        "days_left",
        "actor",
        "required_count",
        "done_count",
        "checkpoint",
        "evidence",
        "done_command",
        "step",
    }
)
_FORBIDDEN_HTML = re.compile(
    r"<script|<link\b|<iframe|<object|<embed|@import|javascript:"
    r"|\bsrc\s*=\s*[\"']?(?:https?:)?//|url\(\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


class RenderError(SrzError):
    """A template is missing, does not compile, or uses a variable the context lacks."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def template_name(kind: str, part: str) -> str:
    return f"{kind}.{part}.j2"


def one_line(value: str) -> str:
    """A subject: one header-safe line, whitespace collapsed."""
    return " ".join(sanitize_header(value).split())


def _template_location(tb: TracebackType | None) -> str | None:
    """FILE:LINE of the innermost template frame (jinja rewrites tracebacks so that
    template frames carry the template's file name and line)."""
    where = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{Path(filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _describe(exc: Exception, name: str) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        file = Path(exc.filename).name if exc.filename else (exc.name or name)
        return f"{file}:{exc.lineno}: 模板语法错误：{exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"{name}: 找不到模板文件 {exc.name}"
    where = _template_location(exc.__traceback__) or name
    if isinstance(exc, jinja2.UndefinedError):
        return f"{where}: 未定义的变量：{exc.message}"
    return f"{where}: 渲染出错：{type(exc).__name__}: {exc}"


class Renderer:
    """Renders one kind of email from ``templates_dir``; safe to share between threads."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self.env = Environment(
            loader=FileSystemLoader(str(self.templates_dir), encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False, default=False
            ),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            cn_date=cn_date,
            cn_date_short=cn_date_short,
            cn_datetime=cn_datetime,
            days_phrase=days_phrase,
            pct=pct_of_percent,
        )

    def _render_part(self, kind: str, part: str, context: dict[str, Any]) -> str:
        name = template_name(kind, part)
        try:
            return self.env.get_template(name).render(context)
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise RenderError(_describe(exc, name)) from exc

    def render(self, kind: str, context: dict[str, Any]) -> RenderedEmail:
        """Render the three parts; :class:`RenderError` when a template is broken."""
        if kind not in KINDS:
            raise RenderError(f"未知的邮件类型：{kind!r}（可用：{'、'.join(KINDS)}）")
        subject = one_line(self._render_part(kind, "subject", context))
        if not subject:
            raise RenderError(f"{template_name(kind, 'subject')}: 邮件主题为空")
        text = self._render_part(kind, "txt", context)
        html = self._render_part(kind, "html", context)
        return RenderedEmail(subject=subject, text=text, html=html)

    def check(self) -> list[str]:
        """Every problem found in the templates (empty when all is well): missing files,
        syntax errors (FILE:LINE), undefined variables, empty subjects or bodies, required
        facts missing from a single-item email, scripts or external resources in HTML."""
        problems: list[str] = []
        if not self.templates_dir.is_dir():
            return [f"{self.templates_dir}: 模板目录不存在"]
        for path in sorted(self.templates_dir.glob("*.j2")):
            try:
                self.env.get_template(path.name)
            except jinja2.TemplateError as exc:
                problems.append(_describe(exc, path.name))
        broken = set()
        for kind in KINDS:
            for part in PARTS:
                name = template_name(kind, part)
                if not (self.templates_dir / name).is_file():
                    problems.append(f"{name}: 缺少模板文件")
                    broken.add(kind)
        for kind in KINDS:
            if kind in broken:
                continue
            for context in sample_contexts(kind):
                try:
                    rendered = self.render(kind, context)
                except RenderError as exc:
                    problem = str(exc)
                    if problem not in problems:
                        problems.append(problem)
                    break
                problems.extend(
                    p for p in _content_problems(kind, context, rendered) if p not in problems
                )
        return problems


def _content_problems(kind: str, context: dict[str, Any], rendered: RenderedEmail) -> list[str]:
    problems = []
    if not rendered.text.strip():
        problems.append(f"{template_name(kind, 'txt')}: 正文为空")
    if not rendered.html.strip():
        problems.append(f"{template_name(kind, 'html')}: 正文为空")
    match = _FORBIDDEN_HTML.search(rendered.html)
    if match:
        problems.append(
            f"{template_name(kind, 'html')}: 含有脚本或外部资源（{match.group(0)}），"
            "邮件只能使用内联样式"
        )
    if kind == "weekly_summary":
        return problems
    plan = context["plan"]
    for item in context["items"]:
        facts = {
            "事项名称": item["title"],
            "条款原文": item["quote"],
            "责任对象": item["subject_label"],
            "带星期的期限": cn_date(item["due_on"]),
            "剩余或逾期天数": days_phrase(item["days_left"]),
            "责任主体": item["actor"],
            "办结命令": item["done_command"],
        }
        if item["evidence"]:
            facts["报送材料"] = item["evidence"]
        if item["required_count"] > 1:
            facts["完成进度"] = f"{item['done_count']}/{item['required_count']}"
        for part, body in (("txt", rendered.text), ("html", rendered.html)):
            body = html.unescape(body)
            for label, fact in facts.items():
                if fact not in body:
                    problems.append(f"{template_name(kind, part)}: 缺少{label}（{fact}）")
    for part, body in (("txt", rendered.text), ("html", rendered.html)):
        if plan["contact_line"] not in body:
            problems.append(f"{template_name(kind, part)}: 缺少方案联系方式（plan.contact_line）")
    return problems


# -- sample data: realistic contexts for every kind (used by check() and the tests) -----

_PLAN = {
    "title": "2023 年县级农产品质量安全检测机构“双认证”建设实施方案",
    "short_title": "双认证",
    "contact_line": (
        "未尽事宜，请与自治区农业农村厅农产品质量安全监管处联系。联系人：杨秀娟，"
        "联系电话：0771-2182793，电子邮箱：gxnyjgc@163.com。"
    ),
    "office": "自治区农业农村厅农产品质量安全监管处",
}
_UTC = dt.UTC


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "reminder",
        "task_id": 101,
        "task_key": "city-summary-report:南宁市:2023",
        "title": "报送“双认证”工作总结和绩效自评报告",
        "clause": "四（二）",
        "quote": (
            "请各市农业农村局于12月30日前将开展县级质检机构“双认证”工作总结和"
            "绩效自评报告报送自治区农业农村厅。"
        ),
        "subject_label": "南宁市",
        "city": "南宁市",
        "institution": None,
        "period": "2023",
        "due_on": dt.date(2023, 12, 29),
        "days_left": 7,
        "actor": "南宁市农业农村局",
        "required_count": 1,
        "done_count": 0,
        "checkpoint": None,
        "evidence": "工作总结和绩效自评报告（加盖公章的扫描件）",
        "done_command": "srz done 101",
        "step": "R-7",
    }
    item.update(changes)
    assert set(item) == _ITEM_KEYS
    return item


def _application_item(**changes: Any) -> dict[str, Any]:
    base = {
        "task_id": 214,
        "task_key": "dual-cert-application:柳州市/柳城县/农产品质量安全检测站:2023",
        "title": "提交“双认证”（CATL、CMA）申请",
        "clause": "绩效目标表",
        "quote": "未通过“双认证”的 2023 年 12 月之前提交“双认证”申请",
        "subject_label": "柳州市 柳城县 农产品质量安全检测站",
        "city": "柳州市",
        "institution": "柳城县农产品质量安全检测站",
        "due_on": dt.date(2023, 11, 30),
        "actor": "柳城县农产品质量安全检测站（柳州市农业农村局督促）",
        "evidence": "CATL、CMA 申请受理通知书或申请材料回执",
        "done_command": "srz done 214",
    }
    base.update(changes)
    return _item(**base)


def _training_item(**changes: Any) -> dict[str, Any]:
    base = {
        "kind": "checkpoint",
        "task_id": 305,
        "task_key": "key-staff-training:柳州市/柳城县/农产品质量安全检测站:2023",
        "title": "质量负责人、技术负责人和重点岗位人员集中培训",
        "clause": "三（一）",
        "quote": "对质量负责人、技术负责人和重点岗位人员每年集中培训2次以上。",
        "subject_label": "柳州市 柳城县 农产品质量安全检测站",
        "city": "柳州市",
        "institution": "柳城县农产品质量安全检测站",
        "due_on": dt.date(2023, 12, 29),
        "days_left": 182,
        "actor": "柳城县农产品质量安全检测站",
        "required_count": 2,
        "done_count": 0,
        "checkpoint": {"due_on": dt.date(2023, 6, 30), "count": 1},
        "evidence": "培训通知、签到表和培训照片",
        "done_command": "srz done 305",
        "step": "C+1",
    }
    base.update(changes)
    return _item(**base)


def _base(kind: str, recipient: dict[str, Any], items: list[dict[str, Any]], **extra: Any):
    context: dict[str, Any] = {
        "kind": kind,
        "plan": dict(_PLAN),
        "recipient": recipient,
        "items": items,
        "failures": [],
        "cc_names": [],
        "generated_at": dt.datetime(2023, 12, 22, 1, 0, tzinfo=_UTC),
    }
    context.update(extra)
    return context


_CONTACT = {"name": "王芳", "email": "wangfang@nn-nyncj.example.cn", "role": "contact"}
_LEADER = {"name": "李明", "email": "liming@nn-nyncj.example.cn", "role": "leader"}
_OFFICE = {"name": None, "email": "gxnyjgc@163.com", "role": "office"}


def _samples(kind: str) -> list[dict[str, Any]]:
    if kind == "reminder":
        return [
            _base(kind, _CONTACT, [_item()]),
            _base(
                kind,
                {"name": None, "email": "lcjcz@example.cn", "role": "contact"},
                [_application_item(days_left=1, evidence=None, step="R-1")],
                generated_at=dt.datetime(2023, 11, 29, 1, 0),  # naive: taken as UTC
            ),
        ]
    if kind == "due_today":
        return [
            _base(
                kind,
                _CONTACT,
                [_item(kind="due_today", days_left=0, step="R0")],
                generated_at=dt.datetime(2023, 12, 29, 1, 0, tzinfo=_UTC),
            )
        ]
    if kind == "checkpoint":
        return [
            _base(
                kind,
                {"name": "陈刚", "email": "chengang@lc-jcz.example.cn", "role": "contact"},
                [_training_item()],
                generated_at=dt.datetime(2023, 7, 3, 1, 0, tzinfo=_UTC),
            ),
            _base(
                kind,
                {"name": None, "email": "lcjcz@example.cn", "role": "contact"},
                [_training_item(checkpoint=None, done_count=1, days_left=30, evidence=None)],
            ),
        ]
    if kind == "escalation_leader":
        return [
            _base(
                kind,
                _LEADER,
                [_item(kind="escalation_leader", days_left=-4, step="E+1")],
                cc_names=["王芳（南宁市农业农村局联系人）"],
                generated_at=dt.datetime(2024, 1, 2, 1, 0, tzinfo=_UTC),
            ),
            _base(
                kind,
                {"name": None, "email": "leader@lz-nyncj.example.cn", "role": "leader"},
                [_application_item(kind="escalation_leader", days_left=-1, step="E+1")],
            ),
        ]
    if kind == "escalation_office":
        return [
            _base(
                kind,
                _OFFICE,
                [_item(kind="escalation_office", days_left=-11, step="E+7")],
                cc_names=[],
                generated_at=dt.datetime(2024, 1, 9, 1, 0, tzinfo=_UTC),
            ),
            _base(
                kind,
                {"name": "杨秀娟", "email": "gxnyjgc@163.com", "role": "office"},
                [_training_item(kind="escalation_office", days_left=-14, step="E+14")],
                cc_names=["李明（柳州市农业农村局分管领导）"],
            ),
        ]
    if kind == "digest":
        items = [
            _item(step="R-7"),
            _application_item(kind="escalation_leader", days_left=-3, step="E+1"),
            _item(
                kind="due_today",
                task_id=102,
                task_key="city-annual-practical-training:南宁市:2023",
                title="市级质检机构对县级质检机构开展实操培训",
                clause="三（一）",
                quote="市级质检机构对辖区内县级质检机构每年开展一次实操培训和一次“一对一”现场服务指导。",
                days_left=0,
                due_on=dt.date(2023, 12, 22),
                actor="南宁市农产品质量安全检测中心",
                evidence=None,
                done_command="srz done 102",
                step="R0",
            ),
            _training_item(done_count=1, days_left=7, kind="reminder", step="R-7"),
        ]
        return [
            _base(kind, _CONTACT, items),
            _base(
                kind,
                _OFFICE,
                [_item(kind="escalation_office", days_left=-8, step="E+7")],
                failures=_failures()[:1],
            ),
        ]
    if kind == "delivery_failure":
        return [_base(kind, _OFFICE, [], failures=_failures())]
    if kind == "weekly_summary":
        open_items = [
            _item(days_left=7),
            _application_item(kind="escalation_leader", days_left=-22),
            _training_item(done_count=1, days_left=7, kind="reminder"),
        ]
        return [
            {
                "kind": kind,
                "plan": dict(_PLAN),
                "recipient": _CONTACT,
                "city": "南宁市",
                "week": "2023-W51",
                "open_items": open_items,
                "due_soon": [open_items[0], open_items[2]],
                "overdue": [open_items[1]],
                "done": 5,
                "total": 8,
                "completion_pct": 62.5,
                "next_deadlines": [open_items[0], open_items[2]],
                "generated_at": dt.datetime(2023, 12, 18, 1, 0, tzinfo=_UTC),
            },
            {
                "kind": kind,
                "plan": dict(_PLAN),
                "recipient": {"name": None, "email": "x@example.cn", "role": "contact"},
                "city": "来宾市",
                "week": "2023-W52",
                "open_items": [],
                "due_soon": [],
                "overdue": [],
                "done": 3,
                "total": 3,
                "completion_pct": 100.0,
                "next_deadlines": [],
            },
        ]
    raise ValueError(f"unknown kind {kind!r}")


def _failures() -> list[dict[str, Any]]:
    return [
        {
            "recipient_email": "old-contact@nn-nyncj.example.cn",
            "error": "550 5.1.1 <old-contact@nn-nyncj.example.cn>: Recipient address rejected",
            "subject": "【双认证·到期提醒】南宁市：报送“双认证”工作总结和绩效自评报告",
            "task_id": 101,
            "failed_at": dt.datetime(2023, 12, 22, 1, 5, tzinfo=_UTC),
        },
        {
            "recipient_email": "nobody@lz-nyncj.example.cn",
            "error": "550 5.7.1 Mailbox unavailable",
            "subject": "【双认证·工作提醒】4 项事项待办",
            "task_id": None,
            "failed_at": dt.datetime(2023, 12, 22, 1, 6, tzinfo=_UTC),
        },
    ]


def sample_contexts(kind: str) -> list[dict[str, Any]]:
    """Several realistic contexts for ``kind`` covering the templates' branches (names
    present or absent, evidence or none, counted tasks, failures...). Fresh copies."""
    return copy.deepcopy(_samples(kind))


def sample_context(kind: str) -> dict[str, Any]:
    """A realistic context for ``kind`` (a fresh copy, free to modify)."""
    return sample_contexts(kind)[0]
