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

from latc.dictionary import Dictionary, Form
from latc.validate._log import QueryLog
from latc.validate._privacy import identifier_kind
from latc.validate._schema import CLEAN_DTYPES, DATE_MAX, DATE_MIN, Parsed, form_specs, parse_column, regex_mask, typed_column

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


def check_form(dictionary: Dictionary, form: Form, raw: pd.DataFrame, log: QueryLog,
               reported_missing: set[str] | None = None, reported_unknown: set[str] | None = None) -> FormCheck:
    """Run every single-field check of ``form`` on its raw table (positions = 0..n-1).

    ``reported_missing``: columns the reader found missing (it adds them blank);
    ``reported_unknown``: extra columns the reader already reported (not reported twice).
    """
    reported_missing = reported_missing or set()
    reported_unknown = reported_unknown or set()
    name = form.name
    n = len(raw)
    specs = form_specs(dictionary, name)
    known = set(form.field_names) | {ROW}
    # -- cells too long to be data (a pasted document, a corrupt export) ----------------------
    for col in raw.columns if n else ():  # (no rows, no cells)
        if col == ROW or raw[col].dtype.kind in "iufb":
            continue
        length = raw[col].astype("str").str.len()
        long = (length > MAX_CELL_CHARS).fillna(False).to_numpy(dtype=bool)
        if long.any():
            pos = np.flatnonzero(long)
            log.add(name, pos, str(col), "cell_size", "error",
                    "holds " + length.iloc[pos].astype("int64").map("{:,}".format) + f" characters; a cell holds at most "
                    f"{MAX_CELL_CHARS:,} (the most a spreadsheet cell can hold) — the row is kept in quarantine",
                    raw[col].iloc[pos].str.slice(0, 40) + "…")
    # -- columns ------------------------------------------------------------------------------
    for col in raw.columns:
        if col not in known and col not in reported_unknown and col != "_extra_cells":
            log.add_form(name, str(col), "unknown_column", "warning",
                         "not a field of this form in the data dictionary; ignored (not in the clean table)")
    missing = [f for f in form.field_names if f not in raw.columns or f in reported_missing]
    rejected_all = None
    for col in missing:
        is_key = col in form.key
        log.add_form(name, col, "missing_column", "error",
                     "column missing from the source" + ("; it is part of the form's key, so every row is quarantined" if is_key
                                                          else "; its checks were skipped and the clean column is empty"))
        if is_key and n:
            rejected_all = ("missing_column", f"key column {col} missing from the source")
    absent = [c for c in missing if c not in raw.columns]
    if n == 0:
        # no rows: only the column-level queries above can arise. Skip the per-field parsing, a
        # fixed pandas cost per field that dominated one-patient validation (latc capture's save)
        return FormCheck(typed=pd.DataFrame({f.name: pd.Series([], dtype=CLEAN_DTYPES[f.type], index=raw.index)
                                             for f in form.fields}, index=raw.index),
                         parsed={}, missing_columns=missing, rejected_all=rejected_all)
    work = raw if not absent else raw.assign(**{c: pd.Series(pd.NA, index=raw.index, dtype="str") for c in absent})
    parsed: dict[str, Parsed] = {}
    typed: dict[str, pd.Series] = {}
    id_pattern = dictionary.patterns.get("patient_id_pattern")
    for spec in specs:
        f = spec.field
        col = work[f.name].astype("str")
        p = parse_column(col, f)
        parsed[f.name] = p
        typed[f.name] = typed_column(p, f, raw.index)
        if f.name in missing:
            continue
        bad = p.present & ~p.well_formed
        if bad.any():
            pos = np.flatnonzero(bad)
            if f.type in ("choice", "yesno"):
                log.add(name, pos, f.name, "value_set", "error", f"is not a code of the value set (expected {spec.expected})", col.iloc[pos])
            else:
                if f.type == "date":
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
                else:
                    log.add(name, pos, f.name, "type", "error", f"is not {spec.expected}", col.iloc[pos])
        if f.type in ("integer", "number"):
            v = p.values
            _range(log, name, f.name, v, col, f.min, f.max, "range", "error", "allowed range")
            hard_ok = np.isfinite(v)
            if f.min is not None:
                hard_ok &= v >= f.min
            if f.max is not None:
                hard_ok &= v <= f.max
            _range(log, name, f.name, np.where(hard_ok, v, np.nan), col, f.soft_min, f.soft_max,
                   "soft_range", "warning", "plausible range")
        if f.pattern and f.type in ("text", "notes"):
            ok = regex_mask(col, f.pattern, full=True)
            badp = p.present & ~ok
            if badp.any():
                pos = np.flatnonzero(badp)
                if f.pattern == id_pattern:
                    log.add(name, pos, f.name, "pseudonym", "error",
                            f"is not a pseudonymous patient id (pattern {f.pattern}, e.g. C01-0042)", col.iloc[pos])
                else:
                    log.add(name, pos, f.name, "pattern", "error", f"does not match the pattern {f.pattern}", col.iloc[pos])
        if f.type in ("text", "notes"):
            kind = identifier_kind(col)
            hit = kind.notna().to_numpy()
            if hit.any():
                pos = np.flatnonzero(hit)
                log.add(name, pos, f.name, "identifier", "error",
                        "looks like a direct identifier (" + kind.iloc[pos].astype(str) + "); remove it from the source",
                        col.iloc[pos], show_value=False)
    # -- required and branching (show_if is evaluated on the raw codes) -----------------------
    for spec in specs:
        f = spec.field
        if f.name in missing:
            continue
        p = parsed[f.name]
        if f.show_if is not None:
            if set(f.show_if.fields) & set(missing):
                continue
            shown = f.show_if.evaluate(work).to_numpy(dtype=bool, copy=True)
            hidden_filled = ~shown & p.present
            if hidden_filled.any():
                pos = np.flatnonzero(hidden_filled)
                # a value that should not be there must not feed cross-form rules (e.g. a death
                # date on an 'alive' visit would make every later row look after death)
                typed[f.name] = typed[f.name].mask(pd.Series(hidden_filled, index=raw.index))
                log.add(name, pos, f.name, "branching", "error",
                        f"is filled although the field is hidden (it is asked only when {f.show_if.describe(form)})", work[f.name].iloc[pos])
        else:
            shown = np.ones(n, dtype=bool)
        if f.required:
            gap = shown & ~p.present
            if gap.any():
                when = f" when {f.show_if.describe(form)}" if f.show_if is not None else ""
                log.add(name, np.flatnonzero(gap), f.name, "required", "error", f"is missing (required{when})")
        if f.allowed_by:
            _allowed_by(log, form, f.name, f.allowed_by, work, p)
    return FormCheck(typed=pd.DataFrame(typed, index=raw.index), parsed=parsed, missing_columns=missing,
                     rejected_all=rejected_all)


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
    bounds = f"{what} {_fmt(lo) if lo is not None else '−∞'}–{_fmt(hi) if hi is not None else '∞'}"
    det = np.where(low[pos], f"is below the {bounds}", f"is above the {bounds}")
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
                    f"is not allowed when {ctrl} is {code} (allowed: {', '.join(map(str, allowed))})", v.iloc[pos])
