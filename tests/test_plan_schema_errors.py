"""The plan file's schema is checked by pydantic; every error it finds is still shown as
FILE:LINE and a Chinese message, never pydantic's English text."""

from __future__ import annotations

from pathlib import Path

import pytest

from srz_tracker.errors import PlanError
from srz_tracker.plan.schema import load_plan_file
from tests.srz_cli_helpers import srz
from tests.test_plan_load import PLAN_TEXT, Bad

KEY_STAFF_CP = '    checkpoint: {due: "06-30", count: 1}\n'
REPORT = '    recurrence: {type: yearly, due: "12-30"}\n'
FUNDS_ID = "  - id: special-funds\n"

# (case, the whole message expected on the marker's line)
MAPPED = [
    (
        Bad("int-from-text", "    count: 2\n", "    count: 两次\n", "count: 两次", ""),
        "obligations.4.count 应为整数，而不是 '两次'",
    ),
    (
        Bad("int-quoted", "  send_hour: 9\n", '  send_hour: "9"\n', "send_hour:", ""),
        "notifications.send_hour 应为整数，而不是 '9'",
    ),
    (
        Bad("int-too-big", "  send_hour: 9\n", "  send_hour: 24\n", "send_hour:", ""),
        "notifications.send_hour 应不大于 23，而不是 24",
    ),
    (
        Bad("text-null", "  region: 广西壮族自治区\n", "  region:\n", "region:", ""),
        "plan.region 不能为空",
    ),
    (
        Bad("not-one-of", "    scope: city\n", "    scope: county\n", "scope: county", ""),
        "obligations.1.scope 应为 region/city/institution 之一，而不是 'county'",
    ),
    (
        Bad(
            "unknown-key-in-recurrence",
            REPORT,
            '    recurrence: {type: yearly, due: "12-30", every: 2}\n',
            "every: 2",
            "",
        ),
        "未知的键 'every'（可用：due, rrule, type）",
    ),
    (
        Bad(
            "unknown-key-in-obligation-policy",
            FUNDS_ID,
            FUNDS_ID + "    notifications:\n      send_hour: 8\n      sendhour: 9\n",
            "sendhour: 9",
            "",
        ),
        "未知的键 'sendhour'（可用：escalations, reminders, repeat_every, repeat_max, send_hour）",
    ),
    (
        Bad(
            "missing-in-checkpoint",
            KEY_STAFF_CP,
            '    checkpoint: {due: "06-30"}\n',
            "checkpoint:",
            "",
        ),
        "obligations.4.checkpoint 缺少必填项 'count'",
    ),
    (
        Bad("missing-in-escalation", "{after: 7, to: office}", "{after: 7}", "{after: 7}", ""),
        "notifications.escalations.1 缺少必填项 'to'",
    ),
    (
        # A rule across two fields is shown on the line of the field it is about.
        Bad(
            "checkpoint-count-own-line",
            KEY_STAFF_CP,
            '    checkpoint:\n      due: "06-30"\n      count: 2\n',
            "      count: 2",
            "",
        ),
        "检查点次数应小于总次数 count",
    ),
]


@pytest.mark.parametrize(("bad", "message"), [pytest.param(*c, id=c[0].name) for c in MAPPED])
def test_pydantic_errors_are_located_and_in_chinese(tmp_path: Path, bad: Bad, message: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(bad.text(), encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        load_plan_file(path)
    assert [str(p) for p in raised.value.problems] == [f"{path}:{bad.line()}: {message}"]


def test_the_cli_shows_no_pydantic_text(tmp_path: Path) -> None:
    # Every case at once (those editing the same line as an earlier one are left out).
    text, applied = PLAN_TEXT, 0
    for bad, _ in MAPPED:
        if bad.old in text:
            text, applied = text.replace(bad.old, bad.new, 1), applied + 1
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    result = srz(None, "plan", "check", str(path), code=2)
    rows = result.stderr.splitlines()
    assert applied >= 8 and len(rows) == applied + 1
    assert rows[-1].startswith(f"错误：共 {applied} 个问题")
    numbers = []
    for row in rows[:-1]:
        assert row.startswith(f"{path}:"), row
        line, _, message = row.removeprefix(f"{path}:").partition(": ")
        numbers.append(int(line))
        assert not any(w in message for w in ("Input should", "Field required", "pydantic"))
    assert numbers == sorted(numbers)
