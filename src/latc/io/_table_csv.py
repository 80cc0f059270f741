"""Analysis tables (derived datasets, analysis results) as CSV that R and pandas read without options.

Not the study-form writer :func:`latc.io._csv.write_csv_table`: that one writes *canonical text*
(every value already a string, a missing value an empty cell, minimal quoting) so that a study
folder reads back exactly; this one writes *typed* tables for statisticians — logical columns as
``TRUE``/``FALSE``, missing values as ``NA`` (:data:`CSV_NA`), dates as ``YYYY-MM-DD``, numbers as
numbers. Both make text cells spreadsheet-safe with the one rule of :mod:`latc.io._spreadsheet`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from latc.io._spreadsheet import neutralise_formulas

__all__ = ["CSV_NA", "write_table_csv"]

#: What a missing value is written as in latc's CSV outputs: R's ``read.csv`` reads ``NA`` as a missing
#: value in every column type (an empty cell only in logical and number columns: in a text or date
#: column it stays ``""``), pandas' ``read_csv`` reads it as missing too, and R's ``write.csv`` writes it.
CSV_NA = "NA"


def _csv_column(s: pd.Series) -> pd.Series:
    """One column in its CSV form: flags as ``TRUE``/``FALSE`` (what R's ``read.csv`` reads as logical
    without options; ``true``/``True`` stay text in R 4.2), categories and mixed text as text, dates kept."""
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):  # bool and the nullable boolean
        return s.astype("boolean").map({True: "TRUE", False: "FALSE"}, na_action="ignore").astype("object")
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if pd.api.types.is_bool_dtype(cats.dtype):
            return _csv_column(s.astype("boolean"))
        return s.astype("object").where(s.notna(), None).map(str, na_action="ignore")
    if dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "boolean":
            return s.map({True: "TRUE", False: "FALSE"}, na_action="ignore").astype("object")
        if kind not in ("string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "date", "datetime",
                        "datetime64"):  # mixed types: each value as text
            return s.map(lambda v: "TRUE" if v is True or v is np.True_ else "FALSE" if v is False or v is np.False_
                         else str(v), na_action="ignore")
    return s


def write_table_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a derived or analysis table as CSV that R's ``read.csv`` and pandas' ``read_csv`` read
    without options (docs/r.md): logical columns as ``TRUE``/``FALSE``, missing values as ``NA``,
    dates as ``YYYY-MM-DD``, numbers as numbers; text cells a spreadsheet would run as a formula get
    a leading ``'`` (docs/spreadsheet_safety.md). Written through pyarrow (several times faster than
    ``DataFrame.to_csv`` at millions of rows), which quotes every text value."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    safe = neutralise_formulas(table)
    frame = pd.DataFrame({c: _csv_column(safe[c]) for c in safe.columns}, index=safe.index)
    frame.columns = [str(c) for c in safe.columns]
    t = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(t.schema):
        if pa.types.is_timestamp(f.type):
            t = t.set_column(i, f.name, pc.cast(t.column(i), pa.date32(), safe=False))
        elif pa.types.is_null(f.type):  # a column without any value
            t = t.set_column(i, f.name, pa.array([None] * len(t), pa.string()))
    path = Path(path)
    pacsv.write_csv(t, path, write_options=pacsv.WriteOptions(quoting_style="needed", null_string=CSV_NA))
    return path

