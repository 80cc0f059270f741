"""Read a study from any source format into raw tables (docs/dev/CONTRACTS.md, "Raw study").

:func:`read_study` recognises the input by what it is:

* a folder with ``redcap_export.csv`` (and usually ``redcap_data_dictionary.csv``), or a CSV file
  given directly → REDCap export (:mod:`latc.io.redcap`);
* a folder with one ``<form>.csv`` per form → CSV folder (:mod:`latc.io._csv`);
* an ``.xlsx`` / ``.xlsm`` workbook with one sheet per form → XLSX (:mod:`latc.io._xlsx`).

Only an input that cannot be read at all raises :class:`StudyReadError` (one line naming it).
Anything else is read as far as possible and reported in ``Study.read_issues``; the rules:

==================  ========  ================================================================
rule                severity  meaning
==================  ========  ================================================================
missing_form        warning   no file / sheet for a dictionary form (the form is read as empty)
unknown_form        warning   a file / sheet that is no dictionary form (not read)
missing_column      warning   a dictionary field without a column (read as blank)
unknown_column      warning   a column the form does not define (kept for review)
duplicate_column    warning   a column header seen twice (the second is kept as ``name.2``)
ragged_row          error     a CSV row with more cells than the header (values may be shifted)
ragged_row          warning   a CSV row with fewer cells than the header (padded with blanks)
unclosed_quote      error     a CSV quote never closed: the rest of the file merged into one row
blank_rows          warning   blank rows between data rows (skipped; row numbers unchanged)
file_encoding       warning   a CSV file that is not UTF-8 (decoded as Windows-1252/Latin-1)
csv_delimiter       warning   a CSV file separated by ``;`` or tabs
==================  ========  ================================================================
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary, Form
from latc.io._csv import EXTRA_CELLS, RawForm, read_csv_form
from latc.io._study import ROW, Study, StudyReadError, read_issue
from latc.io._write import resolve_dictionary

#: values a reader turns into the yesno codes (CONTRACTS.md: only when unambiguous)
YES_WORDS = ("yes", "true")
NO_WORDS = ("no", "false")
REDCAP_EXPORT = "redcap_export.csv"
REDCAP_DICTIONARY = "redcap_data_dictionary.csv"
_UNNAMED = re.compile(r"^column_\d+$")


def empty_form_table(form: Form) -> pd.DataFrame:
    """A form's raw table with no rows (all fields as ``str`` columns, and :data:`ROW`)."""
    cols = {name: pd.Series([], dtype="str") for name in form.field_names}
    cols[ROW] = pd.Series([], dtype="int64")
    return pd.DataFrame(cols)


def _clean_text(col: pd.Series) -> pd.Series:
    """Strings with surrounding whitespace stripped; blank → missing."""
    s = col.astype("str").str.strip()
    return s.where(s != "")


def _blank_column(col: pd.Series) -> bool:
    """Whether every cell is missing or whitespace, without building a cleaned copy (cheap enough for
    the thousands of padded columns a stray far cell gives: tests/fuzz/crashes/*-slow-*)."""
    if col.isna().all():
        return True
    present = col.notna().to_numpy()
    return not any(not isinstance(v, str) or v.strip() for v in col.to_numpy(dtype=object)[present])


def _yesno_codes(col: pd.Series) -> pd.Series:
    low = col.str.lower()
    return col.mask(low.isin(YES_WORDS), "1").mask(low.isin(NO_WORDS), "0")


def normalise_form(raw: RawForm, form: Form, source: str, issues: list[dict]) -> pd.DataFrame:
    """Raw table of one form from what a format reader found (contract: CONTRACTS.md "Raw study").

    Headers are stripped and matched to the dictionary's field names ignoring case; cells are
    stripped, blank → missing; yesno words mapped to 1/0; blank rows dropped (their row numbers
    are not reused); missing fields added blank; extra columns kept after the fields.
    """
    fields = form.field_names
    by_lower = {f.lower(): f for f in fields}
    data: dict[str, pd.Series] = {}
    seen: dict[str, int] = {}
    unnamed: list[str] = []
    duplicates: set[str] = set()
    for j, (name, col) in enumerate(zip(raw.names, raw.columns)):
        name = (name or "").replace("\ufeff", "").strip()
        if not name and _blank_column(col):
            continue  # an empty column without a header (Excel's trailing commas; openpyxl pads rows to a stray far cell)
        if not name:
            name = f"column_{j + 1}"
            unnamed.append(name)
        name = by_lower.get(name.lower(), name)
        if name in seen:
            seen[name] += 1
            issues.append(
                read_issue(form.name, None, name, None, "duplicate_column", "warning",
                           f"{source}: column '{name}' appears {seen[name]} times; only the first is read as the field "
                           f"(the others are kept as '{name}.{seen[name]}')")
            )
            name = f"{name}.{seen[name]}"
            duplicates.add(name)
        else:
            seen[name] = 1
        data[name] = _clean_text(col.reset_index(drop=True))
    table = pd.DataFrame(data, index=pd.RangeIndex(len(raw.rows)))
    rows = np.asarray(raw.rows, dtype=np.int64)
    # blank rows: dropped; reported when data rows follow them
    filled = table.notna().any(axis=1).to_numpy() if table.shape[1] else np.zeros(len(table), bool)
    if not filled.all():
        last = rows[filled].max() if filled.any() else 0
        stray = rows[~filled & (rows < last)]
        if len(stray):
            shown = ", ".join(map(str, stray[:10])) + (", …" if len(stray) > 10 else "")
            issues.append(
                read_issue(form.name, int(stray[0]), None, None, "blank_rows", "warning",
                           f"{source}: {len(stray)} blank row(s) between data rows skipped (row {shown})")
            )
        table = table.loc[filled].reset_index(drop=True)
        rows = rows[filled]
    empty = []  # header-less columns: only worth a word when they hold values
    for name in unnamed:
        present = table[name].notna().to_numpy()
        if present.any():
            first = int(rows[present][0])
            issues.append(
                read_issue(form.name, first, name, table[name].dropna().iloc[0], "unknown_column", "warning",
                           f"{source}: {name.replace('_', ' ')} has values but no header (first at row {first}); kept for review")
            )
        else:
            empty.append(name)
    if empty:  # one drop: dropping them one by one copies the table each time (quadratic; tests/fuzz/crashes)
        table = table.drop(columns=empty)
    for f in form.fields:
        if f.type == "yesno" and f.name in table:
            table[f.name] = _yesno_codes(table[f.name])
    extras = [c for c in table.columns if c not in set(fields)]
    for name in extras:
        if name in unnamed or name in duplicates or name == EXTRA_CELLS:
            continue
        issues.append(
            read_issue(form.name, None, name, None, "unknown_column", "warning",
                       f"{source}: column '{name}' is not a field of form '{form.name}'; kept for review")
        )
    for name in fields:
        if name not in table:
            issues.append(
                read_issue(form.name, None, name, None, "missing_column", "warning",
                           f"{source}: no column '{name}' (field of form '{form.name}'); read as blank")
            )
            table[name] = pd.Series(np.nan, index=table.index, dtype="str")
    table = table[fields + extras]
    table[ROW] = rows
    return table


def finish_study(study: Study, d: Dictionary, expected: dict[str, str] | None = None) -> Study:
    """Every dictionary form present (empty when missing), listed in ``missing_forms`` with a
    ``missing_form`` read issue; forms in dictionary order, then any other tables."""
    if not hasattr(study, "read_issues") or study.read_issues is None:
        study.read_issues = []
    for name, form in d.forms.items():
        if name not in study.tables:
            study.tables[name] = empty_form_table(form)
            where = (expected or {}).get(name, name)
            study.sources.setdefault(name, where)
            if name not in study.missing_forms:
                study.missing_forms.append(name)
                study.read_issues.append(
                    read_issue(name, None, None, None, "missing_form", "warning",
                               f"{where}: not found; form '{name}' read as empty")
                )
    study.tables = {**{n: study.tables[n] for n in d.forms}, **{n: t for n, t in study.tables.items() if n not in d.forms}}
    return study


# ---------------------------------------------------------------------------------- CSV folder

def read_csv_folder(folder: Path, d: Dictionary) -> Study:
    """Read a folder holding one ``<form>.csv`` per form (file names matched ignoring case)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    by_form: dict[str, Path] = {}
    unknown: list[Path] = []
    lower = {n.lower(): n for n in d.forms}
    for p in files:
        name = p.stem if p.stem in d.forms else lower.get(p.stem.strip().lower())
        if name and name not in by_form:
            by_form[name] = p
        else:
            unknown.append(p)
    if not by_form:
        raise StudyReadError(
            f"{folder}: no study files (expected one <form>.csv per form, e.g. patients.csv, or {REDCAP_EXPORT})"
        )
    study = Study(tables={}, path=folder, format="csv")
    for p in unknown:
        study.read_issues.append(
            read_issue(p.stem, None, None, None, "unknown_form", "warning",
                       f"{p.name}: not a form of the data dictionary; not read")
        )
    for name, p in by_form.items():
        form = d.forms[name]
        raw = read_csv_form(p, name)
        if raw is None:
            study.read_issues.append(
                read_issue(name, None, None, None, "missing_form", "warning", f"{p.name}: empty file; form '{name}' read as empty")
            )
            study.missing_forms.append(name)
            study.sources[name] = p.name
            continue
        study.read_issues.extend(raw.issues)
        study.tables[name] = normalise_form(raw, form, p.name, study.read_issues)
        study.sources[name] = p.name
    return finish_study(study, d, {n: f"{n}.csv" for n in d.forms})


# ------------------------------------------------------------------------------------ dispatch

def _redcap_files(folder: Path) -> tuple[Path, Path | None] | None:
    names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    export = names.get(REDCAP_EXPORT)
    if export is None:
        return None
    return export, names.get(REDCAP_DICTIONARY)


def _read_redcap(export: Path, dictionary_csv: Path | None, d: Dictionary) -> Study:
    from latc.io.redcap import read_redcap_export  # lazy: a module of its own

    study = read_redcap_export(export, dictionary_csv, d)
    return finish_study(study, d, {n: export.name for n in d.forms})


def read_study(path: str | Path, dictionary: Dictionary | str | Path | None = None) -> Study:
    """Read a study: a CSV folder, an XLSX workbook or a REDCap export (recognised automatically).

    Returns a :class:`Study` whose tables follow the raw-study contract (docs/dev/CONTRACTS.md):
    every dictionary form present, all cells as text (blank → missing), extra columns kept,
    :data:`ROW` = the row a person sees in the source. Problems inside the data are listed in
    ``study.read_issues`` (see this module's docstring for the rules). Raises
    :class:`StudyReadError` only when the input cannot be read at all.
    """
    d = resolve_dictionary(dictionary)
    p = Path(path)
    if not p.exists():
        raise StudyReadError(f"{p}: no such file or folder")
    if p.is_dir():
        try:
            redcap = _redcap_files(p)
        except OSError as exc:
            raise StudyReadError(f"{p}: cannot list the folder ({exc.strerror})") from None
        if redcap:
            return _read_redcap(*redcap, d)
        return read_csv_folder(p, d)
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from latc.io._xlsx import read_xlsx

        return read_xlsx(p, d)
    if suffix == ".xls":
        raise StudyReadError(f"{p}: legacy .xls workbooks are not read; save it as .xlsx")
    if suffix in (".csv", ".txt"):
        if p.stem.lower() in {n.lower() for n in d.forms}:
            raise StudyReadError(
                f"{p}: one form's file; give the folder holding one <form>.csv per form instead"
            )
        sibling = p.parent / REDCAP_DICTIONARY
        return _read_redcap(p, sibling if sibling.is_file() else None, d)
    raise StudyReadError(
        f"{p}: not a study (expected a folder of <form>.csv files, an .xlsx workbook or a REDCap export CSV)"
    )
