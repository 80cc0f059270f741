"""Analysis frames built from the derived datasets (one row per patient; no statistics here).

``comparative_frame`` is the neoadjuvant-vs-upfront analysis frame: the treatment indicator, the
baseline confounders of the propensity and outcome models, the center (small centers pooled), and
the endpoints from the common time zero, the multidisciplinary **treatment decision**
(``latc.derive.tte`` ``time_zero="decision"``; docs/derivations/tte.md "Time zero and immortal time").

Endpoints (months = days / 30.4375):

* ``rec`` — **recurrence or progression** from the decision, the cause-specific endpoint of the
  comparison: the derived ``TTP`` parameter (``latc.derive.tte``): the first progression before
  surgery, recurrence after an R0/R1 operation or progression of the residual tumour after an R2
  one is the event; death without a prior recurrence/progression is a competing event (censored for
  the cause-specific hazard, ``rec_type == 2``). An R2 operation does not end the follow-up (ending
  it there would censor the patients at highest risk: informative censoring). ``rec_type``: 0
  censored, 1 recurrence / progression, 2 death (competing).
* ``os`` — death from any cause (OS); ``efs`` — event-free survival (neoadjuvant convention).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._data import MONTH_DAYS, AnalysisData, need
from ._results import SectionSkipped

__all__ = ["CONFOUNDERS", "comparative_frame", "as_categorical"]

#: Baseline confounders of the comparison (name in the frame → what it is), in the clinic's words.
CONFOUNDERS: dict[str, str] = {
    "age_per10": "age at diagnosis, per 10 years above 55",
    "sex": "sex (reference female)",
    "ecog": "ECOG performance status (reference 0)",
    "histology_group": "histology group DTC / PDTC / ATC / MTC (reference DTC)",
    "t4b": "cT4b (vs cT4a)",
    "n_invaded": "number of invaded structures (of 9)",
    "n1b": "cN1b",
    "m1": "cM1 (distant metastasis at baseline)",
    "resectability": "baseline resectability (reference resectable)",
    "planned_laryngectomy": "laryngectomy in the baseline surgical plan",
    "braf_positive": "BRAF V600E positive (0 when negative or not tested)",
    "tert_positive": "TERT promoter mutation (0 when negative or not tested)",
    "braf_not_tested": "BRAF V600E not tested (missing-indicator)",
    "tert_not_tested": "TERT promoter not tested (missing-indicator; left out when identical to BRAF's)",
}

_COLUMNS = ["patient_id", "center_id", "cohort", "age_at_diagnosis", "sex", "ecog", "histology_group", "ct",
            "n_invaded_structures", "cn", "cm", "baseline_resectability", "planned_laryngectomy", "braf_v600e",
            "tert_promoter", "treatment_decision_date", "diagnosis_date", "days_decision_to_surgery"]


def as_categorical(values: pd.Series, reference: str, order: list[str] | None = None) -> pd.Series:
    """A categorical with ``reference`` first (treatment contrasts as R's ``relevel``)."""
    v = values.astype("str")
    present = [x for x in pd.unique(v.dropna()) if x is not None]
    levels = [reference] if reference in present else []
    levels += [x for x in (order or sorted(present)) if x in present and x not in levels]
    levels += sorted(x for x in present if x not in levels)
    return pd.Series(pd.Categorical(v, categories=levels), index=values.index)


def _tested(values: pd.Series) -> pd.Series:
    """Molecular marker with 'not tested' as its own category (missing → not tested)."""
    v = values.astype("str").fillna("not_tested").replace({"": "not_tested"})
    return as_categorical(v, "negative", ["negative", "positive", "not_tested"])


def _endpoint(tte: pd.DataFrame, paramcd: str, ids: pd.Series) -> pd.DataFrame:
    t = tte[tte["paramcd"].astype("str") == paramcd]
    if "time_zero_name" in t and len(t):
        zeros = set(t["time_zero_name"].dropna().astype("str"))
        if paramcd in ("OS", "EFS", "DSS", "TTP") and zeros - {"decision"}:
            raise SectionSkipped(f"the {paramcd} time zero of the derived tte is {', '.join(sorted(zeros))}; the "
                                 "comparison needs the common time zero 'decision' (latc derive --time-zero decision)")
    t = t.drop_duplicates("patient_id").set_index("patient_id")
    return t.reindex(ids.to_numpy())


def comparative_frame(data: AnalysisData, min_center_size: int = 20) -> tuple[pd.DataFrame, dict]:
    """One row per analysis-set patient with treatment, confounders, center and endpoints.

    Returns ``(frame, info)``; ``info`` records the pooled centers and the patients left out (missing
    confounder or endpoint time) for the method text. Raises :class:`SectionSkipped` when the
    derived data cannot support a comparison (one cohort only, no decision time zero).
    """
    s = data.analysis_set
    need(s, _COLUMNS)
    need(data.tte, ["paramcd", "time_months", "event", "event_type", "event_description"], "tte")
    s = s.reset_index(drop=True)
    cohorts = set(s["cohort"].dropna().astype("str"))
    if not {"neoadjuvant", "upfront_surgery"} <= cohorts:
        raise SectionSkipped(f"the analysis set holds only the cohort(s) {', '.join(sorted(cohorts)) or 'none'}: "
                             "the neoadjuvant vs upfront comparison needs both")
    f = pd.DataFrame({"patient_id": s["patient_id"].astype("str"), "cohort": s["cohort"].astype("str")})
    f["neoadjuvant"] = s["cohort"].eq("neoadjuvant").fillna(False).astype(int)
    f["age_per10"] = (s["age_at_diagnosis"].astype("Float64") - 55) / 10
    f["sex"] = as_categorical(s["sex"], "female")
    f["ecog"] = as_categorical(s["ecog"], "0")
    f["histology_group"] = as_categorical(s["histology_group"], "DTC", ["DTC", "PDTC", "ATC", "MTC"])
    f["t4b"] = s["ct"].astype("str").eq("T4b").astype("Int64").where(s["ct"].notna())
    f["n_invaded"] = s["n_invaded_structures"].astype("Float64")
    f["n1b"] = s["cn"].astype("str").eq("N1b").astype("Int64").where(s["cn"].notna())
    f["m1"] = s["cm"].astype("str").eq("M1").astype("Int64").where(s["cm"].notna())
    f["resectability"] = as_categorical(s["baseline_resectability"], "resectable",
                                        ["resectable", "borderline", "unresectable"])
    f["planned_laryngectomy"] = s["planned_laryngectomy"].astype("boolean").astype("Int64")
    for name, col in (("braf", "braf_v600e"), ("tert", "tert_promoter")):
        status = _tested(s[col])
        f[name] = status
        f[f"{name}_positive"] = status.eq("positive").astype(int)
        f[f"{name}_not_tested"] = status.eq("not_tested").astype(int)
    # center: centers too small (or with one cohort only) for a center term are pooled
    center = s["center_id"].astype("str")
    size = center.map(center.value_counts())
    both = center.map(f.groupby(center.to_numpy())["neoadjuvant"].agg(lambda x: 0 < x.mean() < 1))
    small = (size < min_center_size) | ~both.astype(bool)
    f["center_id"] = center
    f["center"] = center.where(~small, "pooled_small_centers")
    f["center_size"] = np.where(size >= size.median(), "larger centers", "smaller centers")
    f["decision_to_diagnosis_months"] = ((s["treatment_decision_date"] - s["diagnosis_date"]).dt.days
                                         .astype("Float64") / MONTH_DAYS)
    f["decision_to_surgery_months"] = s["days_decision_to_surgery"].astype("Float64") / MONTH_DAYS

    ids = f["patient_id"]
    efs = _endpoint(data.tte, "EFS", ids)
    os_ = _endpoint(data.tte, "OS", ids)
    if not (data.tte["paramcd"].astype("str") == "TTP").any():
        raise SectionSkipped("the derived tte has no TTP parameter (time to recurrence or progression), the primary "
                             "endpoint of the comparison: re-run `latc derive` with this version of latc")
    ttp = _endpoint(data.tte, "TTP", ids)
    f["rec_time"] = ttp["time_months"].astype("Float64").to_numpy()
    f["rec_type"] = ttp["event_type"].astype("Int64").fillna(0).to_numpy(dtype=int)
    f["rec_event"] = (f["rec_type"] == 1).astype(int)
    f["os_time"] = os_["time_months"].astype("Float64").to_numpy()
    f["os_event"] = os_["event"].astype("Int64").to_numpy()
    f["efs_time"] = efs["time_months"].astype("Float64").to_numpy()
    f["efs_event"] = efs["event"].astype("Int64").to_numpy()
    info = {"pooled_centers": sorted(set(center[small])), "min_center_size": min_center_size,
            "n_analysis_set": int(len(f)),
            "no_recurrence_time": int(f["rec_time"].isna().sum()), "no_os_time": int(f["os_time"].isna().sum())}
    return f, info


def landmark_rows(df: "pd.DataFrame", time: str, landmark: float) -> "pd.DataFrame":
    """Patients still event-free and in follow-up after ``landmark`` (time > L), time reset to L.

    The landmark method (Anderson, Cain & Gelber, *J Clin Oncol* 1983;1:710; the same rule as
    ``latc.derive.tte.landmark``): a status reached after time zero is fixed at L, and only the
    patients at risk after L are compared, from L.
    """
    out = df[df[time].astype(float) > landmark].copy()
    out[time] = out[time].astype(float) - landmark
    return out
