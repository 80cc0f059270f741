"""Checks of single fields, generated from the dictionary (one function per form, no field lists).

Per field: type (integer / number / ISO date, including impossible calendar dates), value set
(choice codes, yesno 1/0), hard range (error) and soft range (warning), pattern (ids; the
pseudonym pattern for ``patient_id``), required when shown, branching (``show_if``), ``allowed_by``
(e.g. a lab unit allowed for the test), identifiers in text; per form: unknown extra columns
(one warning per column) and missing columns (one error per column, not per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary, Form, parse_condition
from latc.validate._log import QueryLog
from latc.validate._privacy import identifier_kind
from latc.validate._schema import (CLEAN_DTYPES, DATE_MAX, DATE_MIN, FieldSpec, Parsed, _as_str, batches, form_specs,
                                   parse_columns, regex_mask)

ROW = "_row"
#: the longest cell a study record may hold: Excel's cell limit (docs/validation.md "Sizes")
MAX_CELL_CHARS = 32_767


@dataclass
class FormCheck:
    """What the field checks learnt about one form."""

    typed: pd.DataFrame                     # every dictionary field typed; bad values → missing
    parsed: dict[str, Parsed]
    missing_columns: list[str] = field(default_factory=list)
    #: positions rejected without a row query (a key column is missing): rule, message
    rejected_all: tuple[str, str] | None = None


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass
class Prepared:
    """A form's columns parsed and typed, and scanned for identifiers (:func:`prepare_forms`)."""

    cols: list[pd.Series]                       # the raw text of each field (form order)
    parsed_typed: list[tuple[Parsed, pd.Series]]
    #: free-text field number → (identifier kinds of a run of columns laid end to end, the
    #: column's start in it, where one was found in the column)
    hits: dict[int, tuple[pd.Series, int, np.ndarray]]
    pattern_ok: dict[int, np.ndarray]           # field number → where its pattern matches (text with a pattern)
    short_cells: bool                           # certainly no field's cell holds more than MAX_CELL_CHARS characters


def _work(form: Form, raw: pd.DataFrame, reported_missing: set[str]) -> tuple[list[str], pd.DataFrame]:
    missing = [f for f in form.field_names if f not in raw.columns or f in reported_missing]
    absent = [c for c in missing if c not in raw.columns]
    work = raw if not absent else raw.assign(**{c: pd.Series(pd.NA, index=raw.index, dtype="str") for c in absent})
    return missing, work


def prepare_forms(dictionary: Dictionary, raws: dict[str, pd.DataFrame],
                  reported_missing: dict[str, set[str]] | None = None) -> dict[str, Prepared]:
    """Parse, type and scan for identifiers the fields of every form with rows, all forms at once.

    :func:`parse_columns` and :func:`latc.validate._privacy.identifier_kind` work value by value,
    so running them once per type over the columns of every form laid end to end gives each
    column its own result, at a fixed cost per type instead of per column (one-patient validation).
    """
    reported_missing = reported_missing or {}
    cols: list[pd.Series] = []
    fields: list = []
    index: list[pd.Index] = []
    spans: dict[str, tuple[int, int]] = {}
    for name, raw in raws.items():
        if not len(raw):
            continue
        form = dictionary.forms[name]
        _, work = _work(form, raw, reported_missing.get(name, set()))
        start = len(cols)
        for f in form.fields:
            cols.append(_as_str(work[f.name]))
            fields.append(f)
            index.append(raw.index)
        spans[name] = (start, len(cols))
    parsed_typed = parse_columns(cols, fields, index)
    hits: dict[int, tuple[pd.Series, int, np.ndarray]] = {}
    free = [i for i, f in enumerate(fields) if f.type in ("text", "notes")]
    for run in batches(free, [len(cols[i]) for i in free]):
        kind = identifier_kind(_joined([cols[i] for i in run]))
        hit = kind.notna().to_numpy()
        at = 0
        for i in run:
            hits[i] = (kind, at, hit[at:at + len(cols[i])])
            at += len(cols[i])
    # patterns (one regular expression over every column that has it, e.g. the pseudonym pattern)
    pattern_ok: dict[int, np.ndarray] = {}
    by_pattern: dict[str, list[int]] = {}
    for i, f in enumerate(fields):
        if f.pattern and f.type in ("text", "notes"):
            by_pattern.setdefault(f.pattern, []).append(i)
    for pattern, members in by_pattern.items():
        for run in batches(members, [len(cols[i]) for i in members]):
            ok = regex_mask(_joined([cols[i] for i in run]), pattern, full=True)
            at = 0
            for i in run:
                pattern_ok[i] = ok[at:at + len(cols[i])]
                at += len(cols[i])
    out = {}
    for name, (a, b) in spans.items():
        n_cells = sum(len(c) for c in cols[a:b])
        short = n_cells <= _SHORT_SCAN_CELLS and not any(
            isinstance(v, str) and len(v) > MAX_CELL_CHARS for c in cols[a:b] for v in c.to_numpy(dtype=object))
        out[name] = Prepared(cols=cols[a:b], parsed_typed=parsed_typed[a:b],
                             hits={i - a: h for i, h in hits.items() if a <= i < b},
                             pattern_ok={i - a: m for i, m in pattern_ok.items() if a <= i < b}, short_cells=short)
    return out


def _joined(cols: list[pd.Series]) -> pd.Series:
    """Text columns laid end to end (one column: itself)."""
    if len(cols) == 1:
        return cols[0]
    return pd.Series(np.concatenate([c.to_numpy(dtype=object) for c in cols]), dtype="str")


def check_form(dictionary: Dictionary, form: Form, raw: pd.DataFrame, log: QueryLog,
               reported_missing: set[str] | None = None, reported_unknown: set[str] | None = None,
               prepared: Prepared | None = None) -> FormCheck:
    """Run every single-field check of ``form`` on its raw table (positions = 0..n-1).

    ``reported_missing``: columns the reader found missing (it adds them blank);
    ``reported_unknown``: extra columns the reader already reported (not reported twice);
    ``prepared``: the form's part of :func:`prepare_forms` (computed here when None).
    """
    reported_missing = reported_missing or set()
    reported_unknown = reported_unknown or set()
    name = form.name
    n = len(raw)
    specs = form_specs(dictionary, name)
    known = set(form.field_names) | {ROW}
    # parsing, typing, pattern and identifier scans are done per type / pattern over the columns
    # laid end to end (prepare_forms); the checks below run field by field in the dictionary's
    # order, as the queries are logged
    pre = (prepared or prepare_forms(dictionary, {name: raw}, {name: reported_missing})[name]) if n else None
    _check_cell_sizes(log, name, raw, known, pre)
    _check_unknown_columns(log, name, raw, known, reported_unknown)
    missing, work = _work(form, raw, reported_missing)
    rejected_all = _check_missing_columns(log, form, missing, n)
    if n == 0:
        # no rows: only the column-level queries above can arise. Skip the per-field parsing, a
        # fixed pandas cost per field that dominated one-patient validation (latc capture's save)
        return FormCheck(typed=_empty_typed(dictionary, form, raw.index),
                         parsed={}, missing_columns=missing, rejected_all=rejected_all)
    parsed: dict[str, Parsed] = {}
    typed: dict[str, pd.Series] = {}
    id_pattern = dictionary.patterns.get("patient_id_pattern")
    for k, spec in enumerate(specs):
        p, typed[spec.name] = pre.parsed_typed[k]
        parsed[spec.name] = p
        if spec.name not in missing:
            _check_values(log, name, spec, p, pre, k, n, id_pattern)
    _check_shown(log, form, specs, parsed, typed, missing, work)
    return FormCheck(typed=pd.DataFrame(typed, index=raw.index), parsed=parsed, missing_columns=missing,
                     rejected_all=rejected_all)


def _check_cell_sizes(log: QueryLog, name: str, raw: pd.DataFrame, known: set[str], pre: Prepared | None) -> None:
    """Cells too long to be data (a pasted document, a corrupt export): one error per cell longer
    than :data:`MAX_CELL_CHARS`, in any text column of the raw table."""
    n = len(raw)
    text_cols = [c for c in raw.columns if n and c != ROW and raw[c].dtype.kind not in "iufb"]  # (no rows, no cells)
    if pre is not None and pre.short_cells:  # the fields' cells were measured: none is too long
        text_cols = [c for c in text_cols if c not in known]
    if _all_short(raw, text_cols, n):
        text_cols = []  # no cell is longer than MAX_CELL_CHARS: the check below cannot fire
    for col in text_cols:
        length = raw[col].astype("str").str.len()
        long = (length > MAX_CELL_CHARS).fillna(False).to_numpy(dtype=bool)
        if long.any():
            pos = np.flatnonzero(long)
            log.add(name, pos, str(col), "cell_size", "error",
                    "holds " + length.iloc[pos].astype("int64").map("{:,}".format) + f" characters; a cell holds at most "
                    f"{MAX_CELL_CHARS:,} (the most a spreadsheet cell can hold) — the row is kept in quarantine",
                    raw[col].iloc[pos].str.slice(0, 40) + "…")


def _check_unknown_columns(log: QueryLog, name: str, raw: pd.DataFrame, known: set[str],
                           reported_unknown: set[str]) -> None:
    """One warning per column that is not a field of the form (unless the reader reported it)."""
    for col in raw.columns:
        if col not in known and col not in reported_unknown and col != "_extra_cells":
            log.add_form(name, str(col), "unknown_column", "warning",
                         "not a field of this form in the data dictionary; ignored (not in the clean table)")


def _check_missing_columns(log: QueryLog, form: Form, missing: list[str], n: int) -> tuple[str, str] | None:
    """One error per field missing from the source; returns the reason every row is rejected
    when a key column is missing (and the form has rows), else None."""
    rejected_all = None
    for col in missing:
        is_key = col in form.key
        log.add_form(form.name, col, "missing_column", "error",
                     "column missing from the source" + ("; it is part of the form's key, so every row is quarantined" if is_key
                                                          else "; its checks were skipped and the clean column is empty"))
        if is_key and n:
            rejected_all = ("missing_column", f"key column {col} missing from the source")
    return rejected_all


def _check_values(log: QueryLog, name: str, spec: FieldSpec, p: Parsed, pre: Prepared, k: int, n: int,
                  id_pattern: str | None) -> None:
    """The checks of one field's values, cell by cell: type or value set, hard and soft range,
    pattern, identifiers in text. ``k``: the field's number in the form (its place in ``pre``);
    ``n``: the form's number of rows."""
    f = spec.field
    col = pre.cols[k]
    _check_well_formed(log, name, spec, p, col)
    if f.type in ("integer", "number"):
        _check_ranges(log, name, spec, p, col)
    if f.pattern and f.type in ("text", "notes"):
        _check_pattern(log, name, spec, p, col, pre.pattern_ok[k], id_pattern)
    if f.type in ("text", "notes"):
        kinds, start, hit = pre.hits[k]
        if hit.any():
            kind = kinds.iloc[start:start + n]
            pos = np.flatnonzero(hit)
            log.add(name, pos, f.name, "identifier", "error",
                    "looks like a direct identifier (" + kind.iloc[pos].astype(str) + "); remove it from the source",
                    col.iloc[pos], show_value=False)


def _check_well_formed(log: QueryLog, name: str, spec: FieldSpec, p: Parsed, col: pd.Series) -> None:
    """Values entered but not of the field's type: not a code of the value set (choice, yesno),
    not a date (:func:`_check_dates`), not a number."""
    f = spec.field
    bad = p.present & ~p.well_formed
    if not bad.any():
        return
    pos = np.flatnonzero(bad)
    if f.type in ("choice", "yesno"):
        log.add(name, pos, f.name, "value_set", "error", f"is not a code of the value set (expected {spec.expected})", col.iloc[pos])
    elif f.type == "date":
        _check_dates(log, name, spec, p, col, pos)
    else:
        log.add(name, pos, f.name, "type", "error", f"is not {spec.expected}", col.iloc[pos])


def _check_dates(log: QueryLog, name: str, spec: FieldSpec, p: Parsed, col: pd.Series, pos: np.ndarray) -> None:
    """The badly formed dates at ``pos``: outside the dates a record may hold (``date_range``), or
    not a date (``type``: an impossible calendar date, an Excel serial number, other text)."""
    f = spec.field
    far = p.out_of_range[pos]
    serial = col.iloc[pos].str.fullmatch(r"\d{5}(\.\d+)?").fillna(False).to_numpy(dtype=bool)
    det = np.where(p.impossible_date[pos], "is not a calendar date (expected a date YYYY-MM-DD)",
                   np.where(serial, f"is not {spec.expected} — a plain number (an Excel date serial "
                            "in a cell not formatted as a date?); format the cell as a date or type the date",
                            f"is not {spec.expected}"))
    if (~far).any():
        log.add(name, pos[~far], f.name, "type", "error", det[~far], col.iloc[pos[~far]])
    if far.any():
        log.add(name, pos[far], f.name, "date_range", "error",
                f"is outside the dates a study record may hold ({DATE_MIN} to {DATE_MAX}); a placeholder "
                "such as 9999-12-31 or 0001-01-01 is not a date — leave the cell blank when unknown",
                col.iloc[pos[far]])


def _check_ranges(log: QueryLog, name: str, spec: FieldSpec, p: Parsed, col: pd.Series) -> None:
    """A number's hard range (error) and, for the values inside it, its soft range (warning)."""
    f = spec.field
    v = p.values
    _range(log, name, f.name, v, col, f.min, f.max, "range", "error", "allowed range")
    hard_ok = np.isfinite(v)
    if f.min is not None:
        hard_ok &= v >= f.min
    if f.max is not None:
        hard_ok &= v <= f.max
    _range(log, name, f.name, np.where(hard_ok, v, np.nan), col, f.soft_min, f.soft_max,
           "soft_range", "warning", "plausible range")


def _check_pattern(log: QueryLog, name: str, spec: FieldSpec, p: Parsed, col: pd.Series, ok: np.ndarray,
                   id_pattern: str | None) -> None:
    """Text that does not match the field's pattern (``ok``: where it matches); against the
    patient id pattern, a ``pseudonym`` error."""
    f = spec.field
    badp = p.present & ~ok
    if not badp.any():
        return
    pos = np.flatnonzero(badp)
    if f.pattern == id_pattern:
        log.add(name, pos, f.name, "pseudonym", "error",
                f"is not a pseudonymous patient id (pattern {f.pattern}, e.g. C01-0042)", col.iloc[pos])
    else:
        log.add(name, pos, f.name, "pattern", "error", f"does not match the pattern {f.pattern}", col.iloc[pos])


def _check_shown(log: QueryLog, form: Form, specs: list[FieldSpec], parsed: dict[str, Parsed],
                 typed: dict[str, pd.Series], missing: list[str], work: pd.DataFrame) -> None:
    """Required and branching, field by field (``show_if`` is evaluated on the raw codes), and
    ``allowed_by``. A value filled in a hidden field is queried and removed from ``typed``."""
    n = len(work)
    shown_by: dict[str, np.ndarray] = {}  # one evaluation per condition (several fields share one)
    for spec in specs:
        f = spec.field
        if f.name in missing:
            continue
        p = parsed[f.name]
        if f.show_if is not None:
            if set(f.show_if.fields) & set(missing):
                continue
            shown = _check_branching(log, form, f, p, typed, work, shown_by)
        else:
            shown = np.ones(n, dtype=bool)
        if f.required:
            gap = shown & ~p.present
            if gap.any():
                when = f" when {f.show_if.describe(form)}" if f.show_if is not None else ""
                log.add(form.name, np.flatnonzero(gap), f.name, "required", "error", f"is missing (required{when})")
        if f.allowed_by:
            _allowed_by(log, form, f.name, f.allowed_by, work, p)


def _check_branching(log: QueryLog, form: Form, f, p: Parsed, typed: dict[str, pd.Series], work: pd.DataFrame,
                     shown_by: dict[str, np.ndarray]) -> np.ndarray:
    """Where field ``f`` (with a ``show_if``) is shown; a value filled where it is hidden is a
    ``branching`` error and is masked in ``typed``. ``shown_by`` caches each condition's result."""
    shown = shown_by.get(f.show_if.source)
    if shown is None:
        shown = shown_by[f.show_if.source] = f.show_if.evaluate(work).to_numpy(dtype=bool, copy=True)
    hidden_filled = ~shown & p.present
    if hidden_filled.any():
        pos = np.flatnonzero(hidden_filled)
        # a value that should not be there must not feed cross-form rules (e.g. a death
        # date on an 'alive' visit would make every later row look after death)
        typed[f.name] = pd.Series(typed[f.name], index=work.index, name=f.name).mask(pd.Series(hidden_filled, index=work.index))
        log.add(form.name, pos, f.name, "branching", "error",
                f"is filled although the field is hidden (it is asked only when {f.show_if.describe(form)})", work[f.name].iloc[pos])
    return shown


_EMPTY_TYPED: dict[tuple[int, str], tuple[Dictionary, pd.DataFrame]] = {}


def _empty_typed(dictionary: Dictionary, form: Form, index: pd.Index) -> pd.DataFrame:
    """The typed table of a form without rows (built once per dictionary and form; a shallow copy
    each time, which copy-on-write keeps apart from the cached one)."""
    def build() -> pd.DataFrame:
        return pd.DataFrame({f.name: pd.Series([], dtype=CLEAN_DTYPES[f.type], index=index) for f in form.fields}, index=index)

    if not (isinstance(index, pd.RangeIndex) and (index.start, index.stop, index.step) == (0, 0, 1) and index.name is None):
        return build()
    key = (id(dictionary), form.name)
    hit = _EMPTY_TYPED.get(key)
    if hit is None or hit[0] is not dictionary:
        if len(_EMPTY_TYPED) > 256:
            _EMPTY_TYPED.clear()
        hit = _EMPTY_TYPED[key] = (dictionary, build())
    return hit[1].copy(deep=False)


#: up to this many cells a form's text cells are measured in Python before the vectorised check
_SHORT_SCAN_CELLS = 20_000


def _all_short(raw: pd.DataFrame, cols: list, n: int) -> bool:
    """True when it is certain that no cell of ``cols`` is longer than :data:`MAX_CELL_CHARS`
    (string columns of a small table, measured value by value); False when unsure."""
    if not cols or n * len(cols) > _SHORT_SCAN_CELLS:
        return not cols
    if not all(isinstance(raw[c].dtype, pd.StringDtype) for c in cols):
        return False
    return not any(isinstance(v, str) and len(v) > MAX_CELL_CHARS for c in cols for v in raw[c].array)


def _range(log: QueryLog, form: str, field: str, v: np.ndarray, col: pd.Series, lo: float | None,
           hi: float | None, rule: str, severity: str, what: str) -> None:
    if lo is None and hi is None:
        return
    with np.errstate(invalid="ignore"):
        low = (v < lo) if lo is not None else np.zeros(len(v), bool)
        high = (v > hi) if hi is not None else np.zeros(len(v), bool)
    bad = low | high
    if not bad.any():
        return
    pos = np.flatnonzero(bad)
    if lo is not None and hi is not None:
        below, above = f"is below the {what} {_fmt(lo)}–{_fmt(hi)}", f"is above the {what} {_fmt(lo)}–{_fmt(hi)}"
    else:  # one bound: name it ("the plausible maximum 150"), not a range to infinity
        kind = what.removesuffix(" range")
        below, above = f"is below the {kind} minimum {_fmt(lo)}", f"is above the {kind} maximum {_fmt(hi)}"
    det = np.where(low[pos], below, above)
    log.add(form, pos, field, rule, severity, det, col.iloc[pos])


def _allowed_by(log: QueryLog, form: Form, field: str, rule: dict, work: pd.DataFrame, p: Parsed) -> None:
    """``allowed_by: {field: test, values: {tg: [ng_ml, ug_l], ...}}`` — the code must be allowed
    for the controlling field's value (only checked when both are valid codes)."""
    ctrl = rule["field"]
    if ctrl not in work.columns:
        return
    c = work[ctrl].astype("str")
    v = work[field].astype("str")
    for code, allowed in rule.get("values", {}).items():
        sel = (c == str(code)).fillna(False).to_numpy(dtype=bool, copy=True) & p.well_formed
        bad = sel & ~v.isin([str(a) for a in allowed]).to_numpy()
        if bad.any():
            pos = np.flatnonzero(bad)
            log.add(form.name, pos, field, "allowed_by", "error",
                    f"is not allowed when {parse_condition(f'{ctrl} == {str(code)!r}').describe(form)} (allowed: "
                    f"{', '.join(_label(form, field, a) for a in allowed)})", v.iloc[pos])


def _label(form: Form, field: str, code) -> str:
    """A code as the clinic reads it: ``ng_ml`` → ``ng/mL (ng_ml)`` (the code kept: it is what a
    spreadsheet or import file holds)."""
    try:
        label = form[field].choices.get(str(code))
    except KeyError:
        label = None
    return f"{label} ({code})" if label and label != str(code) else str(code)

