"""The Chinese words a user reads for the codes the database keeps: task statuses,
certification statuses, audit-log actions and their detail fields, outbox statuses and
steps. One table, so that ``srz tasks``, ``srz log``, ``srz org list``, ``srz status``
and the emails say the same thing; and the words the office may type back
(``srz cert set ... 已通过``, the directory import's status columns).
"""

from __future__ import annotations

from typing import Any

TASK_STATUS = {
    "open": "未完成",
    "done": "已完成",
    "waived": "已豁免",
    "not_applicable": "不适用",
    "overdue": "已逾期",
}

CERT_STATUS = {
    "none": "未申请",
    "applied": "已申请",
    "certified": "已通过",
    "expired": "已过期",
}
# What a directory file or `srz cert set` may say for each certification status.
CERT_STATUS_WORDS = {
    "": "none",
    "无": "none",
    "申请中": "applied",
    "通过": "certified",
    "过期": "expired",
    **{code: code for code in CERT_STATUS},
    **{word: code for code, word in CERT_STATUS.items()},
}

ACTION = {
    "done": "办结",
    "progress": "记录一次",
    "reopen": "重新打开",
    "waive": "豁免",
    "extend": "延期",
    "not_applicable": "转为不适用",
    "load": "导入方案",
    "import": "导入名录",
    "cert": "认证变化",
    "expense": "登记支出",
    "indicator": "登记指标",
    "incident": "登记事件",
}

DETAIL_FIELD = {
    "on": "日期",
    "count": "进度",
    "note": "备注",
    "evidence": "佐证",
    "no_evidence_reason": "无佐证原因",
    "reason": "理由",
    "from": "原期限",
    "to": "新期限",
    "previous": "此前",
    "plan": "方案",
    "file": "文件",
    "years": "年度",
    "institutions": "机构数",
    "contacts": "联系人数",
    "institution": "机构",
    "kind": "类型",
    "status": "状态",
    "number": "编号",
    "id": "编号",
    "city": "市",
    "amount_wan": "金额（万元）",
    "category": "类别",
    "year": "年度",
    "name": "名称",
    "value": "值",
}
# Detail fields kept for the record (`srz log --format json`) but not worth a column.
HIDDEN_DETAIL = frozenset({"sha256"})

NOTIFICATION_STATUS = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "失败",
    "skipped": "已跳过",
    "cancelled": "已取消",
}


def status_label(status: str) -> str:
    """A task status (or ``overdue``) in Chinese."""
    return TASK_STATUS.get(status, status)


def cert_status_label(status: str) -> str:
    return CERT_STATUS.get(status, status)


def parse_cert_status(text: str) -> str | None:
    """``certified``, ``已通过`` or ``通过`` → ``certified``; None when unknown."""
    return CERT_STATUS_WORDS.get(text.strip().lower())


def cert_status_choices() -> str:
    """The words accepted, for an error message: ``none（未申请）、applied（已申请）…``."""
    return "、".join(f"{code}（{word}）" for code, word in CERT_STATUS.items())


def action_label(action: str) -> str:
    return ACTION.get(action, action)


def detail_text(detail: dict[str, Any] | None) -> str:
    """An audit event's detail as ``日期=2023-10-30，进度=1/1``: fields in Chinese, task
    and certification statuses in Chinese, empty fields left out."""
    parts = []
    for key, value in (detail or {}).items():
        if value is None or value == "" or key in HIDDEN_DETAIL:
            continue
        if key in ("previous", "status") and isinstance(value, str):
            value = TASK_STATUS.get(value) or CERT_STATUS.get(value) or value
        elif isinstance(value, list):
            value = "、".join(map(str, value))
        parts.append(f"{DETAIL_FIELD.get(key, key)}={value}")
    return "，".join(parts)


def step_label(step: str) -> str:
    """A reminder step as a city official reads it: ``R3`` → 到期前 3 天提醒, ``R0`` →
    到期当日提醒, ``C14`` → 进度节点前 14 天提醒, ``E7`` / ``E1092`` → 逾期督办 (the
    days in an escalation's code count from the due date of its schedule, which an
    email's own "已逾期 N 天" already says better)."""
    kind, number = step[:1], step[1:]
    if not number.isdigit():
        return step
    days = int(number)
    if kind == "R":
        return "到期当日提醒" if days == 0 else f"到期前 {days} 天提醒"
    if kind == "C":
        return "进度节点当日提醒" if days == 0 else f"进度节点前 {days} 天提醒"
    if kind == "E":
        return "逾期督办"
    return step
