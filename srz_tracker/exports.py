"""Exports are data, never formulas.

A spreadsheet program reads a CSV cell that begins with ``=``, ``+``, ``-`` or ``@`` (or
a tab or CR that it strips first) as a formula: an institution named
``=HYPERLINK("http://x","y")`` would become a live link in the office's copy of the
report. CSV text cells that could be read so get the OWASP prefix ``'`` (the quote
Excel itself uses to mark text); XLSX cells are written with the string cell type.
Numbers are left alone: ``-2`` the number is not ``"-2"`` the text.
"""

from __future__ import annotations

from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    """True for text a spreadsheet would take for the start of a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def csv_text(value: Any) -> Any:
    """A CSV cell value: formula-like text is quoted, anything else (numbers, empty
    cells, plain text) is returned as it is."""
    return "'" + value if formula_like(value) else value
