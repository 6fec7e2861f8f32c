"""Terminal tables that line up with Chinese text (rich measures wide characters)."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Sequence
from typing import Any

import click


def print_table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    title: str | None = None,
    markup: bool = False,
) -> None:
    """``columns``: (key, header) pairs. Cells are plain text unless ``markup`` says the
    caller escaped its data and uses rich markup (colours) on purpose."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    width = max(shutil.get_terminal_size((160, 40)).columns, 100)
    console = Console(width=width, highlight=False, soft_wrap=False)
    table = Table(title=title, show_lines=False, header_style="bold")
    for _key, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        # Cells are text, never rich markup: a note like "培训[bold]" must print as typed.
        cells = [_fmt(row.get(key)) for key, _h in columns]
        table.add_row(*(cells if markup else [Text(c) for c in cells]))
    console.print(table)


def print_csv(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> None:
    from srz_tracker.exports import csv_text

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([key for key, _h in columns])
    for row in rows:
        # Machine-readable: booleans as true/false, like the keys in the header. Text
        # (names, notes) that a spreadsheet would run as a formula is quoted.
        writer.writerow([_fmt(csv_text(row.get(key)), words=False) for key, _h in columns])
    click.echo(buf.getvalue(), nl=False)


def _fmt(value: Any, words: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        if not words:
            return "true" if value else "false"
        return "是" if value else "否"
    return str(value)
