"""A study as an XLSX workbook, one sheet per form (openpyxl).

Writing (``write_study(..., fmt="xlsx")``): one sheet per form named as the form, header row bold
and frozen. Cells are *typed* where the canonical text says what they are, so the workbook behaves
in Excel: a ``date`` field holding a canonical ``YYYY-MM-DD`` date (year ≥ 1900) is a real Excel
date shown as ``yyyy-mm-dd``; an ``integer`` or ``yesno`` field holding a canonical integer is a
number; a ``number`` field holding a canonical number is a number. Everything else — text and
choice codes, and any value that is not already canonical (``2021-13-45``, ``012``, ``12,5``,
``abc``) — is written as text exactly as given. A value is typed only when formatting the typed
value back gives the same text, so reading the workbook returns the written text: the round trip
CSV → XLSX → raw tables is lossless. (Control characters that XML cannot hold are dropped.) A text
cell is always a string cell, never a formula, whatever it starts with (``=``, ``+``, ``-``, ``@``…),
and is written without any prefix, so it reads back exactly.

Reading: every cell is turned into canonical text (:func:`latc.io._canonical.format_value`):
Excel dates → ``YYYY-MM-DD`` (the time of day is kept only outside ``date`` fields), whole
numbers → ``12``, other numbers rounded to 6 decimals, TRUE/FALSE → ``1``/``0``. Sheets are
matched to forms ignoring case and surrounding spaces; other sheets are reported, not read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from latc.dictionary import Dictionary, Form
from latc.io._canonical import format_numbers, format_value
from latc.io._csv import RawForm
from latc.io._spreadsheet import FORMULA_TRIGGERS
from latc.io._study import Study, StudyReadError, read_issue

#: rows a worksheet holds, header included (Excel's limit)
MAX_SHEET_ROWS = 1_048_576
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted workbooks and legacy .xls files


# ------------------------------------------------------------------------------------ writing

def _typed_cells(col: pd.Series, field_type: str | None) -> np.ndarray:
    """Object array of cell values for one column of canonical text (see module docstring)."""
    text = col.astype("str")
    values = text.to_numpy(dtype=object, na_value=None)
    present = text.notna().to_numpy()
    if field_type == "date":
        when = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        ok = present & when.notna().to_numpy()
        ok &= (when.dt.strftime("%Y-%m-%d") == text).fillna(False).to_numpy(dtype=bool)
        ok &= (when.dt.year >= 1900).fillna(False).to_numpy(dtype=bool)
        if ok.any():
            values[ok] = [d.date() for d in when[ok]]
    elif field_type in ("integer", "yesno", "number"):
        num = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
        finite = present & np.isfinite(num)
        if finite.any():
            back = format_numbers(np.where(finite, num, np.nan)).to_pandas()
            ok = finite & (back.to_numpy(dtype=object) == values)
            if field_type in ("integer", "yesno"):
                ok &= np.where(finite, (np.floor(num) == num) & (np.abs(num) < 1e15), False)
                if ok.any():
                    values[ok] = num[ok].astype(np.int64).tolist()
            elif ok.any():
                whole = ok & (np.floor(num) == num) & (np.abs(num) < 1e15)
                values[ok] = num[ok].tolist()
                if whole.any():
                    values[whole] = num[whole].astype(np.int64).tolist()
    # text cells: drop characters XML cannot store
    is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    if is_text.any():
        cleaned = pd.Series(values[is_text], dtype="str").str.replace(ILLEGAL_CHARACTERS_RE.pattern, "", regex=True)
        values[is_text] = cleaned.to_numpy(dtype=object)
    return values


def _text_cell(ws, value: str) -> WriteOnlyCell:
    """A cell that stays text whatever it starts with (openpyxl would make ``=…`` a formula);
    used for text starting with any of :data:`FORMULA_TRIGGERS` (docs/spreadsheet_safety.md)."""
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell


def _formula_like(values: np.ndarray) -> np.ndarray:
    """Which cells of one column (object array from :func:`_typed_cells`) are text starting with a
    formula trigger — they are written with :func:`_text_cell` (the test runs per column, not per row)."""
    is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    out = np.zeros(len(values), dtype=bool)
    if is_text.any():
        starts = pd.Series(values[is_text], dtype="str").str.startswith(FORMULA_TRIGGERS)
        out[is_text] = starts.fillna(False).to_numpy(dtype=bool)
    return out


def write_xlsx(tables: dict[str, pd.DataFrame], out: Path, d: Dictionary) -> Path:
    """Write canonical-text tables as one sheet per form (see module docstring)."""
    for name, table in tables.items():
        if len(table) + 1 > MAX_SHEET_ROWS:
            raise ValueError(
                f"form '{name}' has {len(table)} rows; an XLSX sheet holds at most {MAX_SHEET_ROWS - 1} — write CSV instead"
            )
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, table in tables.items():
        form: Form | None = d.forms.get(name)
        types = {f.name: f.type for f in form.fields} if form else {}
        ws = wb.create_sheet(title=name[:31])
        ws.freeze_panes = "A2"
        header = []
        for c in table.columns:
            cell = _text_cell(ws, str(c))
            cell.font = bold
            header.append(cell)
        ws.append(header)
        columns = [_typed_cells(table[c], types.get(c)) for c in table.columns]
        guard = np.zeros(len(table), dtype=bool)
        for values in columns:
            guard |= _formula_like(values)
        for i, row in enumerate(zip(*columns)):
            if guard[i]:
                row = tuple(_text_cell(ws, v) if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS) else v for v in row)
            ws.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


# ------------------------------------------------------------------------------------ reading

def _open_workbook(path: Path):
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise StudyReadError(f"{path}: cannot read ({exc.strerror})") from None
    if head.startswith(_OLE_MAGIC):
        raise StudyReadError(f"{path}: password-protected (encrypted) workbook or legacy .xls; save it unprotected as .xlsx")
    if not zipfile.is_zipfile(path):
        raise StudyReadError(f"{path}: not an XLSX workbook")
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise StudyReadError(f"{path}: damaged XLSX workbook ({type(exc).__name__})") from None


def _has_values(ws) -> bool:
    return any(v is not None for row in ws.iter_rows(values_only=True) for v in row)


def _sheet_form(ws, form: Form, source: str) -> RawForm | None:
    """One sheet as text columns; None for a sheet without even a header row."""
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    skipped = 0  # blank rows above the header: skipped, rows keep the numbers Excel shows
    while header is not None and all(v is None or (isinstance(v, str) and not v.strip()) for v in header):
        header = next(rows, None)
        skipped += 1
    if header is None:
        return None
    data = list(rows)
    width = max([len(header)] + [len(r) for r in data])
    names = [format_value(v) or "" for v in header] + [""] * (width - len(header))
    types = {f.name.lower(): f.type for f in form.fields}
    columns: list[pd.Series] = []
    for j in range(width):
        cells = [r[j] if j < len(r) else None for r in data]
        date_only = types.get(names[j].strip().lower()) == "date"
        if all(v is None or type(v) is str for v in cells):
            columns.append(pd.Series(cells, dtype="str"))
        else:
            columns.append(pd.Series([format_value(v, date_only) for v in cells], dtype="str"))
    return RawForm(names=names, columns=columns, rows=np.arange(2 + skipped, len(data) + 2 + skipped, dtype=np.int64))


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula (a ``<f>`` element in its XML)."""
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    with z.open(name) as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            if b"<f>" in chunk or b"<f " in chunk:
                                return True
    except (zipfile.BadZipFile, OSError):
        return False
    return False


def _uncached_formulas(formula_ws, value_ws, form_name: str, source: str) -> list[dict]:
    """A formula cell whose computed value the file does not hold (a workbook written by a program
    and never opened in Excel) reads as blank: an error per cell, so the row is not analysed with
    the value missing. The formula itself is not repeated (it may hold any text)."""
    issues = []
    header: list[str] = []
    for i, (frow, vrow) in enumerate(zip(formula_ws.iter_rows(values_only=True), value_ws.iter_rows(values_only=True))):
        if i == 0:
            header = [format_value(v) or f"column {j + 1}" for j, v in enumerate(frow)]
            continue
        for j, f in enumerate(frow):
            if isinstance(f, str) and f.startswith("=") and (j >= len(vrow) or vrow[j] is None):
                name = header[j] if j < len(header) else f"column {j + 1}"
                issues.append(read_issue(form_name, i + 1, name, None, "xlsx_formula", "error",
                                         f"{source} row {i + 1}, column {name}: a formula without a computed value — "
                                         "open and save the workbook in Excel, or paste the values"))
    return issues


def read_xlsx(path: Path, d: Dictionary) -> Study:
    """Read a workbook with one sheet per form (see module docstring)."""
    from latc.io._read import finish_study, normalise_form

    wb = _open_workbook(path)
    formulas = load_workbook(path, read_only=True, data_only=False) if _has_formulas(path) else None
    try:
        study = Study(tables={}, path=path, format="xlsx")
        by_key = {n.strip().lower(): n for n in d.forms}
        taken: set[str] = set()
        for ws in wb.worksheets:
            form_name = ws.title if ws.title in d.forms else by_key.get(ws.title.strip().lower())
            source = f"{path.name}#{ws.title}"
            if form_name is None or form_name in taken:
                if _has_values(ws):
                    study.read_issues.append(
                        read_issue(ws.title, None, None, None, "unknown_form", "warning",
                                   f"{source}: sheet is not a form of the data dictionary; not read")
                    )
                continue
            taken.add(form_name)
            try:
                raw = _sheet_form(ws, d.forms[form_name], source)
            except Exception as exc:  # a damaged sheet inside a readable workbook
                raise StudyReadError(f"{source}: damaged worksheet ({type(exc).__name__})") from None
            study.sources[form_name] = source
            if raw is None:
                study.read_issues.append(
                    read_issue(form_name, None, None, None, "missing_form", "warning",
                               f"{source}: empty sheet; form '{form_name}' read as empty")
                )
                study.missing_forms.append(form_name)
                continue
            study.tables[form_name] = normalise_form(raw, d.forms[form_name], source, study.read_issues)
            if formulas is not None:
                study.read_issues.extend(_uncached_formulas(formulas[ws.title], ws, form_name, source))
    finally:
        wb.close()
        if formulas is not None:
            formulas.close()
    return finish_study(study, d, {n: f"{path.name}#{n}" for n in d.forms})
