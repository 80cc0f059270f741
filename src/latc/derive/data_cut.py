"""The study as it was known at the data cut: records dated after it left out, ongoing events open.

An analysis at an earlier data cut (an interim analysis, a data cut set by the SAP) must see the
data a statistician would have had on that day — not the records entered since, which are not
errors (validation queries only dates after the day it runs). Applied to the clean tables before
every derivation (:func:`latc.derive.datasets.derive_datasets`):

* a patient enrolled after the cut is not in the study yet: all of the patient's rows leave;
* a row whose record date (the dictionary's ``record_date`` of the form: the visit, sample,
  operation, onset, start …) is after the cut leaves; a pathology report leaves with its operation;
* an event that began before the cut and ended after it is *ongoing at the cut*: a drug course's
  stop date becomes the cut and its reason for stopping unknown (a progression that ended the
  course after the cut is not known at the cut); an adverse event's resolution date is removed; a
  complication resolved after the cut is unresolved, last assessed at the cut.

Survival follow-up needs nothing more: with the later visits gone, :func:`latc.derive.tte.derive_tte`
censors at the last contact on or before the cut (and at the cut itself at most).

:func:`apply_data_cut` returns the tables and a summary (form, rows, action) that
``latc derive`` prints and writes to ``parameters.json`` (``rows_after_data_cut``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from latc.dictionary import Dictionary

def record_dates(dictionary: Dictionary | None = None) -> dict[str, str]:
    """Form → the date that places its rows in time (the dictionary's ``record_date``)."""
    from latc.dictionary import load_dictionary

    d = dictionary or load_dictionary()
    return {name: f.record_date for name, f in d.forms.items() if f.record_date}


SUMMARY_COLUMNS = ["form", "rows", "action"]


def _after(t: pd.DataFrame, field: str, cut: pd.Timestamp) -> np.ndarray:
    if field not in t.columns or not len(t):
        return np.zeros(len(t), dtype=bool)
    return (pd.to_datetime(t[field]) > cut).fillna(False).to_numpy(dtype=bool)


def apply_data_cut(clean: Mapping[str, pd.DataFrame], data_cut: date | str) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The clean tables as known at ``data_cut``, and what was changed (module docstring).

    Inputs are not modified. The summary has one row per form and action with the number of rows.
    """
    cut = pd.Timestamp(data_cut)
    dates = record_dates()
    out = {k: v for k, v in clean.items()}
    summary: list[dict] = []

    def note(form: str, n: int, action: str) -> None:
        if n:
            summary.append({"form": form, "rows": int(n), "action": action})

    pts = out.get("patients")
    late: set = set()
    if pts is not None and len(pts):
        hit = _after(pts, dates.get("patients", "enrollment_date"), cut)
        late = set(pts.loc[hit, "patient_id"].dropna())
    if late:
        for form, t in list(out.items()):
            if t is None or "patient_id" not in t.columns:
                continue
            drop = t["patient_id"].isin(late).to_numpy()
            if drop.any():
                out[form] = t[~drop].reset_index(drop=True)
                note(form, drop.sum(), "left out: patient enrolled after the data cut")
    for form, field in dates.items():
        t = out.get(form)
        if t is None or form == "patients":
            continue
        drop = _after(t, field, cut)
        if drop.any():
            out[form] = t[~drop].reset_index(drop=True)
            note(form, drop.sum(), f"left out: {field} after the data cut")
    # a pathology report belongs to its operation
    path, surg = out.get("pathology"), out.get("surgery")
    if path is not None and surg is not None and len(path) and {"patient_id", "surgery_id"} <= set(path.columns):
        known = pd.MultiIndex.from_frame(surg[["patient_id", "surgery_id"]].astype("str"))
        mine = pd.MultiIndex.from_frame(path[["patient_id", "surgery_id"]].astype("str"))
        drop = ~mine.isin(known)
        before = clean.get("surgery")
        if before is not None:  # only reports whose operation was left out here (orphans are validation's)
            was = pd.MultiIndex.from_frame(before[["patient_id", "surgery_id"]].astype("str"))
            drop &= mine.isin(was)
        if drop.any():
            out["pathology"] = path[~drop].reset_index(drop=True)
            note("pathology", drop.sum(), "left out: its operation is after the data cut")
    # events ongoing at the cut
    tx = out.get("treatments")
    if tx is not None and len(tx):
        hit = _after(tx, "stop_date", cut)
        if hit.any():
            tx = tx.copy()
            tx.loc[hit, "stop_date"] = cut
            if "reason_stopped" in tx.columns:
                tx.loc[hit, "reason_stopped"] = pd.NA
            out["treatments"] = tx
            note("treatments", hit.sum(), "ongoing at the data cut: stop date set to the cut, reason stopped unknown")
    ae = out.get("adverse_events")
    if ae is not None and len(ae):
        hit = _after(ae, "stop_date", cut)
        if hit.any():
            ae = ae.copy()
            ae.loc[hit, "stop_date"] = pd.NaT
            out["adverse_events"] = ae
            note("adverse_events", hit.sum(), "ongoing at the data cut: resolution date removed")
    cx = out.get("complications")
    if cx is not None and len(cx):
        hit = _after(cx, "resolution_date", cut)
        if hit.any():
            cx = cx.copy()
            cx.loc[hit, "resolution_date"] = pd.NaT
            if "resolved" in cx.columns:
                cx.loc[hit, "resolved"] = False
            if "last_assessed_date" in cx.columns:
                cx.loc[hit, "last_assessed_date"] = cut
            out["complications"] = cx
            note("complications", hit.sum(), "unresolved at the data cut: last assessed at the cut")
        later = _after(out["complications"], "last_assessed_date", cut)
        if later.any():
            cx = out["complications"].copy()
            cx.loc[later, "last_assessed_date"] = cut
            out["complications"] = cx
            note("complications", later.sum(), "last assessed at the data cut")
    frame = pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
    return out, frame
