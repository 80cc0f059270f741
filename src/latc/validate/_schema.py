"""Per-form schemas generated from the data dictionary, and the parsing of raw text into types.

Nothing here lists fields: every check is derived from :class:`latc.dictionary.Field` (type,
choices, min/max, soft_min/soft_max, pattern, show_if, allowed_by).  Parsing is vectorised with
pyarrow compute (a regular expression decides what is well-formed, then one cast per column).

Why not pandera: a generated ``pandera.DataFrameSchema`` was tried first (see docs/validation.md);
on 2 million rows one column with two checks took ~12 s in lazy mode when many values failed, and
the rules we need (required only when shown, parsing text into types with a message per cell,
cross-row rules) do not map onto its column checks, so the checks are vectorised pandas/pyarrow
code generated from the same dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from latc.dictionary import Dictionary, Field, Form
from latc.io._dates import DATE_MAX, DATE_MIN, DATE_RE, parse_iso_dates  # noqa: F401 - re-exported

INTEGER_RE = r"^[+-]?\d+(\.0*)?$"
NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
#: integers beyond this cannot be stored exactly (float64 mantissa) and are not study values
INT_LIMIT = 2**53

#: pandas dtype of each dictionary type in the clean tables (CONTRACTS.md "Clean tables")
CLEAN_DTYPES: dict[str, str] = {
    "text": "str", "notes": "str", "choice": "str",
    "integer": "Int64", "number": "Float64", "date": "datetime64[ns]", "yesno": "boolean",
}


@dataclass(frozen=True)
class FieldSpec:
    """What validation checks for one field — a view of the dictionary's :class:`Field`."""

    field: Field
    is_key: bool

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def expected(self) -> str:
        """Human wording of what the field accepts, used in messages."""
        f = self.field
        if f.type in ("choice", "yesno"):
            codes = ", ".join(f.codes)
            return f"one of {codes}" if len(codes) < 160 else f"one of {len(f.codes)} codes of the dictionary"
        if f.type == "integer":
            return "a whole number"
        if f.type == "number":
            return "a number"
        if f.type == "date":
            return "a date YYYY-MM-DD"
        return "text"


def form_specs(dictionary: Dictionary, form: str) -> list[FieldSpec]:
    """The checks of one form, generated from the dictionary."""
    f: Form = dictionary.forms[form]
    return [FieldSpec(field=fld, is_key=fld.name in f.key) for fld in f.fields]


def isin(values: pd.Series, allowed: pd.Index | pd.Series | list) -> np.ndarray:
    """``values.isin(allowed)`` for strings, vectorised in pyarrow (pandas' ``str`` isin builds a
    Python scalar per allowed value, which is slow for 100,000 patient ids); missing → False."""
    vs = pa.array(pd.Series(allowed, dtype="str").dropna(), from_pandas=True, type=pa.string())
    res = pc.is_in(_arrow(values), value_set=vs)
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def regex_mask(values: pd.Series, pattern: str, full: bool = False) -> np.ndarray:
    """Where ``pattern`` is found in (``full``: matches all of) the value; missing → False.

    Runs in pyarrow (RE2) directly: pandas falls back to Python's ``re`` value by value for
    patterns with ``\\s`` or ``\\d`` on non-ASCII data, far too slow for a million rows.
    """
    if full:
        pattern = "^(?:" + pattern.removeprefix("^").removesuffix("$") + ")$"
    res = pc.match_substring_regex(_arrow(values), pattern)
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def _arrow(col: pd.Series) -> pa.Array:
    """The column as one contiguous arrow string array (kernels such as RE2 matching pay a
    set-up cost per chunk, and a table built by concatenation can hold thousands of chunks)."""
    arr = pa.array(col.astype("str"), from_pandas=True, type=pa.string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


class _ArrowRefused(Exception):
    """Raised instead of the pandas fallback of :func:`_cast_float` in a batched parse."""


def _cast_float(text: pa.Array, ok: np.ndarray, strict: bool = False) -> np.ndarray:
    """Floats of the well-formed values (NaN elsewhere); falls back to pandas if arrow refuses one
    (``strict``: raise :class:`_ArrowRefused` instead, so a batch can redo its columns one by one)."""
    sel = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))
    try:
        return pc.cast(sel, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover - defensive
        if strict:
            raise _ArrowRefused() from None
        return pd.to_numeric(pd.Series(sel.to_pandas()), errors="coerce").to_numpy(dtype="float64")


@dataclass
class Parsed:
    """One raw column parsed into its dictionary type.

    ``values``: float64 for integer/number, datetime64[ns] for dates, the raw strings otherwise;
    ``present``: a value was entered; ``well_formed``: present and of the right type (for
    choice/yesno: one of the codes; for text: always, pattern is a separate check).
    """

    values: np.ndarray | pd.Series
    present: np.ndarray
    well_formed: np.ndarray
    impossible_date: np.ndarray | None = None
    #: dates (calendar dates or not) outside :data:`DATE_MIN` … :data:`DATE_MAX`
    out_of_range: np.ndarray | None = None


def parse_column(col: pd.Series, field: Field, _strict: bool = False) -> Parsed:
    """Parse one raw string column per its dictionary type (vectorised)."""
    text = col.astype("str")
    present = text.notna().to_numpy()
    t = field.type
    if t in ("integer", "number"):
        arr = _arrow(text)
        ok = pc.fill_null(pc.match_substring_regex(arr, INTEGER_RE if t == "integer" else NUMBER_RE), False)
        ok = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
        values = _cast_float(arr, ok, strict=_strict)
        finite = np.isfinite(values)
        if t == "integer":
            finite &= np.abs(np.where(finite, values, 0)) < INT_LIMIT
        ok &= finite
        values = np.where(ok, values, np.nan)
        return Parsed(values=values, present=present, well_formed=ok)
    if t == "date":
        arr = _arrow(text)
        shaped = np.asarray(pc.fill_null(pc.match_substring_regex(arr, DATE_RE), False).to_numpy(zero_copy_only=False), dtype=bool)
        values, out_of_range = parse_iso_dates(text, shaped)
        ok = ~np.isnat(values)
        return Parsed(values=values, present=present, well_formed=ok, impossible_date=shaped & ~out_of_range & ~ok,
                      out_of_range=out_of_range)
    if t in ("choice", "yesno"):
        ok = text.isin(field.codes).to_numpy() & present
        return Parsed(values=text, present=present, well_formed=ok)
    return Parsed(values=text, present=present, well_formed=present.copy())


def _slice(a, sl: slice):
    return None if a is None else a[sl]


def parse_columns(cols: list[pd.Series], fields: list[Field],
                  index: pd.Index | list[pd.Index]) -> list[tuple[Parsed, pd.Series | pd.api.extensions.ExtensionArray]]:
    """:func:`parse_column` and :func:`typed_column` of several columns (of one or more forms) at once.

    The same functions run once on the columns of one type laid end to end, and their results
    are cut back into columns: every value is parsed and typed on its own (a regular expression,
    a cast, a fixed date format, a code lookup), so each column's result is the one
    :func:`parse_column` / :func:`typed_column` give it alone — a fixed pandas/pyarrow cost per
    type instead of per column (one-patient validation, ``latc capture``'s save). Choice and yesno
    columns are looked up as ``<column number>\x1f<value>`` in ``<column number>\x1f<code>`` (codes
    hold no ``\x1f``). ``cols[i]``: the raw text of ``fields[i]`` with ``index`` (or ``index[i]``).
    Returns per column its :class:`Parsed` and its typed values (a Series or the Series' array).
    """
    idx = index if isinstance(index, list) else [index] * len(cols)
    out: list[tuple[Parsed, pd.Series] | None] = [None] * len(cols)
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(fields):
        groups.setdefault("text" if f.type == "notes" else f.type, []).append(i)
    for kind, all_members in groups.items():
        for members in batches(all_members, [len(cols[i]) for i in all_members]):
            texts = [_as_str(cols[i]) for i in members]
            if len(members) == 1:
                i = members[0]
                p = parse_column(texts[0], fields[i])
                out[i] = (p, typed_column(p, fields[i], idx[i]))
                continue
            lengths = np.array([len(t) for t in texts], dtype=np.int64)
            ends = np.cumsum(lengths)
            big_index = pd.RangeIndex(int(ends[-1]))
            joined = pd.Series(np.concatenate([t.to_numpy(dtype=object) for t in texts]) if len(big_index) else
                               np.array([], dtype=object), index=big_index, dtype="str")
            if kind in ("choice", "yesno"):
                present = joined.notna().to_numpy()
                tag = np.repeat(np.array([f"{k}\x1f" for k in range(len(members))], dtype=object), lengths)
                allowed = [f"{k}\x1f{c}" for k, i in enumerate(members) for c in fields[i].codes]
                well = (pd.Series(tag, index=big_index, dtype="str") + joined).isin(allowed).to_numpy() & present
                bp = Parsed(values=joined, present=present, well_formed=well)
            else:
                try:
                    bp = parse_column(joined, fields[members[0]], _strict=True)
                except _ArrowRefused:  # pragma: no cover - defensive: the columns one by one, as parse_column does
                    for k, i in enumerate(members):
                        p = parse_column(texts[k], fields[i])
                        out[i] = (p, typed_column(p, fields[i], idx[i]))
                    continue
            bt = typed_column(bp, fields[members[0]], big_index).array
            for k, i in enumerate(members):
                sl = slice(int(ends[k] - lengths[k]), int(ends[k]))
                f = fields[i]
                values = texts[k] if kind in ("text", "choice", "yesno") else bp.values[sl]
                p = Parsed(values=values, present=bp.present[sl], well_formed=bp.well_formed[sl],
                           impossible_date=_slice(bp.impossible_date, sl), out_of_range=_slice(bp.out_of_range, sl))
                out[i] = (p, bt[sl])  # the typed column's values (an array: the caller makes the table)
    return out  # type: ignore[return-value]


#: columns are laid end to end up to this many values (beyond, the fixed cost per column is
#: negligible and one long object array would only cost memory: batch validation)
BATCH_VALUES = 20_000


def batches(members: list[int], lengths: list[int], limit: int = BATCH_VALUES) -> list[list[int]]:
    """``members`` in order, cut into runs of at most ``limit`` values (a longer column alone)."""
    out: list[list[int]] = []
    run: list[int] = []
    total = 0
    for m, n in zip(members, lengths):
        if run and total + n > limit:
            out.append(run)
            run, total = [], 0
        run.append(m)
        total += n
    if run:
        out.append(run)
    return out


def _as_str(col: pd.Series) -> pd.Series:
    """``col.astype("str")`` (the column itself when it already is one)."""
    return col if col.dtype == _STR else col.astype("str")


_STR = pd.Series([], dtype="str").dtype


def typed_column(parsed: Parsed, field: Field, index: pd.Index) -> pd.Series:
    """The clean-table column (CONTRACTS.md dtypes); values that are not well-formed become missing."""
    ok = parsed.well_formed
    t = field.type
    if t == "integer":
        vals = np.where(ok, parsed.values, np.nan)
        out = pd.array(np.round(vals), dtype="Float64").astype("Int64") if len(vals) else pd.array([], dtype="Int64")
        return pd.Series(out, index=index, name=field.name)
    if t == "number":
        return pd.Series(pd.array(np.where(ok, parsed.values, np.nan), dtype="Float64"), index=index, name=field.name)
    if t == "date":
        vals = np.where(ok, parsed.values, np.datetime64("NaT", "ns"))
        return pd.Series(vals.astype("datetime64[ns]"), index=index, name=field.name)
    if t == "yesno":
        text = pd.Series(parsed.values, index=index)
        out = pd.Series(pd.NA, index=index, dtype="boolean", name=field.name)
        out[(text == "1").to_numpy() & ok] = True
        out[(text == "0").to_numpy() & ok] = False
        return out
    text = pd.Series(parsed.values, index=index, dtype="str", name=field.name)
    return text.where(ok)


def empty_clean_table(form: Form) -> pd.DataFrame:
    """A clean table with no rows and the right dtypes."""
    return pd.DataFrame({f.name: pd.Series([], dtype=CLEAN_DTYPES[f.type]) for f in form.fields})
