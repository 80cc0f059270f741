"""Surgical outcomes: resection status, extent, organ preservation and postoperative complications.

Rules (documented in ``docs/derivations/surgery.md``):

* **Index operation.** The first curative operation of a patient (``surgical_intent == 'curative'``,
  earliest ``surgery_date``, then lowest ``surgery_id``) — the radical thyroidectomy the protocol
  studies (same choice as the pathology specimen, :func:`latc.derive.pathology.curative_specimen`).
  Per-patient outcomes describe that operation and the complications recorded against it.
* **Resection status** R0 / R1 / R2 (UICC residual-tumour classification); *macroscopically
  complete* = R0 or R1.
* **Organ preservation** compares the index operation with the baseline surgical plan of the
  multidisciplinary board (diagnosis form): a planned laryngectomy / tracheal / oesophageal
  resection that was not performed (or, for the trachea, performed less extensively) counts as
  preserved. Not applicable (missing) when the resection was not planned or there was no curative
  operation.
* **Clavien–Dindo** grades ordered I < II < IIIa < IIIb < IVa < IVb < V (Dindo, Demartines &
  Clavien, *Ann Surg* 2004;240:205; Clavien et al., *Ann Surg* 2009;250:187); *major* = grade ≥ IIIa
  (grade III or worse: an intervention, intensive care or death), the usual definition of a major
  complication in reports that use the classification.
* **30-day events**: onset 0–30 days after the operation (``onset_date - surgery_date <= 30``
  calendar days); 30- / 90-day mortality from the follow-up death date on the same day count.
* **Hypoparathyroidism and recurrent laryngeal nerve palsy: transient vs permanent.** Permanent =
  still present more than 6 months after the operation (the protocol's definition; Orloff et al.,
  *Thyroid* 2018;28:830, American Thyroid Association statement on postoperative
  hypoparathyroidism: persisting beyond 6 months = permanent). For RLN palsy the same horizon is
  the protocol's and common practice (the AAO-HNS guideline, Chandrasekhar et al., *Otolaryngol
  Head Neck Surg* 2013;148(6 Suppl):S1, covers laryngeal examination and voice outcomes; some
  series wait 12 months — ``permanence_months`` is a parameter). The cut is the
  calendar date ``surgery_date + 6 months`` (``pandas.DateOffset(months=6)``; 1 January → 1 July):
  resolved on or before that date → transient; resolved after it, or unresolved and last assessed
  after it → permanent; unresolved and last assessed on or before it → undetermined.

Nothing here raises on data: unknown codes and impossible dates give missing values and a problem
record (``patient_id, field, value, rule, message``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables

PROBLEM_COLUMNS = ["patient_id", "field", "value", "rule", "message"]

#: Clavien–Dindo grades in increasing order of severity (Dindo et al., Ann Surg 2004, Table 1).
CLAVIEN_DINDO_ORDER: tuple[str, ...] = ("I", "II", "IIIa", "IIIb", "IVa", "IVb", "V")
#: Lowest grade of a major complication (intervention needed): IIIa.
MAJOR_CLAVIEN_DINDO = "IIIa"
#: Months after the operation beyond which a persisting deficit is permanent (Orloff 2018).
PERMANENCE_MONTHS = 6
#: Window of the early (30-day) outcomes, in calendar days after the operation.
EARLY_DAYS = 30
LATE_MORTALITY_DAYS = 90

TRACHEAL_ORDER: tuple[str, ...] = ("none", "shave", "window", "sleeve")
LARYNGECTOMY_CODES = ("none", "partial", "total")
ESOPHAGEAL_CODES = ("none", "muscular_layer", "full_thickness")
THYROIDECTOMY_CODES = ("total", "near_total", "lobectomy", "completion", "none")
NECK_DISSECTION_CODES = ("none", "unilateral", "bilateral")
RESECTION_CODES = ("R0", "R1", "R2")
INTENT_CODES = ("curative", "palliative")
COMPLICATION_TYPES = (
    "hypoparathyroidism", "rln_palsy", "hematoma", "chyle_leak", "wound_infection", "seroma", "fistula",
    "tracheostomy", "pneumonia", "cardiovascular", "thromboembolic", "other",
)
PERMANENCE_ORDER: tuple[str, ...] = ("transient", "undetermined", "permanent")
#: Complication types whose permanence is graded (thyroid-specific deficits).
PERMANENCE_TYPES = ("hypoparathyroidism", "rln_palsy")

_CD_RANK = {g.upper(): i + 1 for i, g in enumerate(CLAVIEN_DINDO_ORDER)}


# ------------------------------------------------------------------------------------------------
# small helpers shared with safety.py


class _Problems:
    """Collects problem records; messages are formatted only for flagged rows."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, frame: pd.DataFrame, field: str, rule: str, message: str, value: pd.Series | None = None) -> None:
        mask = np.asarray(pd.Series(mask, index=frame.index).fillna(False), dtype=bool)
        if not mask.any():
            return
        if value is None:
            value = frame[field] if field in frame else pd.Series(pd.NA, index=frame.index, dtype=object)
        vals = value
        self.parts.append(pd.DataFrame({
            "patient_id": frame["patient_id"].to_numpy()[mask] if "patient_id" in frame else pd.NA,
            "field": field,
            "value": pd.Series(vals.to_numpy()[mask], dtype=object).astype("str").to_numpy(),
            "rule": rule,
            "message": message,
        }))

    def frame(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS})
        return pd.concat(parts, ignore_index=True)[PROBLEM_COLUMNS].astype("str")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(pd.NA, index=df.index, dtype=object)


def _date(df: pd.DataFrame, name: str, problems: _Problems, form: str) -> pd.Series:
    """A date column as ``datetime64``; unparseable values become NaT and a problem."""
    s = _col(df, name)
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]")
    out = pd.to_datetime(s.astype("str"), errors="coerce", format="%Y-%m-%d")
    bad = s.notna() & out.isna()
    problems.add(bad, df, name, "invalid_date", f"{form}.{name} is not a date (YYYY-MM-DD)", value=s)
    return out.astype("datetime64[ns]")


_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _flag(df: pd.DataFrame, name: str, problems: _Problems, form: str) -> pd.Series:
    """A yes/no column as nullable ``boolean``; unreadable values become missing and a problem."""
    s = _col(df, name)
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    text = s.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out = out.mask(text.isin(_TRUE).fillna(False), True).mask(text.isin(_FALSE).fillna(False), False)
    problems.add(s.notna() & out.isna(), df, name, "invalid_yesno", f"{form}.{name} is not yes/no (1/0)", value=s)
    return out


def _choice(df: pd.DataFrame, name: str, codes, problems: _Problems, form: str, *, case_insensitive: bool = True) -> pd.Series:
    """A choice column restricted to ``codes`` (matched case-insensitively); others → missing + problem."""
    s = _col(df, name)
    text = s.astype("str").str.strip()
    lookup = {c.lower(): c for c in codes} if case_insensitive else {c: c for c in codes}
    key = text.str.lower() if case_insensitive else text
    out = key.map(lookup).astype("str")
    problems.add(s.notna() & out.isna(), df, name, f"unknown_{name}",
                 f"{form}.{name} is not one of {', '.join(codes)}", value=s)
    return out


def _number(df: pd.DataFrame, name: str, problems: _Problems, form: str) -> pd.Series:
    s = _col(df, name)
    out = pd.to_numeric(s, errors="coerce").astype("Float64")
    problems.add(s.notna() & out.isna(), df, name, "invalid_number", f"{form}.{name} is not a number", value=s)
    return out


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``values`` (indexed by patient) for each key, aligned with ``keys``; missing when absent.

    ``reindex`` rather than ``Series.map``: it keeps the dtype and works for empty tables.
    """
    if not values.index.is_unique:
        values = values[~values.index.duplicated()]
    return values.reindex(keys.to_numpy()).set_axis(keys.index)


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole days between two date Series (nullable integer)."""
    return ((later - earlier) / pd.Timedelta(days=1)).round().astype("Int64")


def _bool_where(values: pd.Series, known: pd.Series) -> pd.Series:
    """``values`` as nullable boolean, missing where ``known`` is False."""
    out = values.astype("boolean")
    return out.mask(~known.fillna(False).astype(bool), pd.NA)


# ------------------------------------------------------------------------------------------------
# Clavien–Dindo


def clavien_dindo_rank(grade: pd.Series) -> pd.Series:
    """Rank of a Clavien–Dindo grade: I=1, II=2, IIIa=3, IIIb=4, IVa=5, IVb=6, V=7 (``Int64``).

    Case and surrounding blanks are ignored (``iiia`` → 3); unknown codes (including an
    unsubdivided ``III`` or ``IV``, which the 2004 classification splits) → missing.
    Dindo et al., *Ann Surg* 2004;240:205, Table 1.
    """
    key = grade.astype("str").str.strip().str.upper()
    return key.map(_CD_RANK).astype("Int64")


def clavien_dindo_grade(rank: pd.Series) -> pd.Series:
    """Inverse of :func:`clavien_dindo_rank` (rank 1–7 → grade code; other values → missing)."""
    return rank.astype("Int64").map({i + 1: g for i, g in enumerate(CLAVIEN_DINDO_ORDER)}).astype("str")


def complication_permanence(
    surgery_date: pd.Series,
    resolved: pd.Series,
    resolution_date: pd.Series,
    last_assessed_date: pd.Series,
    *,
    months: int = PERMANENCE_MONTHS,
) -> pd.Series:
    """``transient`` / ``permanent`` / ``undetermined`` for aligned Series (one row per event).

    Cut: ``surgery_date + DateOffset(months=months)``. Resolved on or before the cut → transient;
    resolved after the cut, or unresolved with ``last_assessed_date`` after the cut → permanent;
    unresolved and last assessed on or before the cut, or any needed date missing → undetermined
    (Orloff et al., *Thyroid* 2018;28:830: permanent when persisting > 6 months).
    """
    sx = pd.Series(surgery_date).astype("datetime64[ns]")
    cut = sx + pd.DateOffset(months=months)
    res = pd.Series(resolved).astype("boolean")
    rdate = pd.Series(resolution_date).astype("datetime64[ns]")
    ldate = pd.Series(last_assessed_date).astype("datetime64[ns]")
    is_res = res.eq(True).fillna(False).astype(bool)
    not_res = res.eq(False).fillna(False).astype(bool)
    transient = is_res & (rdate <= cut).fillna(False).astype(bool)
    permanent = (is_res & (rdate > cut).fillna(False).astype(bool)) | (not_res & (ldate > cut).fillna(False).astype(bool))
    out = pd.Series("undetermined", index=sx.index, dtype="str")
    return out.mask(transient, "transient").mask(permanent, "permanent")


# ------------------------------------------------------------------------------------------------
# operations


def index_operation(surgery: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the first curative operation (earliest date, then lowest ``surgery_id``).

    Returns the chosen surgery rows (all columns). Operations with an unknown intent are not
    index operations.
    """
    cur = surgery.loc[surgery["surgical_intent"].astype("str").str.strip().str.lower().eq("curative").fillna(False)]
    cur = cur.sort_values(["patient_id", "surgery_date", "surgery_id"], kind="mergesort", na_position="last")
    return cur.drop_duplicates("patient_id", keep="first").reset_index(drop=True)


def _clean_surgery(surgery: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    s = pd.DataFrame({"patient_id": surgery["patient_id"].astype("str")}, index=surgery.index)
    s["surgery_id"] = pd.to_numeric(_col(surgery, "surgery_id"), errors="coerce").astype("Int64")
    s["surgery_date"] = _date(surgery, "surgery_date", problems, "surgery")
    problems.add(s["surgery_date"].isna() & _col(surgery, "surgery_date").isna(), surgery, "surgery_date",
                 "surgery_date_missing", "operation without a date: it cannot be an index operation and its "
                 "30-day / 6-month windows cannot be computed")
    for name, codes in (("surgical_intent", INTENT_CODES), ("thyroidectomy_extent", THYROIDECTOMY_CODES),
                        ("central_neck_dissection", NECK_DISSECTION_CODES), ("lateral_neck_dissection", NECK_DISSECTION_CODES),
                        ("tracheal_resection", TRACHEAL_ORDER), ("laryngectomy", LARYNGECTOMY_CODES),
                        ("esophageal_resection", ESOPHAGEAL_CODES)):
        s[name] = _choice(surgery, name, codes, problems, "surgery")
    s["resection_status"] = _choice(surgery, "resection_status", RESECTION_CODES, problems, "surgery")
    for name in ("rln_resected", "vascular_resection", "tracheostomy"):
        s[name] = _flag(surgery, name, problems, "surgery")
    for name in ("operative_time_min", "blood_loss_ml", "length_of_stay_days"):
        s[name] = _number(surgery, name, problems, "surgery")
    problems.add(s["operative_time_min"].le(0), s, "operative_time_min", "operative_time_not_positive",
                 "operative time must be above 0 minutes")
    for name in ("blood_loss_ml", "length_of_stay_days"):
        problems.add(s[name].lt(0), s, name, f"{name}_negative", f"surgery.{name} cannot be negative")
        s[name] = s[name].mask(s[name].lt(0).fillna(False))
    s["operative_time_min"] = s["operative_time_min"].mask(s["operative_time_min"].le(0).fillna(False))
    return s


@tables_deprecated("complications", "surgery")
def complications_analysis(
    tables: Mapping[str, pd.DataFrame],
    *,
    permanence_months: int = PERMANENCE_MONTHS,
    early_days: int = EARLY_DAYS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long complications table: one row per recorded complication, with derived columns.

    ``tables``: form name → clean typed table; reads ``complications`` and ``surgery``.

    Added columns: ``surgery_date``, ``surgical_intent``, ``index_operation`` (the complication
    follows the patient's first curative operation), ``days_from_surgery`` (onset − operation),
    ``clavien_dindo_rank`` (1–7), ``major`` (grade ≥ IIIa), ``within_30_days`` (onset 0–``early_days``
    days after the operation), ``permanence_cutoff_date`` and ``permanence`` (transient / permanent /
    undetermined; only for hypoparathyroidism and RLN palsy, missing for other types).

    Returns ``(table, problems)``.
    """
    complications, surgery = study_tables(tables, ("complications", "surgery"), caller="complications_analysis")
    probs = _Problems()
    ops = _clean_surgery(surgery, probs)
    table = _complications(complications, ops, probs, permanence_months=permanence_months, early_days=early_days)
    return table, probs.frame()


def _complications(complications: pd.DataFrame, ops: pd.DataFrame, probs: _Problems, *,
                   permanence_months: int, early_days: int) -> pd.DataFrame:
    idx = index_operation(ops)[["patient_id", "surgery_id"]].assign(index_operation=True)
    c = pd.DataFrame({"patient_id": complications["patient_id"].astype("str")}, index=complications.index)
    for name in ("complication_id", "surgery_id"):
        c[name] = pd.to_numeric(_col(complications, name), errors="coerce").astype("Int64")
    c["complication_type"] = _choice(complications, "complication_type", COMPLICATION_TYPES, probs, "complications")
    c["rln_side"] = _choice(complications, "rln_side", ("left", "right", "bilateral"), probs, "complications")
    raw_cd = _col(complications, "clavien_dindo")
    rank = clavien_dindo_rank(raw_cd)
    probs.add(raw_cd.notna() & rank.isna(), complications, "clavien_dindo", "unknown_clavien_dindo",
              "complications.clavien_dindo is not one of I, II, IIIa, IIIb, IVa, IVb, V", value=raw_cd)
    probs.add(raw_cd.isna(), complications, "clavien_dindo", "clavien_dindo_missing",
              "complication without a Clavien–Dindo grade: not counted in the grade analyses")
    c["clavien_dindo"] = clavien_dindo_grade(rank)
    c["clavien_dindo_rank"] = rank
    c["onset_date"] = _date(complications, "onset_date", probs, "complications")
    c["resolved"] = _flag(complications, "resolved", probs, "complications")
    c["resolution_date"] = _date(complications, "resolution_date", probs, "complications")
    c["last_assessed_date"] = _date(complications, "last_assessed_date", probs, "complications")

    c = c.merge(ops[["patient_id", "surgery_id", "surgery_date", "surgical_intent"]].drop_duplicates(["patient_id", "surgery_id"]),
                on=["patient_id", "surgery_id"], how="left", indicator="_op")
    c = c.merge(idx, on=["patient_id", "surgery_id"], how="left")
    c["index_operation"] = c["index_operation"].astype("boolean").fillna(False)
    probs.add(c["_op"].eq("left_only"), c, "surgery_id", "complication_without_operation",
              "the complication refers to an operation that is not in the surgery form")
    c = c.drop(columns="_op")

    days = _days(c["onset_date"], c["surgery_date"])
    probs.add(days.lt(0), c, "onset_date", "onset_before_surgery",
              "complication onset before the operation it follows: timing not used")
    days = days.mask(days.lt(0).fillna(False))
    c["days_from_surgery"] = days
    c["major"] = _bool_where(rank.ge(_CD_RANK[MAJOR_CLAVIEN_DINDO.upper()]), rank.notna())
    c["within_30_days"] = _bool_where(days.le(early_days), days.notna())

    probs.add(c["resolved"].eq(True) & c["resolution_date"].isna(), c, "resolution_date", "resolution_date_missing",
              "resolved complication without a resolution date: permanence undetermined")
    probs.add(c["resolved"].eq(False) & c["last_assessed_date"].isna(), c, "last_assessed_date", "last_assessed_date_missing",
              "unresolved complication without a date last assessed: permanence undetermined")
    probs.add((c["resolution_date"] < c["onset_date"]).fillna(False), c, "resolution_date", "resolved_before_onset",
              "resolution date before onset: permanence undetermined")
    rdate = c["resolution_date"].mask((c["resolution_date"] < c["onset_date"]).fillna(False))
    c["permanence_cutoff_date"] = (c["surgery_date"] + pd.DateOffset(months=permanence_months)).astype("datetime64[ns]")
    perm = complication_permanence(c["surgery_date"], c["resolved"], rdate, c["last_assessed_date"], months=permanence_months)
    c["permanence"] = perm.where(c["complication_type"].isin(PERMANENCE_TYPES).fillna(False)).astype("str")
    return c.reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# per-patient outcomes


def _worst_permanence(comp: pd.DataFrame, ctype: str, pids: pd.Series) -> pd.Series:
    """Per patient: none / transient / undetermined / permanent (worst episode wins)."""
    rank = {p: i + 1 for i, p in enumerate(PERMANENCE_ORDER)}
    sub = comp.loc[comp["complication_type"].eq(ctype).fillna(False), ["patient_id", "permanence"]]
    worst = sub.assign(r=sub["permanence"].map(rank)).groupby("patient_id")["r"].max()
    out = _lookup(pids, worst).map({i + 1: p for i, p in enumerate(PERMANENCE_ORDER)})
    return out.fillna("none").astype("str")


def _death_window(follow_up: pd.DataFrame | None, pids: pd.Series, sdate: pd.Series, operated: pd.Series,
                  days: int, probs: _Problems) -> pd.Series:
    if follow_up is None:
        return pd.Series(pd.NA, index=pids.index, dtype="boolean")
    fu = pd.DataFrame({"patient_id": follow_up["patient_id"].astype("str")}, index=follow_up.index)
    fu["death_date"] = _date(follow_up, "death_date", probs, "follow_up")
    fu["visit_date"] = _date(follow_up, "visit_date", probs, "follow_up")
    g = fu.groupby("patient_id")
    death = _lookup(pids, g["death_date"].min())
    last = _lookup(pids, g["visit_date"].max())
    last = pd.concat([last, death], axis=1).max(axis=1)
    ddays = _days(death, sdate)
    dead_in = ddays.ge(0) & ddays.le(days)
    followed = _days(last, sdate).ge(days)
    out = pd.Series(pd.NA, index=pids.index, dtype="boolean")
    out = out.mask(followed.fillna(False) | death.notna(), False).mask(dead_in.fillna(False), True)
    return out.mask(~operated, pd.NA)


@tables_deprecated("patients", "diagnosis", "surgery", "complications", "treatments", "follow_up")
def surgical_outcomes(
    tables: Mapping[str, pd.DataFrame],
    *,
    permanence_months: int = PERMANENCE_MONTHS,
    early_days: int = EARLY_DAYS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Surgical outcomes, one row per patient of ``patients`` (the ``surgery_outcomes`` dataset).

    ``tables``: form name → clean typed table of the dictionary; reads ``patients``,
    ``diagnosis``, ``surgery`` and ``complications``; ``treatments`` (for the interval from the
    last neoadjuvant dose) and ``follow_up`` (for 30/90-day mortality) are optional — without them
    those columns are missing. Column list and rules: ``docs/derivations/surgery.md``. Patients
    without a curative operation have ``curative_surgery == False`` and missing operation columns.

    Returns ``(table, problems)``; problems has ``patient_id, field, value, rule, message``.
    """
    patients, diagnosis, surgery, complications, treatments, follow_up = study_tables(
        tables, ("patients", "diagnosis", "surgery", "complications"), ("treatments", "follow_up"),
        caller="surgical_outcomes")
    probs = _Problems()
    pt = pd.DataFrame({"patient_id": patients["patient_id"].astype("str"),
                       "cohort": _col(patients, "cohort").astype("str")}).reset_index(drop=True)
    pt["treatment_decision_date"] = _date(patients.reset_index(drop=True), "treatment_decision_date", probs, "patients")
    pid = pt["patient_id"]

    ops = _clean_surgery(surgery, probs)
    index = index_operation(ops).set_index("patient_id")
    n_ops = ops.groupby("patient_id").size()
    op = index.reindex(pid.to_numpy())
    op.index = pt.index
    operated = pid.isin(index.index)
    out = pt[["patient_id", "cohort"]].copy()
    out["curative_surgery"] = operated.astype("boolean")
    out["n_operations"] = _lookup(pid, n_ops).fillna(0).astype("Int64")
    out["palliative_surgery_only"] = (out["n_operations"].gt(0) & ~operated).astype("boolean")
    out["index_surgery_id"] = op["surgery_id"].astype("Int64")
    out["surgery_date"] = op["surgery_date"].astype("datetime64[ns]")
    sdate = out["surgery_date"]

    # timing ---------------------------------------------------------------------------------
    d = _days(sdate, pt["treatment_decision_date"])
    probs.add(d.lt(0), pt, "treatment_decision_date",
              "surgery_before_treatment_decision", "curative operation before the treatment decision date")
    out["days_decision_to_surgery"] = d
    out["days_last_dose_to_surgery"] = pd.Series(pd.NA, index=pt.index, dtype="Int64")
    if treatments is not None and len(treatments):
        tx = pd.DataFrame({"patient_id": treatments["patient_id"].astype("str")}, index=treatments.index)
        tx["start_date"] = _date(treatments, "start_date", probs, "treatments")
        tx["stop_date"] = _date(treatments, "stop_date", probs, "treatments")
        tx["surgery_date"] = _lookup(tx["patient_id"], pd.Series(sdate.to_numpy(), index=pid.to_numpy()))
        pre = tx[(tx["start_date"] <= tx["surgery_date"]).fillna(False)]
        last = _lookup(pid, pre.groupby("patient_id")["stop_date"].max())
        gap = _days(sdate, last)
        neo = out["cohort"].eq("neoadjuvant").fillna(False)
        probs.add(gap.lt(0), pd.DataFrame({"patient_id": pid, "stop_date": last}), "stop_date",
                  "treatment_after_surgery", "neoadjuvant treatment stops after the curative operation: "
                  "interval from the last dose not computed")
        out["days_last_dose_to_surgery"] = gap.mask(gap.lt(0).fillna(False) | ~neo)

    # resection status and extent -------------------------------------------------------------
    rs = op["resection_status"].astype("str")
    out["resection_status"] = rs
    for code in RESECTION_CODES:
        out[f"{code.lower()}_resection"] = _bool_where(rs.eq(code), rs.notna())
    out["macroscopically_complete_resection"] = _bool_where(rs.isin(["R0", "R1"]), rs.notna())

    def cat(name: str) -> pd.Series:
        return op[name].astype("str")

    def flag(values: pd.Series, source: pd.Series) -> pd.Series:
        return _bool_where(values, source.notna())

    thy = cat("thyroidectomy_extent")
    out["thyroidectomy_extent"] = thy
    out["total_thyroidectomy"] = flag(thy.isin(["total", "completion"]), thy)
    for side in ("central", "lateral"):
        nd = cat(f"{side}_neck_dissection")
        out[f"{side}_neck_dissection"] = nd
        out[f"{side}_neck_dissection_done"] = flag(nd.isin(["unilateral", "bilateral"]), nd)
    tr = cat("tracheal_resection")
    out["tracheal_resection"] = tr
    out["tracheal_resection_done"] = flag(tr.isin(TRACHEAL_ORDER[1:]), tr)
    for code in TRACHEAL_ORDER[1:]:
        out[f"tracheal_{code}"] = flag(tr.eq(code), tr)
    lar = cat("laryngectomy")
    out["laryngectomy"] = lar
    out["partial_laryngectomy"] = flag(lar.eq("partial"), lar)
    out["total_laryngectomy"] = flag(lar.eq("total"), lar)
    eso = cat("esophageal_resection")
    out["esophageal_resection"] = eso
    out["esophageal_resection_done"] = flag(eso.isin(ESOPHAGEAL_CODES[1:]), eso)
    out["vascular_resection"] = op["vascular_resection"].astype("boolean")
    out["rln_resected"] = op["rln_resected"].astype("boolean")
    out["tracheostomy_at_surgery"] = op["tracheostomy"].astype("boolean")

    # organ preservation against the baseline plan --------------------------------------------
    dx = diagnosis.drop_duplicates("patient_id").set_index(diagnosis.drop_duplicates("patient_id")["patient_id"].astype("str"))
    dxr = dx.reindex(pid.to_numpy())
    dxr.index = pt.index
    dxr["patient_id"] = pid
    plan_lar = _flag(dxr, "planned_laryngectomy", probs, "diagnosis")
    plan_tr = _choice(dxr, "planned_tracheal_resection", TRACHEAL_ORDER, probs, "diagnosis")
    plan_eso = _flag(dxr, "planned_esophageal_resection", probs, "diagnosis")
    out["baseline_resectability"] = _col(dxr, "baseline_resectability").astype("str")
    out["planned_laryngectomy"] = plan_lar
    out["planned_tracheal_resection"] = plan_tr
    out["planned_esophageal_resection"] = plan_eso

    lar_eval = plan_lar.eq(True).fillna(False) & lar.notna()
    out["larynx_preserved"] = _bool_where(lar.eq("none"), lar_eval)
    out["total_laryngectomy_avoided"] = _bool_where(lar.isin(["none", "partial"]), lar_eval)
    lp = pd.Series(pd.NA, index=pt.index, dtype="str")
    lp = lp.mask(plan_lar.eq(False).fillna(False) & operated, "not_planned")
    lp = lp.mask(lar_eval & lar.eq("none"), "preserved").mask(lar_eval & lar.eq("partial"), "partial_laryngectomy")
    out["larynx_preservation"] = lp.mask(lar_eval & lar.eq("total"), "total_laryngectomy")

    tr_rank = {c: i for i, c in enumerate(TRACHEAL_ORDER)}
    planned_rank = plan_tr.map(tr_rank).astype("Int64")
    done_rank = tr.map(tr_rank).astype("Int64")
    tr_eval = planned_rank.gt(0).fillna(False) & done_rank.notna()
    out["tracheal_resection_avoided"] = _bool_where(done_rank.eq(0), tr_eval)
    out["tracheal_resection_less_extensive"] = _bool_where(done_rank.lt(planned_rank), tr_eval)
    eso_eval = plan_eso.eq(True).fillna(False) & eso.notna()
    out["esophageal_resection_avoided"] = _bool_where(eso.eq("none"), eso_eval)

    any_planned = plan_lar.eq(True).fillna(False) | planned_rank.gt(0).fillna(False) | plan_eso.eq(True).fillna(False)
    out["organ_resection_planned"] = _bool_where(any_planned, plan_lar.notna() | plan_tr.notna() | plan_eso.notna())
    avoided = (out["larynx_preserved"].eq(True).fillna(False) | out["tracheal_resection_avoided"].eq(True).fillna(False)
               | out["esophageal_resection_avoided"].eq(True).fillna(False))
    evaluable = lar_eval | tr_eval | eso_eval
    out["planned_organ_resection_avoided"] = _bool_where(avoided, evaluable)

    out["operative_time_min"] = op["operative_time_min"].astype("Float64")
    out["blood_loss_ml"] = op["blood_loss_ml"].astype("Float64")
    out["length_of_stay_days"] = op["length_of_stay_days"].astype("Float64")

    # complications of the index operation ------------------------------------------------------
    comp = _complications(complications, ops, probs, permanence_months=permanence_months, early_days=early_days)
    ci = comp[comp["index_operation"].to_numpy(dtype=bool)]
    g = ci.groupby("patient_id")
    n_comp = _lookup(pid, g.size()).fillna(0).astype("Int64")
    max_rank = _lookup(pid, g["clavien_dindo_rank"].max()).astype("Int64")
    early = ci[ci["within_30_days"].eq(True).fillna(False).to_numpy(dtype=bool)]
    early_rank = _lookup(pid, early.groupby("patient_id")["clavien_dindo_rank"].max()).astype("Int64")
    early_n = _lookup(pid, early.groupby("patient_id").size()).fillna(0)
    major_id = _CD_RANK[MAJOR_CLAVIEN_DINDO.upper()]
    out["n_complications"] = n_comp.mask(~operated, pd.NA)
    out["any_complication"] = _bool_where(n_comp.gt(0), operated)
    out["max_clavien_dindo"] = clavien_dindo_grade(max_rank)
    out["max_clavien_dindo_rank"] = max_rank
    out["major_complication"] = _bool_where(max_rank.ge(major_id).fillna(False), operated)
    out["complication_30d"] = _bool_where(early_n.gt(0), operated)
    out["major_complication_30d"] = _bool_where(early_rank.ge(major_id).fillna(False), operated)
    out["clavien_dindo_v"] = _bool_where(max_rank.eq(len(CLAVIEN_DINDO_ORDER)).fillna(False), operated)
    out["death_30d"] = _death_window(follow_up, pid, sdate, operated, early_days, probs)
    out["death_90d"] = _death_window(follow_up, pid, sdate, operated, LATE_MORTALITY_DAYS, probs)

    for ctype in PERMANENCE_TYPES:
        worst = _worst_permanence(ci, ctype, pid).where(operated).astype("str")
        out[ctype] = worst
        known = operated & worst.ne("undetermined").fillna(False)
        out[f"{ctype}_any"] = _bool_where(worst.ne("none"), operated)
        out[f"{ctype}_transient"] = _bool_where(worst.eq("transient"), known)
        out[f"{ctype}_permanent"] = _bool_where(worst.eq("permanent"), known)
    bil = ci["complication_type"].eq("rln_palsy").fillna(False) & ci["rln_side"].eq("bilateral").fillna(False)
    out["rln_palsy_bilateral"] = _bool_where(pid.isin(ci.loc[bil.to_numpy(dtype=bool), "patient_id"]), operated)
    for ctype, column in (("hematoma", "hematoma"), ("chyle_leak", "chyle_leak"), ("fistula", "fistula"),
                          ("wound_infection", "wound_infection"), ("tracheostomy", "tracheostomy_after_surgery")):
        has = pid.isin(ci.loc[ci["complication_type"].eq(ctype).fillna(False).to_numpy(dtype=bool), "patient_id"])
        out[column] = _bool_where(has, operated)
    trach = out["tracheostomy_at_surgery"].eq(True).fillna(False) | out["tracheostomy_after_surgery"].eq(True).fillna(False)
    out["tracheostomy_any"] = _bool_where(trach, operated)

    return out, probs.frame()


# ------------------------------------------------------------------------------------------------
# summaries (counts and percentages; confidence intervals belong to the stats layer)

#: Binary outcomes summarised by :func:`surgical_outcome_rates` (denominator: non-missing values).
RATE_MEASURES: tuple[str, ...] = (
    "curative_surgery", "r0_resection", "r1_resection", "r2_resection", "macroscopically_complete_resection",
    "total_thyroidectomy", "central_neck_dissection_done", "lateral_neck_dissection_done",
    "tracheal_resection_done", "tracheal_shave", "tracheal_window", "tracheal_sleeve",
    "partial_laryngectomy", "total_laryngectomy", "esophageal_resection_done", "vascular_resection", "rln_resected",
    "larynx_preserved", "total_laryngectomy_avoided", "tracheal_resection_avoided", "tracheal_resection_less_extensive",
    "esophageal_resection_avoided", "planned_organ_resection_avoided",
    "any_complication", "major_complication", "complication_30d", "major_complication_30d", "death_30d", "death_90d",
    "hypoparathyroidism_any", "hypoparathyroidism_transient", "hypoparathyroidism_permanent",
    "rln_palsy_any", "rln_palsy_transient", "rln_palsy_permanent", "rln_palsy_bilateral",
    "hematoma", "chyle_leak", "fistula", "wound_infection", "tracheostomy_at_surgery", "tracheostomy_after_surgery",
    "tracheostomy_any",
)
#: Continuous outcomes summarised by :func:`surgical_outcome_summary`.
CONTINUOUS_MEASURES: tuple[str, ...] = (
    "operative_time_min", "blood_loss_ml", "length_of_stay_days", "days_decision_to_surgery", "days_last_dose_to_surgery",
)


def _by_columns(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by or [])


def surgical_outcome_rates(outcomes: pd.DataFrame, by: str | list[str] | None = "cohort",
                           measures: tuple[str, ...] | list[str] = RATE_MEASURES) -> pd.DataFrame:
    """Counts and percentages of each binary outcome, per group.

    Columns: ``[by…], measure, n, events, percent`` — ``n`` is the number of patients with a known
    value (missing = not applicable or not evaluable, e.g. organ preservation when nothing was
    planned), ``events`` those with True, ``percent = 100 * events / n`` (missing when ``n == 0``).
    """
    by_cols = _by_columns(by)
    cols = [m for m in measures if m in outcomes]
    known = outcomes[cols].notna().astype("int64")
    event = pd.DataFrame({c: outcomes[c].astype("boolean").fillna(False).astype("int64") for c in cols}, index=outcomes.index)
    if by_cols:
        keys = [outcomes[b] for b in by_cols]
        n = known.groupby(keys, sort=True, dropna=False).sum()
        e = event.groupby(keys, sort=True, dropna=False).sum()
    else:
        n, e = known.sum().to_frame().T, event.sum().to_frame().T
    res = pd.DataFrame({
        "n": n.stack(future_stack=True) if by_cols else n.iloc[0],
        "events": e.stack(future_stack=True) if by_cols else e.iloc[0],
    })
    res.index = res.index.set_names(by_cols + ["measure"]) if by_cols else res.index.set_names("measure")
    res = res.reset_index()
    res["n"] = res["n"].astype("int64")
    res["events"] = res["events"].astype("int64")
    res["percent"] = (100.0 * res["events"] / res["n"].where(res["n"] > 0)).astype("Float64")
    return res[by_cols + ["measure", "n", "events", "percent"]].reset_index(drop=True)


def surgical_outcome_summary(outcomes: pd.DataFrame, by: str | list[str] | None = "cohort",
                             measures: tuple[str, ...] | list[str] = CONTINUOUS_MEASURES) -> pd.DataFrame:
    """Median, quartiles, mean, SD, min and max of the continuous outcomes, per group.

    Columns: ``[by…], measure, n, median, q1, q3, mean, sd, min, max`` (``n`` = non-missing values;
    quartiles by linear interpolation, numpy/pandas' default and R's type 7).
    """
    by_cols = _by_columns(by)
    cols = [m for m in measures if m in outcomes]
    long = outcomes[by_cols + cols].melt(id_vars=by_cols, var_name="measure", value_name="_v")
    long["_v"] = pd.to_numeric(long["_v"], errors="coerce").astype("float64")
    g = long.groupby(by_cols + ["measure"], sort=False, dropna=False)["_v"]
    res = pd.DataFrame({
        "n": g.count(), "median": g.median(), "q1": g.quantile(0.25), "q3": g.quantile(0.75),
        "mean": g.mean(), "sd": g.std(), "min": g.min(), "max": g.max(),
    }).reset_index()
    order = {m: i for i, m in enumerate(cols)}
    res = res.sort_values(by_cols + ["measure"], key=lambda s: s.map(order) if s.name == "measure" else s, kind="stable")
    return res.reset_index(drop=True)


__all__ = [
    "CLAVIEN_DINDO_ORDER",
    "CONTINUOUS_MEASURES",
    "EARLY_DAYS",
    "MAJOR_CLAVIEN_DINDO",
    "PERMANENCE_MONTHS",
    "RATE_MEASURES",
    "clavien_dindo_grade",
    "clavien_dindo_rank",
    "complication_permanence",
    "complications_analysis",
    "index_operation",
    "surgical_outcome_rates",
    "surgical_outcome_summary",
    "surgical_outcomes",
]
