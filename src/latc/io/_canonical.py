"""The canonical text form of study values (docs/dev/CONTRACTS.md, "Canonical text form").

Every writer stores, and every reader hands on, values as text in one form so that a study written
as CSV, XLSX or a REDCap export reads back to identical raw tables:

* dates ``YYYY-MM-DD`` (a date-time with a time of day keeps it: ``YYYY-MM-DD HH:MM:SS``);
* integers without decimals (``12``), also for whole floats (``12.0`` → ``12``);
* numbers rounded to 6 decimals without trailing zeros (``12.5``, ``3``, ``0.333333``);
* yesno and booleans ``1`` / ``0``;
* text and choice codes as found;
* missing (None, NaN, NaT, pd.NA) → missing; :func:`to_canonical_text` leaves them missing and the
  writers store an empty cell.

Formatting is vectorised per column (pyarrow compute); only ``object`` columns holding a mixture of
Python types (a spreadsheet read cell by cell) are formatted value by value.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from latc.dictionary import Form

#: decimals kept for numbers (CONTRACTS.md: "up to 6 significant decimals")
NUMBER_DECIMALS = 6
_INT_LIMIT = 2**53  # whole floats beyond this are not exact integers any more


def _as_str_series(values: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(values.to_pandas(), index=index, dtype="str")


def format_numbers(values: np.ndarray | pd.Series) -> pa.Array:
    """Canonical text of floats: whole values as integers, others rounded to 6 decimals, no
    trailing zeros; NaN → null."""
    arr = pa.array(np.asarray(values, dtype="float64"), from_pandas=True)
    finite = pc.is_finite(arr)
    whole = pc.and_(finite, pc.and_(pc.equal(pc.floor(arr), arr), pc.less(pc.abs(arr), _INT_LIMIT)))
    whole = pc.fill_null(whole, False)
    as_int = pc.cast(pc.cast(pc.if_else(whole, arr, 0.0), pa.int64()), pa.string())
    rounded = pc.round(arr, NUMBER_DECIMALS)
    # rounding may produce -0 (e.g. -1e-9): print it as 0
    rounded = pc.if_else(pc.equal(rounded, 0.0), 0.0, rounded)
    as_dec = pc.cast(rounded, pa.string())
    out = pc.if_else(whole, as_int, as_dec)
    # NaN → null; ±inf keeps its text ("inf") so validation can query it
    return pc.if_else(pc.is_nan(arr), pa.scalar(None, pa.string()), out)


def format_number_value(x: float) -> str | None:
    """Canonical text of one float (for cell-by-cell sources such as a spreadsheet)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    xf = float(x)
    if math.isfinite(xf) and xf == math.floor(xf) and abs(xf) < _INT_LIMIT:
        return str(int(xf))
    if not math.isfinite(xf):
        return str(xf)
    r = round(xf, NUMBER_DECIMALS)
    if r == 0:
        return "0"
    s = f"{r:.{NUMBER_DECIMALS}f}".rstrip("0").rstrip(".")
    return s


def format_value(x: Any, date_only: bool = False) -> str | None:
    """Canonical text of one Python value of any type (a spreadsheet cell); None for missing."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "1" if x else "0"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return format_number_value(float(x))
    if isinstance(x, (dt.datetime, pd.Timestamp)):
        if pd.isna(x):
            return None
        if date_only or (x.hour, x.minute, x.second, x.microsecond) == (0, 0, 0, 0):
            return x.strftime("%Y-%m-%d")
        return x.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(x, dt.date):
        return x.strftime("%Y-%m-%d")
    if isinstance(x, dt.time):
        return x.strftime("%H:%M:%S")
    return str(x)


def format_column(col: pd.Series, field_type: str | None = None) -> pd.Series:
    """Canonical text of one column of any dtype, as a pandas ``str`` Series (missing stays NA).

    ``field_type`` is the dictionary type of the column (None for a column the dictionary does not
    know); it only matters for date-times in a ``date`` field, which lose their time of day.
    """
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        arr = pa.array(col.astype("boolean").to_numpy(dtype=object, na_value=None), type=pa.bool_())
        return _as_str_series(pc.if_else(arr, "1", "0"), col.index)
    if pd.api.types.is_integer_dtype(dtype):
        arr = pc.cast(pa.array(col, from_pandas=True), pa.int64())
        return _as_str_series(pc.cast(arr, pa.string()), col.index)
    if pd.api.types.is_float_dtype(dtype):
        return _as_str_series(format_numbers(col.to_numpy(dtype="float64", na_value=np.nan)), col.index)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        times = col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col
        if field_type == "date" or (times.dropna() == times.dropna().dt.normalize()).all():
            out = times.dt.strftime("%Y-%m-%d")
        else:
            out = times.dt.strftime("%Y-%m-%d %H:%M:%S")
        return out.astype("str")
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_string_dtype(dtype) and dtype != object:
        return col.astype("str")
    # object (or categorical, ...): strings pass through, anything else is formatted value by value
    values = col.astype(object) if not isinstance(dtype, np.dtype) or dtype != object else col
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        return values.astype("str")
    date_only = field_type == "date"
    return pd.Series([format_value(v, date_only) for v in values], index=col.index, dtype="str")


def to_canonical_text(table: pd.DataFrame, form: Form | None = None) -> pd.DataFrame:
    """The table with every column in canonical text form (``str`` dtype, missing → NA).

    Column order: the form's fields in dictionary order (only those present), then the other
    columns as they come. Typed columns (datetime64, Int64, float, boolean) and string columns are
    both accepted; strings are kept exactly as found (so injected errors survive a write).
    """
    types = {f.name: f.type for f in form.fields} if form is not None else {}
    order = [c for c in types if c in table.columns] + [c for c in table.columns if c not in types]
    return pd.DataFrame({c: format_column(table[c], types.get(c)) for c in order}, index=table.index)
