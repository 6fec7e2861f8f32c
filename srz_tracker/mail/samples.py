"""Realistic template contexts for every kind of email, with names present or absent,
evidence or none, counted tasks and delivery failures: ``srz templates check`` renders
each of them (:meth:`Renderer.check <srz_tracker.mail.render.Renderer.check>`), and the
tests use them as ready-made contexts. Their shape is the one documented in
:mod:`srz_tracker.mail.render`.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from srz_tracker.labels import step_label
from srz_tracker.mail.samples_more import linked, year_closed_samples
from srz_tracker.text import week_display

# The keys of an item as the render module documents them: _item() asserts each sample
# has exactly these, so a misspelt override cannot hide a template branch.
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
        "step_text",
    }
)

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
        "step": "R7",
    }
    item.update(changes)
    item["step_text"] = step_label(item["step"])
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
        "step": "C1",
    }
    base.update(changes)
    return _item(**base)


def _base(kind: str, recipient: dict[str, Any], items: list[dict[str, Any]], **extra: Any):
    context: dict[str, Any] = {
        "kind": kind,
        "plan": dict(_PLAN),
        "recipient": recipient,
        "items": items,
        "all_items": list(items),
        "more": 0,
        "attachment_name": None,
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
        hidden = [
            _application_item(kind="escalation_office", task_id=200 + n, days_left=-30 - n)
            for n in range(3)
        ]
        return [
            _base(kind, _CONTACT, items),
            _base(
                kind,
                _OFFICE,
                [_item(kind="escalation_office", days_left=-8, step="E+7")],
                failures=_failures()[:1],
            ),
            # A digest over its limit: the most urgent in full, the rest in the workbook.
            _base(
                kind,
                _OFFICE,
                items[1:3],
                all_items=[*items, *hidden],
                more=len(items) + len(hidden) - 2,
                attachment_name="待办事项清单（2023年12月22日）.xlsx",
            ),
        ]
    if kind == "delivery_failure":
        return [
            _base(kind, _OFFICE, [], failures=_failures()),
            _base(kind, _OFFICE, [], failures=[*_failures()[:1], _message_failure()]),
        ]
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
                "week": week_display("2023-W51"),
                "open_items": open_items,
                "due_soon": [open_items[0], open_items[2]],
                "overdue": [open_items[1]],
                "done": 5,
                "total": 8,
                "completion_pct": 62.5,
                "next_deadlines": [open_items[0], open_items[2]],
                "shown_max": 30,
                "attachment_name": None,
                "generated_at": dt.datetime(2023, 12, 18, 1, 0, tzinfo=_UTC),
            },
            {  # more open items than a summary lists: the rest are in the workbook
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
                "shown_max": 1,
                "attachment_name": "待办事项清单（2023年12月18日）.xlsx",
                "generated_at": dt.datetime(2023, 12, 18, 1, 0, tzinfo=_UTC),
            },
            {
                "kind": kind,
                "plan": dict(_PLAN),
                "recipient": {"name": None, "email": "x@example.cn", "role": "contact"},
                "city": "来宾市",
                "week": week_display("2023-W52"),
                "open_items": [],
                "due_soon": [],
                "overdue": [],
                "done": 3,
                "total": 3,
                "completion_pct": 100.0,
                "next_deadlines": [],
                "shown_max": 30,
                "attachment_name": None,
            },
        ]
    if kind == "year_closed":
        return year_closed_samples(dict(_PLAN), _OFFICE)
    if kind == "fresh_link":
        return [
            {
                "kind": kind,
                "plan": dict(_PLAN),
                "recipient": _CONTACT,
                "what": "事项“报送“双认证”工作总结和绩效自评报告”",
                "url": None,  # no web address configured: the email says so
                "expires_on": None,
                "generated_at": dt.datetime(2023, 12, 22, 1, 0, tzinfo=_UTC),
            }
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


def _message_failure() -> dict[str, Any]:
    """A message the server refused as a whole (notify.notices.message_rejected)."""
    recipients = ["leader@nn-nyncj.example.cn", "contact@nn-nyncj.example.cn"]
    return {
        "recipient_email": "、".join(recipients),
        "recipients": recipients,
        "message_level": True,
        "error": "邮件被服务器整体拒收：554 5.6.0 Message content rejected（拒收的是这封邮件"
        "本身，并非收件地址有误；排除原因后用 srz outbox retry 57 --message 重新发送）",
        "subject": "【双认证·逾期通报】南宁市：1 项事项已逾期",
        "task_id": 101,
        "failed_at": dt.datetime(2023, 12, 22, 1, 7, tzinfo=_UTC),
    }


def sample_contexts(kind: str) -> list[dict[str, Any]]:
    """Several realistic contexts for ``kind`` covering the templates' branches (names
    present or absent, evidence or none, counted tasks, failures...). Fresh copies."""
    return copy.deepcopy(_samples(kind))


def linked_sample_contexts(kind: str) -> list[dict[str, Any]]:
    """The same samples as emails that carry links to the web pages (``links``)."""
    return [linked(c) for c in sample_contexts(kind)]


def sample_context(kind: str) -> dict[str, Any]:
    """A realistic context for ``kind`` (a fresh copy, free to modify)."""
    return sample_contexts(kind)[0]
