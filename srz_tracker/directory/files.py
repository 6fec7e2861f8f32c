"""Directory files as tables of raw cells, read within bounds.

A directory file comes from people's spreadsheets, so it may be anything: a CSV saved by
Excel or WPS on a Chinese Windows (GB18030, not UTF-8), an old Excel for Mac CSV with
bare CR line ends, or an XLSX whose ``<dimension>`` is missing or false and that unpacks
to gigabytes. Each file is refused up front, with one problem naming it, when it is over
``MAX_FILE_BYTES`` on disk, ``MAX_XLSX_UNPACKED_BYTES`` unpacked or ``MAX_ROWS`` rows
with content; an XLSX is read row by row, never through its own idea of its size.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from srz_tracker.errors import Problem

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000  # rows with content, per file
# Declared size of an XLSX's parts once unpacked (zipfile never unpacks more than the
# declared size): 100,000 rows of ten columns are far below it.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024
# Excel's own limit; rows past it are not read whatever the file says.
MAX_SHEET_ROWS = 2**20
# Columns read from a sheet (the tables have about ten; further ones are not read): a
# false <dimension> such as A1:XFD1048576 would otherwise pad every row to 16,384 cells.
MAX_COLUMNS = 64
# Tried in this order; GB18030 is a superset of GBK and GB2312.
CSV_ENCODINGS = (("utf-8-sig", "UTF-8"), ("gb18030", "GB18030"))
SUFFIXES = (".csv", ".xlsx", ".xlsm")

Row = Sequence[Any]
Table = tuple[str, list[Row]]  # (source as problems name it, rows from the sheet's first)

_BLANK: Row = ()


class _TooManyRows(Exception):
    pass


def read_tables(path: Path, problems: list[Problem]) -> tuple[list[Table], str | None]:
    """The tables of one file and, for a CSV that was not UTF-8, the encoding it was
    read in. A file that cannot be read gives no table and a problem."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        problems.append(Problem(str(path), "只支持 .csv 与 .xlsx 文件"))
        return [], None
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        problems.append(
            Problem(str(path), f"文件过大（{size / 2**20:.1f} MB）：名录文件不得超过 {limit} MB")
        )
        return [], None
    try:
        if suffix == ".csv":
            return _read_csv(path, problems)
        return _read_xlsx(path, problems), None
    except _TooManyRows:
        problems.append(Problem(str(path), f"有内容的行超过 {MAX_ROWS} 行：请拆分为多个文件"))
        return [], None


def _width(raw: Row) -> int:
    """The length of ``raw`` without its trailing empty cells. An XLSX row comes padded
    with None to ``MAX_COLUMNS`` (and there may be a million of them): bisecting on
    "only None from here on" lets count() do the looking, in C, by identity."""
    lo, hi = 0, len(raw)
    while lo < hi:
        mid = (lo + hi) // 2
        tail = raw[mid:]
        if tail.count(None) == len(tail):  # type: ignore[attr-defined]
            hi = mid
        else:
            lo = mid + 1
    while lo and (raw[lo - 1] is None or raw[lo - 1] == ""):  # CSV pads with ""
        lo -= 1
    return lo


def _capped(rows: Iterable[Row], already: int = 0) -> Iterator[Row]:
    """The rows without their trailing empty cells (a blank row as one shared empty
    tuple); ``_TooManyRows`` once more than ``MAX_ROWS`` of them, counting ``already``
    from the file's earlier sheets, hold anything."""
    filled = already
    for raw in rows:
        width = _width(raw)
        if not width:
            yield _BLANK
            continue
        filled += 1
        if filled > MAX_ROWS:
            raise _TooManyRows
        yield raw[:width]


def _decode(path: Path, raw: bytes, problems: list[Problem]) -> tuple[str | None, str]:
    for codec, label in CSV_ENCODINGS:
        try:
            return raw.decode(codec), label
        except UnicodeDecodeError:
            continue
    problems.append(
        Problem(
            str(path),
            "CSV 文件既不是 UTF-8 也不是 GB18030 编码（Excel 请另存为“CSV UTF-8”）",
        )
    )
    return None, ""


def _read_csv(path: Path, problems: list[Problem]) -> tuple[list[Table], str | None]:
    text, encoding = _decode(path, path.read_bytes(), problems)
    if text is None:
        return [], None
    # newline=None: universal newlines, so that the bare CR line ends of old Excel files
    # end rows too instead of stopping the csv module.
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        rows = list(_capped(reader))
    except csv.Error as exc:
        problems.append(Problem(f"{path}: 第 {reader.line_num} 行", f"无法读取 CSV：{exc}"))
        return [], None
    return [(str(path), rows)], (None if encoding == "UTF-8" else encoding)


def _read_xlsx(path: Path, problems: list[Problem]) -> list[Table]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        problems.append(Problem(str(path), f"无法读取 XLSX 文件：{exc}"))
        return []
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        limit = MAX_XLSX_UNPACKED_BYTES // (1024 * 1024)
        problems.append(
            Problem(str(path), f"XLSX 文件解压后超过 {limit} MB：请删去多余内容或拆分为多个文件")
        )
        return []
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        problems.append(Problem(str(path), f"无法读取 XLSX 文件：{exc}"))
        return []
    tables: list[Table] = []
    filled = 0
    try:
        for ws in wb.worksheets:
            # Explicit bounds: a missing or false <dimension> must not decide how many
            # rows are read, nor how wide each one is.
            sheet = ws.iter_rows(
                min_row=1,
                max_row=MAX_SHEET_ROWS,
                min_col=1,
                max_col=MAX_COLUMNS,
                values_only=True,
            )
            rows = list(_capped(sheet, filled))
            while rows and not rows[-1]:
                rows.pop()
            filled += sum(1 for r in rows if r)
            if rows:
                tables.append((f"{path} [{ws.title}]", rows))
    except _TooManyRows:
        raise
    except Exception as exc:  # a broken sheet inside a readable zip
        problems.append(Problem(str(path), f"无法读取 XLSX 文件：{exc}"))
        return []
    finally:
        wb.close()
    return tables
