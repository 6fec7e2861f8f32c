"""The performance report as an Excel workbook a department hands in: a title row, the
plan's grouped Chinese headers (merged), one row per city and the region total, number
formats (0.00 for 万元, 0.0% for rates), column widths, frozen headers, verdict colours,
landscape printing on one page wide, and a second sheet with the definitions."""

from __future__ import annotations

import io
from itertools import groupby
from pathlib import Path
from typing import Any, BinaryIO

from srz_tracker.exports import formula_like
from srz_tracker.report.columns import COLUMNS, DEFINITIONS, all_rows, subtitle, value

TITLE_ROW, SUBTITLE_ROW, HEADER_FIRST, HEADER_LAST = 1, 2, 3, 6
FIRST_DATA_ROW = HEADER_LAST + 1
NUMBER_FORMATS = {"wan": "0.00", "rate": "0.0%", "int": "0"}
WIDTHS = {"text": 11, "wan": 10, "rate": 9, "int": 8, "verdict": 8}
VERDICT_FILLS = {"达标": "E2F0D9", "未达标": "F8CBAD", "进行中": "FFF2CC"}


def xlsx_bytes(report: dict[str, Any]) -> bytes:
    """The workbook as bytes, e.g. to attach to an email."""
    buffer = io.BytesIO()
    write_xlsx(report, buffer)
    return buffer.getvalue()


def write_xlsx(report: dict[str, Any], path: Path | BinaryIO) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "绩效自评"
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    last_col = len(COLUMNS)

    ws.cell(TITLE_ROW, 1, report["title"]).font = Font(size=16, bold=True)
    ws.merge_cells(start_row=TITLE_ROW, start_column=1, end_row=TITLE_ROW, end_column=last_col)
    ws.cell(TITLE_ROW, 1).alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[TITLE_ROW].height = 30
    ws.cell(SUBTITLE_ROW, 1, subtitle(report)).font = Font(size=10, color="404040")
    ws.merge_cells(
        start_row=SUBTITLE_ROW, start_column=1, end_row=SUBTITLE_ROW, end_column=last_col
    )

    # Header rows: band, group, indicator, leaf; equal neighbours are merged.
    levels = [
        lambda c: c.band,
        lambda c: (c.band, c.group),
        lambda c: (c.band, c.group, c.head),
        lambda c: (c.band, c.group, c.head, c.leaf, c.path),
    ]
    labels = [lambda c: c.band, lambda c: c.group, lambda c: c.head, lambda c: c.leaf]
    for col in range(1, last_col + 1):
        for row in range(HEADER_FIRST, HEADER_LAST + 1):
            cell = ws.cell(row, col)
            cell.border, cell.alignment, cell.fill = border, center, header_fill
            cell.font = Font(bold=True, size=10)
    for col_index, c in enumerate(COLUMNS, start=1):
        if not c.leaf:  # 市级, 项目金额: one cell spanning every header row
            ws.cell(HEADER_FIRST, col_index, c.head)
            ws.merge_cells(
                start_row=HEADER_FIRST,
                start_column=col_index,
                end_row=HEADER_LAST,
                end_column=col_index,
            )
    for level, (key, label) in enumerate(zip(levels, labels, strict=True)):
        row = HEADER_FIRST + level
        col = 1
        for _k, group in groupby(COLUMNS, key=key):
            members = list(group)
            span = len(members)
            if members[0].leaf:
                ws.cell(row, col, label(members[0]))
                if span > 1:
                    ws.merge_cells(
                        start_row=row, start_column=col, end_row=row, end_column=col + span - 1
                    )
            col += span
    ws.row_dimensions[HEADER_FIRST + 2].height = 45
    ws.row_dimensions[HEADER_LAST].height = 45

    rows = list(all_rows(report))
    for r_index, data in enumerate(rows, start=FIRST_DATA_ROW):
        is_total = data is report.get("region")
        for col_index, c in enumerate(COLUMNS, start=1):
            v = value(data, c.path)
            cell = ws.cell(r_index, col_index, v)
            cell.border = border
            cell.alignment = Alignment(
                horizontal="left" if c.kind == "text" else "center", vertical="center"
            )
            if c.kind in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[c.kind]
            if c.kind == "verdict" and v in VERDICT_FILLS:
                cell.fill = PatternFill("solid", fgColor=VERDICT_FILLS[v])
            if is_total:
                cell.font = Font(bold=True)
                cell.border = Border(left=thin, right=thin, bottom=thin, top=Side(style="medium"))

    for col_index, c in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col_index)].width = WIDTHS[c.kind]
    ws.column_dimensions["B"].width = 11
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 3)
    ws.print_title_rows = f"{HEADER_FIRST}:{HEADER_LAST}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    notes = wb.create_sheet("说明")
    notes.column_dimensions["A"].width = 26
    notes.column_dimensions["B"].width = 110
    notes.cell(1, 1, report["title"]).font = Font(bold=True, size=13)
    notes.cell(2, 1, subtitle(report))
    for i, (term, text) in enumerate(DEFINITIONS, start=4):
        notes.cell(i, 1, term).font = Font(bold=not text)
        notes.cell(i, 2, text).alignment = Alignment(wrap_text=True, vertical="top")
    wb.properties.title = report["title"]
    wb.properties.creator = "srz-tracker"
    _text_not_formulas(wb)
    wb.save(path)


def _text_not_formulas(wb: Any) -> None:
    """openpyxl stores any str beginning with ``=`` as a formula; this workbook has none
    of its own, so every such cell holds data (a city or plan title) and becomes a string
    cell, quote-prefixed so that editing it in Excel keeps it text."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if formula_like(cell.value):
                    cell.data_type = "s"
                    cell.quotePrefix = True
