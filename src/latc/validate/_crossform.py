"""Rules that span rows or forms, implemented generically from the dictionary's ``rules:`` section.

* ``references``: the listed fields of a row must exist in the referred form (``unless`` a
  condition holds, e.g. a new lesion); ``[patient_id, center_id]`` → the row's center matches its
  patient's center (rule ``center_match``).
* ``date_order``: ``earlier <= later``, within a row or from the earlier form to the later form
  joined ``by`` (default ``patient_id``; several earlier rows → their earliest date).  The query
  goes on the later form's row.
* ``no_future_dates``: no date after the data-cut date.
* ``after_death``: nothing dated after the patient's death (earliest ``follow_up.death_date``).
* ``duplicates``: a form's key is unique; the second and later occurrences are errors.

Everything is vectorised (joins through canonical string keys, group minima); no per-row Python.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary, parse_condition
from latc.validate._log import QueryLog
from latc.validate._schema import isin

_SEP = "\x1f"


def canonical_key(typed: pd.DataFrame, fields: list[str]) -> pd.Series:
    """One string per row joining the typed values of ``fields`` (missing when any is missing).

    Typed values make ``"01"`` and ``"1"`` the same integer id.
    """
    out: pd.Series | None = None
    for f in fields:
        col = typed[f]
        if pd.api.types.is_datetime64_any_dtype(col):
            s = col.dt.strftime("%Y-%m-%d").astype("str")
        else:
            s = col.astype("str")
        out = s if out is None else out + _SEP + s
    assert out is not None
    return out


def _show_key(key: pd.Series) -> pd.Series:
    return key.str.replace(_SEP, ", ", regex=False)


def _date_str(values: pd.Series) -> pd.Series:
    return pd.Series(pd.to_datetime(values).dt.strftime("%Y-%m-%d"), index=values.index).astype("str")


@lru_cache(maxsize=64)
def _condition(source: str):
    """A parsed ``unless`` condition (parsing checks the grammar on a table: once per text)."""
    return parse_condition(source)


def check_references(dictionary: Dictionary, typed: dict[str, pd.DataFrame], raw: dict[str, pd.DataFrame],
                     log: QueryLog) -> None:
    """Referential integrity and center match (``rules.references``)."""
    for ref in dictionary.rules.get("references", []):
        target = ref["refers_to"]
        fields = list(ref["fields"])
        forms = [f for f in dictionary.forms if f != target] if ref.get("form") == "*" else [ref["form"]]
        tgt = typed[target]
        if not set(fields) <= set(tgt.columns):
            continue
        tkeys = pd.Index(canonical_key(tgt, fields).dropna().unique())
        is_center = "center_id" in fields and len(fields) > 1
        unless = _condition(ref["unless"]) if ref.get("unless") else None
        for form in forms:
            t = typed[form]
            if not set(fields) <= set(t.columns) or not len(t):
                continue
            key = canonical_key(t, fields)
            bad = key.notna().to_numpy() & ~isin(key, tkeys)
            if unless is not None:
                bad &= ~unless.evaluate(raw[form]).to_numpy(dtype=bool, copy=True)
            if is_center:
                others = [f for f in fields if f != "center_id"]
                okey = canonical_key(t, others)
                bad &= isin(okey, pd.Index(canonical_key(tgt, others).dropna().unique()))
                if not bad.any():
                    continue
                pos = np.flatnonzero(bad)
                owner = (pd.DataFrame({"k": canonical_key(tgt, others), "c": tgt["center_id"]}).dropna()
                         .drop_duplicates("k").set_index("k")["c"])
                theirs = okey.iloc[pos].map(owner).astype("str")
                log.add(form, pos, "center_id", "center_match", "error",
                        "differs from the patient's center " + theirs.fillna("?") + f" in {target}",
                        t["center_id"].iloc[pos])
            elif bad.any():
                pos = np.flatnonzero(bad)
                what = fields[0] if len(fields) == 1 else "(" + ", ".join(fields) + ")"
                shown = _show_key(key.iloc[pos])
                shown = shown if len(fields) == 1 else "(" + shown + ")"
                extra = f" (allowed only when {unless.describe(dictionary.forms[form])})" if unless is not None else ""
                log.add(form, pos, fields[-1], "reference", "error",
                        f"has no matching row in {target}: {what} = " + shown + extra, t[fields[-1]].astype("str").iloc[pos],
                        show_value=False)


def check_date_order(dictionary: Dictionary, typed: dict[str, pd.DataFrame], log: QueryLog) -> None:
    """``earlier <= later`` pairs (``rules.date_order``); the query goes on the later row."""
    for pair in dictionary.rules.get("date_order", []):
        ef, efield = pair["earlier"].split(".")
        lf, lfield = pair["later"].split(".")
        e, later = typed[ef], typed[lf]
        if not len(later) or efield not in e.columns or lfield not in later.columns:
            continue
        lv = later[lfield]
        if ef == lf:
            ev = e[efield]
            label = efield
        else:
            by = list(pair.get("by", ["patient_id"]))
            ek = canonical_key(e, by)
            frame = pd.DataFrame({"k": ek.to_numpy(), "d": e[efield].to_numpy(), "p": np.arange(len(e))}).dropna(subset=["k", "d"])
            if not len(frame):
                continue
            first = frame.loc[frame.groupby("k", sort=False)["d"].idxmin()].set_index("k")
            earliest, earliest_at = first["d"], first["p"]  # the earliest date and the row holding it
            lk = canonical_key(later, by)
            ev = lk.map(earliest)
            ev = pd.Series(pd.to_datetime(ev), index=later.index)
            repeating = dictionary.forms[ef].repeating
            label = f"{ef}.{efield}" + (" (earliest of the " + ("patient" if by == ["patient_id"] else "matching")
                                        + " rows)" if repeating else "")
        bad = (lv < ev).fillna(False).to_numpy(dtype=bool, copy=True)
        if bad.any():
            pos = np.flatnonzero(bad)
            # the cause, so that one wrong date's consequences can be grouped (add_cascade_roots):
            # "form.field", and for another form "@<row position>" of the row whose date was compared
            # (the earliest matching row of a repeating form)
            if ef == lf:
                cause = f"{ef}.{efield}" if not dictionary.forms[ef].repeating else None
            else:
                at = lk.iloc[pos].map(earliest_at)
                cause = (f"{ef}.{efield}@" + at.astype("Int64").astype("str")).to_numpy(dtype=object)
            log.add(lf, pos, lfield, "date_order", "error",
                    f"is before {label} " + _date_str(ev.iloc[pos]), _date_str(lv.iloc[pos]), cause=cause)


def date_fields(dictionary: Dictionary) -> list[tuple[str, str]]:
    return [(f.form, f.name) for f in dictionary.fields() if f.type == "date"]


def check_future_dates(dictionary: Dictionary, typed: dict[str, pd.DataFrame], today: date, log: QueryLog) -> None:
    """No date after the day of validation (``rules.no_future_dates``): such a date cannot be true.

    A date after an earlier *data cut* is no error — the record was entered after the cut; the
    analysis leaves it out (:func:`latc.derive.data_cut.apply_data_cut`, counted by
    :func:`rows_after_cut`)."""
    if not dictionary.rules.get("no_future_dates", False):
        return
    limit = pd.Timestamp(today)
    for form, fld in date_fields(dictionary):
        v = typed[form][fld]
        bad = (v > limit).fillna(False).to_numpy(dtype=bool, copy=True)
        if bad.any():
            pos = np.flatnonzero(bad)
            log.add(form, pos, fld, "future_date", "error", f"is in the future (after {limit:%Y-%m-%d}, the day of validation)",
                    _date_str(v.iloc[pos]))


def rows_after_cut(dictionary: Dictionary, typed: dict[str, pd.DataFrame], data_cut: date,
                   today: date | None = None) -> dict[str, int]:
    """Rows per form whose record date (the dictionary's ``record_date``) is after the data cut and
    not after ``today`` — a date in the future is an error (``future_date``), not a valid record
    entered after the cut."""
    cut = pd.Timestamp(data_cut)
    limit = pd.Timestamp(today or date.today())
    out = {}
    for name, form in dictionary.forms.items():
        t = typed.get(name)
        if form.record_date and t is not None and form.record_date in t.columns:
            v = t[form.record_date]
            n = int(((v > cut) & (v <= limit)).fillna(False).sum())
            if n:
                out[name] = n
    return out


#: the follow-up fields that record the death itself (death_date; the visit that reports it)
_DEATH_FORM, _DEATH_FIELD, _VISIT_FIELD, _STATUS_FIELD = "follow_up", "death_date", "visit_date", "vital_status"


def check_after_death(dictionary: Dictionary, typed: dict[str, pd.DataFrame], log: QueryLog) -> None:
    """Nothing dated after the patient's death (``rules.after_death``).

    The death date is the earliest ``follow_up.death_date`` of the patient.  Every date field of
    every form is checked, except the follow-up row's own death date and the date of a contact
    that reports the death (``vital_status == 'dead'``); a visit recording the patient alive after
    the death date is an error.
    """
    if "after_death" not in dictionary.rules or _DEATH_FORM not in typed:
        return
    fu = typed[_DEATH_FORM]
    if _DEATH_FIELD not in fu.columns or not len(fu):
        return
    death = pd.DataFrame({"k": fu["patient_id"], "d": fu[_DEATH_FIELD]}).dropna().groupby("k", sort=False)["d"].min()
    if not len(death):
        return
    for form, fld in date_fields(dictionary):
        if form == _DEATH_FORM and fld == _DEATH_FIELD:
            continue
        t = typed[form]
        if "patient_id" not in t.columns or not len(t):
            continue
        dd = pd.Series(pd.to_datetime(t["patient_id"].map(death)), index=t.index)
        bad = (t[fld] > dd).fillna(False).to_numpy(dtype=bool, copy=True)
        if form == _DEATH_FORM and fld == _VISIT_FIELD:
            bad &= (t[_STATUS_FIELD] != "dead").fillna(True).to_numpy(dtype=bool, copy=True)
        if bad.any():
            pos = np.flatnonzero(bad)
            log.add(form, pos, fld, "after_death", "error",
                    "is after the patient's death on " + _date_str(dd.iloc[pos]) + f" ({_DEATH_FORM}.{_DEATH_FIELD})",
                    _date_str(t[fld].iloc[pos]))


def check_duplicates(dictionary: Dictionary, typed: dict[str, pd.DataFrame], raw: dict[str, pd.DataFrame],
                     log: QueryLog, row_col: str = "_row") -> None:
    """A form's key must be unique: second and later occurrences are errors (``rules.duplicates``)."""
    if "duplicates" not in dictionary.rules:
        return
    for name, form in dictionary.forms.items():
        t = typed[name]
        if not len(t) or not set(form.key) <= set(t.columns):
            continue
        key = canonical_key(t, form.key)
        dup = (key.duplicated(keep="first") & key.notna()).to_numpy()
        if not dup.any():
            continue
        in_group = (key.duplicated(keep=False) & key.notna()).to_numpy()
        sub = raw[name].iloc[np.flatnonzero(in_group)]
        rows = sub[row_col] if row_col in sub.columns else pd.Series(np.flatnonzero(in_group) + 2, index=sub.index)
        first_row = rows.groupby(key.iloc[np.flatnonzero(in_group)].to_numpy(), sort=False).transform("first")
        cols = [c for c in form.field_names if c in sub.columns]
        exact = sub[cols].astype("str").fillna("\x00").duplicated(keep="first").to_numpy()
        sel = dup[in_group]
        pos = np.flatnonzero(in_group)[sel]
        first = first_row.to_numpy()[sel].astype(np.int64).astype(str)
        keytxt = ", ".join(form.key)
        shown = _show_key(key.iloc[pos]).to_numpy(dtype=object)
        det = np.where(exact[sel], "exact duplicate of row " + first.astype(object),
                       f"duplicate key ({keytxt}) = (" + shown + "); first at row " + first.astype(object))
        log.add(name, pos, ";".join(form.key), "duplicate", "error", pd.Series(det, dtype="str"), show_value=False)
