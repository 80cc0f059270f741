"""Eligibility per the protocol (STUDY.md, "Inclusion criteria" / "Exclusion criteria").

Each criterion combines the site's recorded answer (the ``eligibility`` form) with what the data
say (patients, diagnosis, lesions).  A criterion is met when the recorded answer says so *and* the
data, where they determine the criterion, agree.  Ineligibility is not a data problem (it goes to
``eligibility.csv`` and the STROBE flow), but a recorded answer that the data contradict is: a
warning query ``eligibility_contradiction`` on the eligibility row.

Cohorts: the protocol's criteria define the neoadjuvant cohort; the upfront-surgery control cohort
is the same LATC population, so every criterion is evaluated for it too, except the RECIST-measurable
lesion (needed only for imaging response, which the control cohort does not have): that column is
missing (not applicable) for upfront-surgery patients and does not count against eligibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from latc.validate._log import QueryLog

#: RECIST 1.1 §3.1.1 — measurable: ≥10 mm longest diameter; lymph node ≥15 mm short axis.
MEASURABLE_MM, MEASURABLE_NODE_MM = 10.0, 15.0
MIN_AGE = 14
T4 = ("T4a", "T4b")
#: "clinical stage T4N0-1": N0, N1a, N1b — and NX, since T4 with any assessable N is LATC and NX
#: (nodes not assessable) does not contradict the board's T4N0-1 call; cT decides.
N_ALLOWED = ("N0", "N1a", "N1b", "NX")
HISTOLOGIES = ("ptc", "ftc", "oncocytic", "pdtc", "atc", "mtc")  # DTC (ptc/ftc/oncocytic), PDTC, ATC, MTC


@dataclass(frozen=True)
class Criterion:
    name: str
    field: str           # the eligibility-form field holding the recorded answer
    recorded: pd.Series  # boolean: the answer says the criterion is met (NA: no answer)
    data: pd.Series      # boolean: the data say met / not met (NA: the data cannot tell)
    evidence: Callable[[], pd.Series]  # str: what the data show, for the contradiction message (built
    # only when a contradiction needs it: the text costs more than the test in one-patient validation)


def _first(t: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    t = t.assign(_pos=np.arange(len(t)))
    t = t[t["patient_id"].notna()].drop_duplicates("patient_id").set_index("patient_id")
    return t.reindex(ids)


def _b(x: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(x, index=index, dtype="boolean")


def _yes(col: pd.Series, code: bool) -> pd.Series:
    """Boolean column equal to ``code`` (NA stays NA)."""
    col = col.astype("boolean")
    return col if code else ~col


def criteria(typed: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[Criterion], pd.DataFrame]:
    """The patients (one row each) and the criteria evaluated on them."""
    pts_all = typed["patients"]
    ids = pd.Index(pts_all["patient_id"].dropna().unique(), name="patient_id")
    pts, el, dx = _first(pts_all, ids), _first(typed["eligibility"], ids), _first(typed["diagnosis"], ids)
    idx = ids
    upfront = (pts["cohort"] == "upfront_surgery").fillna(False).to_numpy(dtype=bool, copy=True)

    # age at enrollment: age_at_diagnosis is in completed years, so the true age at enrollment lies in
    # [age + elapsed, age + 1 + elapsed) with elapsed = years from diagnosis to enrollment
    age = pts["age_at_diagnosis"].astype("Float64")
    elapsed = ((pts["enrollment_date"] - pts["diagnosis_date"]).dt.days / 365.25).astype("Float64")
    low = age + elapsed.fillna(0).clip(lower=0)
    high = age + 1 + elapsed
    age_data = pd.Series(pd.NA, index=idx, dtype="boolean")
    age_data[(low >= MIN_AGE).fillna(False)] = True
    age_data[(high <= MIN_AGE).fillna(False)] = False

    def age_txt() -> pd.Series:
        return ("age at diagnosis " + age.astype("Int64").astype("str").fillna("?") + ", enrolled "
                + elapsed.round(1).astype("str").fillna("?") + " years after diagnosis")

    ecog = pts["ecog"]
    ecog_data = _b(np.where(ecog.isna(), pd.NA, ecog.isin(["0", "1", "2"])), idx)
    hist = dx["histology"]
    hist_data = _b(np.where(hist.isin(HISTOLOGIES), True, pd.NA), idx)
    ct, cn, cm = dx["ct"], dx["cn"], dx["cm"]
    t4_data = pd.Series(pd.NA, index=idx, dtype="boolean")
    t4_data[(ct.isin(T4) & cn.isin(N_ALLOWED)).to_numpy()] = True
    t4_data[(ct.notna() & ~ct.isin(T4 + ("TX",))).to_numpy()] = False
    answer_m1 = el["inc_m1_benefit_documented"]
    m1_rec = _b(np.where(answer_m1.isna(), pd.NA, answer_m1.isin(["yes", "na"])), idx)
    m1_data = pd.Series(pd.NA, index=idx, dtype="boolean")
    m1_data[(cm == "M0").to_numpy()] = True
    m1_data[((cm == "M1") & (answer_m1 != "yes")).fillna(cm == "M1").to_numpy()] = False

    les = typed["lesions"]
    target = (les["lesion_role"] == "target").fillna(False)
    thr = np.where(les["is_lymph_node"].fillna(False).to_numpy(dtype=bool, copy=True), MEASURABLE_NODE_MM, MEASURABLE_MM)
    measurable = target & (les["baseline_diameter_mm"] >= thr).fillna(False)
    n_meas = measurable.groupby(les["patient_id"]).sum().reindex(idx, fill_value=0)
    meas_data = _b(n_meas.to_numpy() > 0, idx)
    meas_data[upfront] = pd.NA

    consent = pts["consent"].astype("boolean")
    male = (pts["sex"] == "male").fillna(False).to_numpy(dtype=bool, copy=True)
    preg_data = pd.Series(pd.NA, index=idx, dtype="boolean")
    preg_data[male] = True
    na = pd.Series(pd.NA, index=idx, dtype="boolean")

    def none() -> pd.Series:
        return pd.Series(pd.NA, index=idx, dtype="str")

    crit = [
        Criterion("age_14_or_older", "inc_age_14", _yes(el["inc_age_14"], True), age_data, age_txt),
        Criterion("ecog_0_to_2", "inc_ecog_0_2", _yes(el["inc_ecog_0_2"], True), ecog_data, lambda: "ECOG " + ecog.fillna("?")),
        Criterion("confirmed_carcinoma", "inc_confirmed_carcinoma", _yes(el["inc_confirmed_carcinoma"], True), hist_data,
                  lambda: "diagnosis.histology " + hist.fillna("?")),
        Criterion("clinical_t4_n0_1", "inc_t4_mdt", _yes(el["inc_t4_mdt"], True), t4_data,
                  lambda: "diagnosis cT " + ct.fillna("?") + " cN " + cn.fillna("?")),
        Criterion("m1_surgical_benefit_documented", "inc_m1_benefit_documented", m1_rec, m1_data,
                  lambda: "diagnosis cM " + cm.fillna("?")),
        Criterion("measurable_lesion", "inc_measurable_lesion", _yes(el["inc_measurable_lesion"], True), meas_data,
                  lambda: n_meas.astype(str) + " RECIST-measurable target lesion(s) in lesions (≥10 mm; nodes ≥15 mm short axis)"),
        Criterion("normal_organ_function", "inc_organ_function", _yes(el["inc_organ_function"], True), na, none),
        Criterion("informed_consent", "inc_consent", _yes(el["inc_consent"], True), consent,
                  lambda: "patients.consent " + consent.astype("Int8").astype("str").fillna("?")),
        Criterion("no_refusal_of_biopsy_or_surgery", "exc_refuses_biopsy_surgery", _yes(el["exc_refuses_biopsy_surgery"], False), na, none),
        Criterion("no_prior_neck_surgery", "exc_prior_neck_surgery", _yes(el["exc_prior_neck_surgery"], False), na, none),
        Criterion("no_prior_cancer_treatment", "exc_prior_cancer_treatment", _yes(el["exc_prior_cancer_treatment"], False), na, none),
        Criterion("no_concurrent_malignancy", "exc_concurrent_malignancy", _yes(el["exc_concurrent_malignancy"], False), na, none),
        Criterion("no_uncontrolled_systemic_disease", "exc_uncontrolled_systemic", _yes(el["exc_uncontrolled_systemic"], False), na, none),
        Criterion("not_pregnant_or_breastfeeding", "exc_pregnancy", _yes(el["exc_pregnancy"], False), preg_data,
                  lambda: pd.Series("sex male", index=idx, dtype="str")),
    ]
    return pts, crit, el


def evaluate_eligibility(typed: dict[str, pd.DataFrame], raw_eligibility: pd.DataFrame, log: QueryLog, *,
                         table: bool = True) -> pd.DataFrame:
    """One row per patient: patient_id, center_id, cohort, eligible, failed_criteria, one boolean
    column per criterion (True = met; missing = not applicable).  Contradictions become queries.
    ``table=False``: the queries only (an empty table is returned)."""
    pts, crit, el = criteria(typed)
    idx = pts.index
    upfront = (pts["cohort"] == "upfront_surgery").fillna(False).to_numpy(dtype=bool, copy=True)
    met_cols: dict[str, pd.api.extensions.ExtensionArray] = {}
    failed = np.full(len(idx), "", dtype=object)
    met_all = np.ones(len(idx), dtype=bool)
    el_pos = el["_pos"]
    has_el = el_pos.notna().to_numpy()
    no = np.zeros(len(idx), dtype=bool)
    for c in crit:
        # in numpy (a fixed pandas cost per operation dominated one-patient validation): met =
        # recorded (missing: no) and data (missing: yes); not applicable (missing) for the
        # measurable lesion of upfront-surgery patients; a contradiction = both known and unequal
        rec_na, data_na = c.recorded.isna().to_numpy(), c.data.isna().to_numpy()
        rec = c.recorded.to_numpy(dtype=bool, na_value=False)
        data = c.data.to_numpy(dtype=bool, na_value=True)
        met = rec & data
        na = upfront if c.name == "measurable_lesion" else no
        miss = ~met & ~na
        met_all &= ~miss
        if miss.any():
            failed[miss] = [f + (";" if f else "") + c.name for f in failed[miss]]
        if table:
            met_cols[c.name] = pd.array(np.where(na, None, met), dtype="boolean")
        contra = ~rec_na & ~data_na & (rec != data) & has_el
        if c.name == "measurable_lesion":
            contra &= ~upfront
        if contra.any():
            pos = el_pos[contra].to_numpy(dtype="int64")
            answer = raw_eligibility[c.field].iloc[pos].astype("str")
            log.add("eligibility", pos, c.field, "eligibility_contradiction", "warning",
                    f"({c.name}) contradicts the data: " + c.evidence()[contra].fillna("").to_numpy(dtype=object), answer)
    if not table:
        return pd.DataFrame()
    return pd.DataFrame({"patient_id": idx.astype("str"), "center_id": pts["center_id"].astype("str").to_numpy(),
                         "cohort": pts["cohort"].astype("str").to_numpy(), "eligible": met_all,
                         "failed_criteria": pd.Series(failed, index=idx, dtype="str").to_numpy(), **met_cols})
