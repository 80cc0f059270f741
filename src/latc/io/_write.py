"""Write a study (one table per form) as a CSV folder, an XLSX workbook or a REDCap export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from latc.dictionary import Dictionary, Form, load_dictionary
from latc.io._canonical import to_canonical_text
from latc.io._study import ROW

WRITE_FORMATS = ("csv", "xlsx", "redcap")


def resolve_dictionary(dictionary: Dictionary | str | Path | None) -> Dictionary:
    """The given dictionary, one loaded from a YAML path, or the bundled one."""
    if isinstance(dictionary, Dictionary):
        return dictionary
    return load_dictionary(dictionary)


def canonical_form_table(table: pd.DataFrame | None, form: Form | None) -> pd.DataFrame:
    """A form's table ready to write: canonical text, every dictionary field (in dictionary order,
    empty when absent), then the extra columns; the reader's ``_row`` column is dropped."""
    if table is None:
        table = pd.DataFrame()
    table = table.drop(columns=[ROW], errors="ignore")
    text = to_canonical_text(table, form)
    if form is not None:
        for name in form.field_names:
            if name not in text.columns:
                text[name] = pd.Series(pd.NA, index=text.index, dtype="str")
        extras = [c for c in text.columns if c not in set(form.field_names)]
        text = text[form.field_names + extras]
    return text.reset_index(drop=True)


def write_study(
    tables: dict[str, pd.DataFrame],
    out: str | Path,
    fmt: str = "csv",
    dictionary: Dictionary | str | Path | None = None,
) -> Path:
    """Write study tables in one of the source formats the readers accept.

    Parameters
    ----------
    tables
        form name → table; typed (datetime64, Int64, float, boolean) or already strings. Forms of
        the dictionary that are absent are written empty (header only); tables the dictionary
        does not know are written too (a reader reports them as unknown forms).
    out
        ``csv``: the folder to create (one ``<form>.csv`` per form); ``xlsx``: the workbook file
        (one sheet per form); ``redcap``: the folder for ``redcap_export.csv`` and
        ``redcap_data_dictionary.csv`` (written by :mod:`latc.io.redcap`).
    fmt
        ``csv``, ``xlsx`` or ``redcap``.
    dictionary
        the data dictionary (default: the bundled one).

    Values are written in the canonical text form (docs/dev/CONTRACTS.md); see
    :mod:`latc.io._canonical`. Returns the path written.
    """
    d = resolve_dictionary(dictionary)
    out = Path(out)
    if fmt == "redcap":
        from latc.io.redcap import write_redcap_export  # lazy: optional module of its own

        return write_redcap_export(tables, out, d) or out
    names = list(d.forms) + [n for n in tables if n not in d.forms]
    canonical = {n: canonical_form_table(tables.get(n), d.forms.get(n)) for n in names}
    if fmt == "csv":
        from latc.io._csv import write_csv_table

        out.mkdir(parents=True, exist_ok=True)
        for name, table in canonical.items():
            write_csv_table(table, out / f"{name}.csv")
        return out
    if fmt == "xlsx":
        from latc.io._xlsx import write_xlsx

        write_xlsx(canonical, out, d)
        return out
    raise ValueError(f"unknown study format {fmt!r}; expected one of {', '.join(WRITE_FORMATS)}")
