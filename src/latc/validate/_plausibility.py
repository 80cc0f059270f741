"""Plausibility rules (dictionary ``rules.plausibility``), vectorised over sorted tables.

* lesion_assessments.diameter_mm: more than 5 × the lesion's previous measurement (the baseline
  diameter in ``lesions`` counts as the first), both > 5 mm → warning.  A rise that large between
  two scans is implausible (usually a cm/mm slip or a lesion-label mix-up).  The dictionary also
  names the fall below 1/5; it is *not* queried: under effective neoadjuvant therapy a target
  lesion can shrink by more than 80 % between consecutive scans (RECIST 1.1 partial/complete
  response), and the synthetic cohort's responders do (docs/validation.md).
* labs.value: more than 10 × the patient's previous value of the same test within 14 days → warning.
* pathology: nodes_positive <= nodes_examined → error.
* lesions: the baseline choice of target lesions against RECIST 1.1 (Eisenhauer et al. 2009) —
  a target must be measurable (§3.1.1: longest diameter ≥ 10 mm; a lymph node's short axis
  ≥ 15 mm), at most 5 targets per patient and 2 per organ (§4.2) → warning ``recist_target`` on the
  lesion's row, checked by the same function the derivation uses
  (:func:`latc.derive.recist.check_target_lesions`), so that a site entering a 7 mm target hears of
  it when it saves, not when the statistician derives the response.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary
from latc.validate._crossform import _SEP, canonical_key
from latc.validate._log import QueryLog

LESION_RATIO = 5.0
LESION_MIN_MM = 5.0
LAB_RATIO = 10.0
LAB_WINDOW_DAYS = 14


def _fmt(v: np.ndarray) -> np.ndarray:
    return np.char.mod("%g", v.astype(float)).astype(object)


def _previous(key: pd.Series, when: pd.Series, value: pd.Series, pos: np.ndarray) -> pd.DataFrame:
    """Rows sorted by key and date with the previous row's value/date of the same key."""
    df = pd.DataFrame({"k": key.to_numpy(), "d": when.to_numpy(), "v": value.to_numpy(dtype="float64", na_value=np.nan),
                       "pos": pos}).dropna(subset=["k", "d", "v"])
    df = df.sort_values(["k", "d", "pos"], kind="stable")
    same = df["k"].to_numpy()[1:] == df["k"].to_numpy()[:-1]
    prev_v = np.r_[np.nan, np.where(same, df["v"].to_numpy()[:-1], np.nan)]
    prev_d = np.r_[np.datetime64("NaT", "ns"), np.where(same, df["d"].to_numpy()[:-1], np.datetime64("NaT", "ns"))]
    df["prev_v"] = prev_v
    df["prev_d"] = prev_d.astype("datetime64[ns]")
    return df


def check_plausibility(dictionary: Dictionary, typed: dict[str, pd.DataFrame], log: QueryLog) -> None:
    forms = {r.get("form") for r in dictionary.rules.get("plausibility", [])}
    if "lesion_assessments" in forms and "lesions" in typed:
        _lesion_jumps(typed["lesions"], typed["lesion_assessments"], log)
    if "labs" in forms:
        _lab_jumps(typed["labs"], log)
    if "lesions" in forms and "lesions" in typed:
        _target_lesions(typed["lesions"], log)
    if "pathology" in forms:
        p = typed["pathology"]
        bad = (p["nodes_positive"] > p["nodes_examined"]).fillna(False).to_numpy(dtype=bool, copy=True)
        if bad.any():
            pos = np.flatnonzero(bad)
            log.add("pathology", pos, "nodes_positive", "plausibility", "error",
                    "is more than nodes_examined " + p["nodes_examined"].iloc[pos].astype("str"),
                    p["nodes_positive"].iloc[pos].astype("str"))


def _lesion_jumps(lesions: pd.DataFrame, la: pd.DataFrame, log: QueryLog) -> None:
    if not len(la):
        return
    key_cols = ["patient_id", "lesion_id"]
    base_key = canonical_key(lesions, key_cols)
    key = pd.concat([base_key, canonical_key(la, key_cols)], ignore_index=True)
    when = pd.concat([lesions["baseline_date"], la["assessment_date"]], ignore_index=True)
    val = pd.concat([lesions["baseline_diameter_mm"], la["diameter_mm"]], ignore_index=True)
    pos = np.r_[np.full(len(lesions), -1), np.arange(len(la))]
    df = _previous(key, when, val, pos)
    v, pv = df["v"].to_numpy(), df["prev_v"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        both = (v > LESION_MIN_MM) & (pv > LESION_MIN_MM)
        jump = both & (v > LESION_RATIO * pv)
    jump &= df["pos"].to_numpy() >= 0
    if jump.any():
        sel = df[jump]
        det = ("is more than 5 × the previous measurement " + pd.Series(_fmt(sel["prev_v"].to_numpy())) + " mm on "
               + pd.Series(pd.to_datetime(sel["prev_d"]).dt.strftime("%Y-%m-%d").to_numpy()).astype("str")
               + " (both > 5 mm; check the unit and the lesion label)")
        log.add("lesion_assessments", sel["pos"].to_numpy(), "diameter_mm", "plausibility", "warning", det,
                pd.Series(_fmt(sel["v"].to_numpy()), dtype="str"))


def _lab_jumps(labs: pd.DataFrame, log: QueryLog) -> None:
    if not len(labs):
        return
    key = canonical_key(labs, ["patient_id", "test"])
    df = _previous(key, labs["lab_date"], labs["value"], np.arange(len(labs)))
    v, pv = df["v"].to_numpy(), df["prev_v"].to_numpy()
    gap = (df["d"] - df["prev_d"]).dt.days.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        jump = (pv > 0) & (v > LAB_RATIO * pv) & (gap <= LAB_WINDOW_DAYS)
    if jump.any():
        sel = df[jump]
        det = ("is more than 10 × the previous value " + pd.Series(_fmt(sel["prev_v"].to_numpy()))
               + " of the same test on " + pd.Series(pd.to_datetime(sel["prev_d"]).dt.strftime("%Y-%m-%d").to_numpy()).astype("str")
               + f" (within {LAB_WINDOW_DAYS} days; check the unit)")
        log.add("labs", sel["pos"].to_numpy(), "value", "plausibility", "warning", det,
                pd.Series(_fmt(sel["v"].to_numpy()), dtype="str"))


#: RECIST problems of check_target_lesions queried here, and the field each sits on; a target
#: without baseline diameter is already a ``required`` query
_RECIST_FIELDS = {"target_not_measurable": "baseline_diameter_mm", "max_5_targets": "lesion_role",
                  "max_2_targets_per_organ": "lesion_role"}


def _target_lesions(lesions: pd.DataFrame, log: QueryLog) -> None:
    if not len(lesions) or not (lesions["lesion_role"] == "target").fillna(False).any():
        return
    from latc.derive.recist import check_target_lesions  # derive imports validate's modules lazily too

    probs = check_target_lesions(lesions)
    probs = probs[probs["rule"].isin(list(_RECIST_FIELDS))]
    if not len(probs):
        return
    # the problem's row: check_target_lesions keeps the last row of a (patient, lesion) pair
    key = canonical_key(lesions, ["patient_id", "lesion_id"]).to_numpy(dtype=object)
    at = pd.Series(np.arange(len(lesions)), index=key)
    at = at[~at.index.duplicated(keep="last")]
    pos = at.reindex((probs["patient_id"] + _SEP + probs["lesion_id"]).to_numpy()).to_numpy()
    for rule, field in _RECIST_FIELDS.items():
        sel = (probs["rule"] == rule).to_numpy() & ~np.isnan(pos)
        if sel.any():
            p = pos[sel].astype("int64")
            log.add("lesions", p, field, "recist_target", "warning", probs["message"].to_numpy(dtype=object)[sel],
                    lesions[field].astype("str").iloc[p])
