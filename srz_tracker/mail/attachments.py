"""The workbook a capped email carries: every item of a digest or a weekly summary when
the message lists only the most urgent ones in full (``mail.context.digest_limit``).

One row per item, most urgent first, in the words of the emails; a reader can sort and
filter it in Excel or WPS. It is written by openpyxl, as the report's workbook is.
"""

from __future__ import annotations

import io
from typing import Any

from srz_tracker.mail.context import urgency
from srz_tracker.text import days_phrase

HEADERS = (
    ("序号", 6),
    ("事项", 40),
    ("责任对象", 30),
    ("办理期限", 12),
    ("剩余或逾期", 14),
    ("周期", 10),
    ("完成进度", 10),
    ("责任主体", 24),
    ("报送材料", 30),
    ("工作依据", 14),
    ("办结登记", 16),
    ("事项编号", 40),
)


def items_workbook(items: list[dict[str, Any]], title: str, max_rows: int | None = None) -> bytes:
    """An XLSX of ``items`` (template items); with ``max_rows`` the most urgent that many
    and a last row saying how many were left out."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ordered = sorted(items, key=urgency)
    shown = ordered if max_rows is None else ordered[:max_rows]
    wb = Workbook()
    ws = wb.active
    ws.title = "待办事项"
    ws.cell(1, 1, title).font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    fill = PatternFill("solid", fgColor="DDEBF7")
    for col, (name, width) in enumerate(HEADERS, start=1):
        cell = ws.cell(2, col, name)
        cell.font, cell.fill = Font(bold=True), fill
        ws.column_dimensions[get_column_letter(col)].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for row, item in enumerate(shown, start=3):
        values = (
            row - 2,
            item["title"],
            item["subject_label"],
            item["due_on"],
            days_phrase(item["days_left"]),
            item["period"],
            f"{item['done_count']}/{item['required_count']}",
            item["actor"],
            item["evidence"] or "",
            item["clause"],
            item["done_command"],
            item["task_key"],
        )
        for col, value in enumerate(values, start=1):
            cell = ws.cell(row, col, value)
            cell.alignment = wrap
            if col == 4:
                cell.number_format = "yyyy-mm-dd"
    left_out = len(ordered) - len(shown)
    if left_out:
        ws.cell(len(shown) + 3, 2, f"另有 {left_out} 项未列出（邮件大小所限），请用 srz tasks 查看")
    ws.freeze_panes = "A3"
    ws.auto_filter.ref = f"A2:{get_column_letter(len(HEADERS))}{max(len(shown) + 2, 2)}"
    wb.properties.title = title
    wb.properties.creator = "srz-tracker"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
