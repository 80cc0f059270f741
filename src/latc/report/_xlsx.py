"""``tables.xlsx``: a contents sheet and one sheet per report table (openpyxl).

Raw values, not the display strings: numbers stay numbers (a statistician can recompute), dates
stay dates, missing cells stay empty. Headers bold on a tinted fill, frozen, with an autofilter.

Every text cell is a string cell (data type ``s``), never a formula, whatever it starts with: a
center id ``=HYPERLINK(...)`` is shown as that text (docs/spreadsheet_safety.md). Characters XML
cannot hold (control characters other than tab and line breaks) are dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ._model import ReportFigure, ReportTable

__all__ = ["sheet_names", "write_xlsx"]

_HEAD_FILL = PatternFill("solid", fgColor="DCE6F1")
_BOLD = Font(bold=True)
_BAD = re.compile(r"[\[\]\*\?/\\:]")


def sheet_names(keys: Sequence[str]) -> list[str]:
    """Unique Excel sheet names (≤ 31 characters, no ``[]*?/\\:``) for table keys."""
    out, seen = [], {"contents"}
    for k in keys:
        base = _BAD.sub("_", k)[:31] or "table"
        name, i = base, 2
        while name.lower() in seen:
            suffix = f"_{i}"
            name, i = base[: 31 - len(suffix)] + suffix, i + 1
        seen.add(name.lower())
        out.append(name)
    return out


def _cell(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else (f if math.isfinite(f) else str(f))
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, int):
        return v
    return ILLEGAL_CHARACTERS_RE.sub("", v if isinstance(v, str) else str(v))


def _append(ws, values: Sequence) -> None:
    """``ws.append(values)`` with every text cell typed as a string: openpyxl would make a text
    starting with ``=`` a live formula."""
    ws.append(values)
    if values:
        for c in ws[ws.max_row]:
            if isinstance(c.value, str):
                c.data_type = "s"


def write_xlsx(tables: Sequence[ReportTable], figures: Sequence[ReportFigure], path: Path) -> Path:
    """Write the workbook and return its path; each table's ``sheet`` attribute is set."""
    wb = Workbook()
    contents = wb.active
    contents.title = "contents"
    _append(contents, ["LATC study report — tables"])
    contents["A1"].font = Font(bold=True, size=13)
    contents.append([])
    _append(contents, ["Table", "Sheet", "Title", "Rows", "Source", "Caption"])
    for c in contents[3]:
        c.font, c.fill = _BOLD, _HEAD_FILL
    names = sheet_names([t.key for t in tables])
    for t, name in zip(tables, names):
        t.sheet = name  # type: ignore[attr-defined]
        ws = wb.create_sheet(name)
        df = t.data
        cols = [_cell(str(c)) for c in df.columns]
        _append(ws, cols)
        for c in ws[1]:
            c.font, c.fill = _BOLD, _HEAD_FILL
            c.alignment = Alignment(wrap_text=True, vertical="top")
        for row in df.itertuples(index=False, name=None):
            _append(ws, [_cell(v) for v in row])
        ws.freeze_panes = "A2"
        if len(df):
            ws.auto_filter.ref = f"A1:{get_column_letter(max(len(cols), 1))}{len(df) + 1}"
        for j, col in enumerate(cols, start=1):
            longest = df.iloc[:200, j - 1].astype("str").fillna("").str.len().max() if len(df) else 0
            width = max(len(col), int(longest) if pd.notna(longest) else 0)
            ws.column_dimensions[get_column_letter(j)].width = min(max(width + 2, 8), 60)
        _append(contents, [_cell(v) for v in (t.number, name, t.title, len(df), t.source, t.caption[:500])])
        link = contents.cell(row=contents.max_row, column=2)
        link.hyperlink = f"#'{name}'!A1"
        link.font = Font(color="0563C1", underline="single")
    contents.append([])
    _append(contents, ["Figure", "Files", "Title"])
    for c in contents[contents.max_row]:
        c.font, c.fill = _BOLD, _HEAD_FILL
    for f in figures:
        _append(contents, [_cell(v) for v in (f.number, ", ".join(f.file_names), f.title)])
    for col, w in zip("ABCDEF", (8, 30, 70, 8, 45, 80)):
        contents.column_dimensions[col].width = w
    path = Path(path)
    wb.save(path)
    return path
