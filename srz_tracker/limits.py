"""How long each text a user writes may be, and the one check of it.

Every field that comes from a person (a directory cell, a plan file value, a command
option) has a :class:`TextLimit`: a maximum length in characters and whether it may span
lines. The directory reader, the plan schema and the writing commands all call
:func:`problem` (or :func:`require`), so a value is refused the same way wherever it is
typed, before anything is written, on SQLite (which does not enforce ``VARCHAR(n)``) as
on PostgreSQL (which counts characters, as ``len`` does). Each limit names the columns
that store the value; the schema holds at least ``max_length`` there (a test checks it),
so no database ever truncates or refuses what the check let through. README.md lists
them all.

A leaf module: it knows no database and no CLI, only the error it raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srz_tracker.errors import UsageError


@dataclass(frozen=True)
class TextLimit:
    label: str  # the field in Chinese, for messages and README.md
    max_length: int  # characters
    multiline: bool = False  # notes and quotes may hold line breaks and tabs
    columns: tuple[str, ...] = ()  # "table.column" storing the value


# Single-line values (names, codes, titles) end up in mail headers, table cells and file
# names: no C0/C1 control character (NUL, CR, LF, TAB, ESC...), no Unicode line or
# paragraph separator, and no bidirectional override that would show a name reversed.
_SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Multi-line values keep TAB, LF and CR; NUL and the other controls are still refused
# (PostgreSQL cannot even store NUL in text).
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_CHAR_NAMES = {
    "\x00": "空字符 NUL",
    "\t": "制表符",
    "\n": "换行符",
    "\r": "回车符",
    "\u2028": "行分隔符",
    "\u2029": "段分隔符",
}


def _describe(char: str) -> str:
    if char in _CHAR_NAMES:
        name = _CHAR_NAMES[char]
    elif "\u202a" <= char <= "\u2069":
        name = "文字方向控制符"
    else:
        name = "控制字符"
    return f"U+{ord(char):04X}（{name}）"


def problem(value: str, limit: TextLimit) -> str | None:
    """What is wrong with ``value`` for ``limit``, in Chinese, or None when it fits.

    The message does not repeat the value: it may be thousands of characters long."""
    if len(value) > limit.max_length:
        return f"不能超过 {limit.max_length} 个字符（现为 {len(value)} 个）"
    bad = (_MULTI_LINE_BAD if limit.multiline else _SINGLE_LINE_BAD).search(value)
    if bad is not None:
        kinds = "控制字符" if limit.multiline else "换行符、制表符等控制字符"
        return f"不能包含{kinds}（第 {bad.start() + 1} 个字符是 {_describe(bad.group())}）"
    return None


def require(value: str | None, limit: TextLimit, option: str) -> str | None:
    """``value`` as it is when it fits ``limit`` (None stays None); otherwise a
    :class:`UsageError` naming ``option`` (``--note``, ``SRZ_USER``...)."""
    if value is None:
        return None
    message = problem(value, limit)
    if message is not None:
        raise UsageError(f"{option}（{limit.label}）{message}")
    return value


# -- the directory (srz org import, srz cert set) ---------------------------------------

CITY = TextLimit("市名", 64, columns=("cities.name",))
CITY_CODE = TextLimit("市代码", 12, columns=("cities.code",))
COUNTY = TextLimit("县（市、区）", 64, columns=("institutions.county",))
INSTITUTION = TextLimit("机构名称", 128, columns=("institutions.name",))
INSTITUTION_CODE = TextLimit("机构代码", 32, columns=("institutions.code",))
CERT_NUMBER = TextLimit("证书编号", 64, columns=("certifications.certificate_no",))
CONTACT_NAME = TextLimit("姓名", 64, columns=("contacts.name", "notifications.recipient_name"))
# RFC 5321's limit for a path; the regular expression of directory.read checks the rest.
EMAIL = TextLimit("电子邮箱", 254, columns=("contacts.email", "notifications.recipient_email"))
PHONE = TextLimit("电话", 32, columns=("contacts.phone",))

# -- what the office types in the writing commands --------------------------------------

ACTOR = TextLimit(
    "操作人",
    64,
    columns=(
        "audit_events.actor",
        "tasks.completed_by",
        "task_occurrences.recorded_by",
        "task_extensions.extended_by",
    ),
)
NOTE = TextLimit(
    "备注",
    2000,
    multiline=True,
    columns=("tasks.note", "task_occurrences.note", "expenses.note", "incidents.note"),
)
EVIDENCE = TextLimit("佐证材料", 500, columns=("tasks.evidence", "task_occurrences.evidence"))
NO_EVIDENCE_REASON = TextLimit(
    "无佐证材料的原因",
    2000,
    multiline=True,
    columns=("tasks.no_evidence_reason", "task_occurrences.no_evidence_reason"),
)
# A waiver's reason becomes the task's note; an extension's is kept with the extension.
REASON = TextLimit("理由", 2000, multiline=True, columns=("tasks.note", "task_extensions.reason"))

# -- the plan file ----------------------------------------------------------------------

PLAN_TITLE = TextLimit("方案标题", 200, columns=("plans.title",))
SHORT_TITLE = TextLimit("方案简称", 40)  # starts every email subject
REGION = TextLimit("地区", 64)
OFFICE = TextLimit("处室", 128)
CONTACT_LINE = TextLimit("联系方式", 200)
OBLIGATION_TITLE = TextLimit("义务标题", 200, columns=("obligations.title",))
CLAUSE = TextLimit("条款", 32, columns=("obligations.clause",))
QUOTE = TextLimit("原文", 2000, multiline=True, columns=("obligations.quote",))
OBLIGATION_ACTOR = TextLimit("责任主体", 200, columns=("obligations.actor",))
OBLIGATION_EVIDENCE = TextLimit("所需佐证", 500, columns=("obligations.evidence",))
ASSUMPTION = TextLimit("假设说明", 2000, multiline=True, columns=("obligations.assumption",))
CATEGORY_CODE = TextLimit("经费类别代码", 32, columns=("expenses.category",))
CATEGORY_NAME = TextLimit("经费类别名称", 64)

ALL: tuple[TextLimit, ...] = (
    CITY,
    CITY_CODE,
    COUNTY,
    INSTITUTION,
    INSTITUTION_CODE,
    CERT_NUMBER,
    CONTACT_NAME,
    EMAIL,
    PHONE,
    ACTOR,
    NOTE,
    EVIDENCE,
    NO_EVIDENCE_REASON,
    REASON,
    PLAN_TITLE,
    SHORT_TITLE,
    REGION,
    OFFICE,
    CONTACT_LINE,
    OBLIGATION_TITLE,
    CLAUSE,
    QUOTE,
    OBLIGATION_ACTOR,
    OBLIGATION_EVIDENCE,
    ASSUMPTION,
    CATEGORY_CODE,
    CATEGORY_NAME,
)
