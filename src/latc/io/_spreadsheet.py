"""No live spreadsheet formula in an output meant for people (CSV / formula injection).

A spreadsheet opening a CSV file evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, in some versions and locales, with a tab, a carriage return, a NUL or the full-width
``＝ ＋ － ＠``) as a formula: ``=HYPERLINK("http://x","click")`` in a center's data becomes a live
link, ``+cmd|' /C calc'!A0`` a DDE call. OWASP's rule (ASVS 5.0 requirement 1.2.10; CWE-1236):
escape such a cell with a leading single quote, which spreadsheets show as text.

:func:`neutralise_formulas` applies the rule to the *text* cells (and column names) of a table
before it is written as CSV:

* a text cell whose first character (after any leading ``'``) is one of :data:`FORMULA_TRIGGERS`
  gets one ``'`` in front — ``=1+1`` → ``'=1+1``, ``-2+3`` → ``'-2+3``, ``'=x`` → ``''=x``;
* unless the whole cell is a plain number (``-5``, ``+3.2``, ``-1e-3``): R, pandas and Excel read
  it as that number, so it stays as it is;
* numeric, boolean and date columns are never touched (they hold no formula), nor is a missing
  cell or an empty string.

The prefix is reversible: :func:`restore_formulas` removes one leading ``'`` from a text cell
whose rest is ``'``\\* followed by a trigger character, which gives back the exact original
(prefixing a cell that already starts with ``'`` + trigger is what makes the undo exact).

Both work column-wise with pyarrow compute (regular expressions in C, no per-cell Python), so a
table of 100k+ rows costs milliseconds. XLSX writers do not need the prefix: a cell written with
data type ``s`` (string) is never evaluated, whatever it starts with (see ``latc.report._xlsx``).
See docs/spreadsheet_safety.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FORMULA_TRIGGERS", "neutralise_formulas", "neutralise_series", "restore_formulas", "restore_series"]

#: first characters that make a spreadsheet evaluate a cell (OWASP CSV Injection; ASVS 1.2.10)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00", "\uff1d", "\uff0b", "\uff0d", "\uff20")

_CLASS = r"[=+\-@\t\r\x00\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}]"  # RE2 syntax (pyarrow)
_PY_CLASS = "[=+\\-@\t\r\x00\uff1d\uff0b\uff0d\uff20]"          # the same set for Python's re
#: cells that get the prefix (before the plain-number exception)
_LEADING = "^'*" + _CLASS
#: cells restore_formulas un-prefixes
_PREFIXED = "^'+" + _CLASS
#: a plain decimal number, as R's read.csv / pandas / Excel read it
_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _is_text_dtype(dtype) -> bool:
    return (dtype == object or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype))
            or (isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype))
            or (isinstance(dtype, pd.ArrowDtype) and pa.types.is_large_string(dtype.pyarrow_dtype)))


def _flags(s: pd.Series, pattern: str, py_pattern: str, number_exempt: bool) -> np.ndarray | None:
    """Positions (bool array) of the string cells of ``s`` matching ``pattern`` (and, with
    ``number_exempt``, not a plain number); None when no cell matches."""
    values = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # an object column mixing strings with other values (numbers, dates): only its strings
        # can hold a formula; rare and small (analysis tables), so pandas' per-cell .str is fine
        text = values.where(values.map(type) == str)
        hit = text.str.match(py_pattern, na=False)
        if number_exempt:
            hit &= ~text.str.fullmatch(_NUMBER[1:-1], na=False)
        mask = hit.to_numpy(dtype=bool)
        return mask if mask.any() else None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count == len(arr):
        return None
    hit = pc.match_substring_regex(arr, pattern)
    if not pc.any(hit).as_py():
        return None
    if number_exempt:
        hit = pc.and_(hit, pc.invert(pc.match_substring_regex(arr, _NUMBER)))
    mask = pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    return mask if mask.any() else None


def _replace(s: pd.Series, mask: np.ndarray, new_values: list) -> pd.Series:
    out = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s.copy()
    out.iloc[np.flatnonzero(mask)] = new_values
    return out


def neutralise_series(s: pd.Series) -> pd.Series:
    """``s`` with every formula-leading text cell prefixed by ``'`` (module docstring); ``s``
    itself when nothing needs it (a non-text column is returned unchanged)."""
    if not _is_text_dtype(s.dtype) or len(s) == 0:
        return s
    mask = _flags(s, _LEADING, "^'*" + _PY_CLASS, number_exempt=True)
    if mask is None:
        return s
    return _replace(s, mask, ["'" + v for v in s.iloc[np.flatnonzero(mask)].astype(object)])


def restore_series(s: pd.Series) -> pd.Series:
    """Undo :func:`neutralise_series`: drop one leading ``'`` where ``'``\\* + a trigger follows."""
    if not _is_text_dtype(s.dtype) or len(s) == 0:
        return s
    mask = _flags(s, _PREFIXED, "^'+" + _PY_CLASS, number_exempt=False)
    if mask is None:
        return s
    return _replace(s, mask, [v[1:] for v in s.iloc[np.flatnonzero(mask)].astype(object)])


def _columns(columns: pd.Index, fn) -> pd.Index | None:
    if not len(columns) or not all(isinstance(c, str) for c in columns):
        return None
    new = fn(pd.Series(list(columns), dtype=object))
    return None if new.tolist() == list(columns) else pd.Index(new.tolist())


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to open in a spreadsheet: :func:`neutralise_series` on every text
    column and on the column names. Returns ``frame`` itself when nothing needed a prefix."""
    changed = {}
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        new = neutralise_series(col)
        if new is not col:
            changed[j] = new
    columns = _columns(frame.columns, neutralise_series)
    if not changed and columns is None:
        return frame
    out = frame.copy(deep=False)
    for j, new in changed.items():
        out.isetitem(j, new)
    if columns is not None:
        out.columns = columns
    return out


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise_formulas` on a table read back from one of latc's CSV outputs."""
    changed = {}
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        new = restore_series(col)
        if new is not col:
            changed[j] = new
    columns = _columns(frame.columns, restore_series)
    if not changed and columns is None:
        return frame
    out = frame.copy(deep=False)
    for j, new in changed.items():
        out.isetitem(j, new)
    if columns is not None:
        out.columns = columns
    return out
