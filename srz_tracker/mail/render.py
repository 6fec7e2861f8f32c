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
          "step": str,                     # "R7", "R0", "E1", "E14": the office's code
          "step_text": str,                # "到期前 7 天提醒": what the reader sees
      } ],
      "failures": [ {"recipient_email": str, "error": str, "subject": str,
                     "task_id": int | None, "failed_at": datetime} ],
                                           # delivery_failure; may be non-empty in office digests
      "cc_names": [str],                   # who is in copy (escalations)
      "generated_at": datetime,            # an instant: aware, or naive UTC
    }

``delivery_failure`` has ``items == []``. ``digest`` lists its items grouped: overdue
first (most overdue first), then due today, then upcoming (soonest first). Every kind
also has ``"all_items": [item...]`` (``items`` plus those not listed in full),
``"more": int`` (how many are not) and ``"attachment_name": str | None`` (the workbook
holding ``all_items`` when ``more``); only a digest leaves items out.

``fresh_link`` context: ``plan`` and ``recipient`` as above plus ``"what": str`` (what the
link opens), ``"url": str | None`` (None when no web address is configured),
``"expires_on": date | None`` and ``"generated_at"``.

Every kind but ``fresh_link`` may also have ``links`` (the web pages' links; absent when
no web address is configured, and then nothing of them is rendered): see
:mod:`srz_tracker.mail.links_context`.

``weekly_summary`` context: ``plan`` and ``recipient`` as above plus ``"city": str,
"week": "2023年第51周", "open_items": [item...], "due_soon": [item...], "overdue": [item...],
"done": int, "total": int, "completion_pct": float`` (0-100), ``"next_deadlines":
[item...]``, ``"shown_max": int`` (items listed in full per list) and
``"attachment_name": str | None`` (the workbook of ``open_items`` when a list is longer)
and optionally ``"generated_at"``.

``year_closed`` context (``notify.closing``): ``plan`` and ``recipient`` as above plus
``"year": int, "closed_on": date, "closes_on": date | None, "how": "date" | "hand",
"closed_by": str, "cities": [row...], "region_own": row | None, "total": row,
"attachment_name": str, "generated_at": datetime`` where a row is ``{"city": str,
"tasks": int, "done": int, "on_time": int, "late": int, "not_done": int, "completion":
float | None}`` (completion 0-100).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from srz_tracker.errors import SrzError
from srz_tracker.mail.samples import linked_sample_contexts, sample_contexts
from srz_tracker.text import (
    cn_date,
    cn_date_short,
    cn_datetime,
    days_phrase,
    pct_of_percent,
    quoted,
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
    "fresh_link",
    "year_closed",
)
SINGLE_ITEM_KINDS: tuple[str, ...] = (
    "reminder",
    "due_today",
    "checkpoint",
    "escalation_leader",
    "escalation_office",
)
PARTS: tuple[str, ...] = ("subject", "txt", "html")

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
            quoted=quoted,
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
            for context in sample_contexts(kind) + linked_sample_contexts(kind):
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
    for task_id, url in context.get("links", {}).get("tasks", {}).items():
        for part, body in (("txt", rendered.text), ("html", rendered.html)):
            if url not in html.unescape(body):
                problems.append(f"{template_name(kind, part)}: 缺少任务 {task_id} 的事项链接")
    if kind == "fresh_link":
        return problems
    if kind in ("weekly_summary", "year_closed"):
        if kind == "year_closed" and context["plan"]["contact_line"] not in rendered.text:
            problems.append(f"{template_name(kind, 'txt')}: 缺少方案联系方式（plan.contact_line）")
        return problems
    plan = context["plan"]
    for item in context["items"]:
        facts = {
            "事项名称": item["title"],
            "条款原文": quoted(item["quote"]),
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
