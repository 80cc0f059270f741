"""Centers and patients at baseline: demographics, ECOG, dates, eligibility answers.

Centers differ in size, accrual start, neoadjuvant propensity, baseline risk, T4b case mix,
assay units, whether they record investigator timepoint responses, and whether they run the
omics assays. Screen failures (``SCREEN_FAILURE_RATE``) have exactly one failing eligibility
answer, and their data agree with it (e.g. ``inc_t4_mdt`` = 0 ⇔ a cT3b tumour); in the
upfront-surgery cohort only criteria that apply to it (not the RECIST-measurable lesion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._tumour import HISTOLOGIES, INVASION_FIELDS, draw_tumour, hist_index, per_histology
from latc.synth._util import choose, dates, stream, typed_table


@dataclass(frozen=True)
class Centers:
    """Per-center attributes (arrays indexed by center position)."""

    ids: np.ndarray
    weight: np.ndarray
    start_offset_days: np.ndarray
    propensity_offset: np.ndarray
    risk_offset: np.ndarray
    t4b_shift: np.ndarray
    not_tested_rate: np.ndarray
    records_timepoint_responses: np.ndarray
    omics: np.ndarray
    tg_unit: np.ndarray
    tgab_assay: np.ndarray  # 0: IU/mL (URL 115), 1: kIU/L (URL 4)
    tsh_unit: np.ndarray
    calcitonin_unit: np.ndarray
    cea_unit: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in self.__dataclass_fields__})


def make_centers(seed: int, n_centers: int) -> Centers:
    """Draw the centers' attributes (stream ``centers``)."""
    if n_centers < 1:
        raise ValueError("n_centers must be at least 1")
    rng = stream(seed, "centers")
    width = max(2, len(str(n_centers)))
    ids = np.array([f"C{i + 1:0{width}d}" for i in range(n_centers)], dtype=object)
    weight = rng.dirichlet(np.full(n_centers, 4.0))
    start = np.rint(rng.uniform(0, 540, n_centers)).astype(np.int64)
    start[0] = 0
    z = rng.multivariate_normal([0, 0], [[1, P.CENTER_EFFECT_CORRELATION], [P.CENTER_EFFECT_CORRELATION, 1]], n_centers)
    prop = z[:, 0] * P.CENTER_PROPENSITY_SD
    risk = z[:, 1] * P.CENTER_RISK_SD
    t4b_shift = P.CENTER_T4B_SD * (0.6 * z[:, 0] + 0.8 * rng.standard_normal(n_centers))
    records = rng.random(n_centers) < 0.5
    records[rng.integers(n_centers)] = True
    omics = rng.random(n_centers) < P.OMICS_CENTER_SHARE
    omics[rng.integers(n_centers)] = True
    return Centers(
        ids=ids, weight=weight, start_offset_days=start, propensity_offset=prop, risk_offset=risk,
        t4b_shift=t4b_shift, not_tested_rate=np.clip(rng.normal(P.NOT_TESTED, 0.03, n_centers), 0.0, 0.2),
        records_timepoint_responses=records, omics=omics,
        tg_unit=choose(rng, ["ng_ml", "ug_l"], n_centers, [0.7, 0.3]),
        tgab_assay=rng.integers(0, 2, n_centers),
        tsh_unit=choose(rng, ["miu_l", "uiu_ml"], n_centers, [0.6, 0.4]),
        calcitonin_unit=choose(rng, ["pg_ml", "ng_l"], n_centers, [0.7, 0.3]),
        cea_unit=choose(rng, ["ng_ml", "ug_l"], n_centers, [0.7, 0.3]),
    )


def draw_baseline(rng: np.random.Generator, n: int, centers: Centers) -> pd.DataFrame:
    """Baseline covariates of ``n`` eligible-type patients: center, demographics, tumour.

    Used for the study cohort and for the large reference sample of the marginal hazard ratio.
    """
    center = rng.choice(len(centers), size=n, p=centers.weight)
    hist = choose(rng, P.HISTOLOGY, n)
    hi = hist_index(hist)
    age_mu, age_sd = per_histology(hi, {h: v[0] for h, v in P.AGE.items()}), per_histology(hi, {h: v[1] for h, v in P.AGE.items()})
    age = np.clip(np.rint(rng.normal(age_mu, age_sd)), *P.AGE_RANGE).astype(np.int64)
    female = rng.random(n) < per_histology(hi, P.FEMALE)
    ecog_p = np.where((hist == "atc")[:, None], np.asarray(P.ECOG["atc"])[None, :], np.asarray(P.ECOG["default"])[None, :])
    u = rng.random(n)
    ecog = (u > ecog_p[:, 0]).astype(np.int64) + (u > ecog_p[:, 0] + ecog_p[:, 1])
    tested = rng.random(n) >= centers.not_tested_rate[center]
    tumour = draw_tumour(rng, hist, centers.t4b_shift[center])
    base = pd.DataFrame({"center": center, "histology": hist, "age": age, "female": female, "ecog": ecog, "tested": tested})
    return pd.concat([base, tumour], axis=1)


def apply_screen_failures(rng: np.random.Generator, base: pd.DataFrame) -> pd.DataFrame:
    """Mark screen failures (one failing criterion each) and make their data agree with it."""
    n = len(base)
    out = base.copy()
    fail = rng.random(n) < P.SCREEN_FAILURE_RATE
    reason = np.where(fail, choose(rng, P.SCREEN_FAILURE_REASONS, n), None)
    out["screen_failure"] = reason
    _make_data_agree(out, fail)
    out["eligible"] = ~fail
    return out


#: criteria that do not count against eligibility in the upfront-surgery cohort: the RECIST-measurable
#: lesion serves the imaging-response endpoint only (docs/validation.md, "Cohorts")
NOT_APPLICABLE_UPFRONT = ("inc_measurable_lesion",)


def redraw_upfront_screen_failures(rng: np.random.Generator, pt: pd.DataFrame) -> pd.DataFrame:
    """Screen failures of the upfront-surgery cohort fail only criteria that apply to that cohort.

    The reason is drawn at screening, before the cohort is known; an upfront-surgery patient whose
    reason does not apply to that cohort (:data:`NOT_APPLICABLE_UPFRONT`) gets a reason redrawn from
    the applicable ones with their relative weights — so upfront reasons follow the renormalised
    weights exactly — and the data are made to agree with it. Assignment, and every eligible
    patient, are unchanged (the redraw happens after it).
    """
    out = pt.copy()
    reason = out["screen_failure"].to_numpy(dtype=object).copy()
    redo = (out["cohort"].to_numpy(dtype=object) == "upfront_surgery") & np.isin(reason, NOT_APPLICABLE_UPFRONT)
    weights = {k: v for k, v in P.SCREEN_FAILURE_REASONS.items() if k not in NOT_APPLICABLE_UPFRONT}
    reason[redo] = choose(rng, weights, int(redo.sum()))
    out["screen_failure"] = reason
    _make_data_agree(out, redo)
    return out


def _make_data_agree(out: pd.DataFrame, rows: np.ndarray) -> None:
    """Make the baseline data of the screen failures in ``rows`` agree with their reason (in place)."""
    reason = out["screen_failure"].to_numpy(dtype=object).copy()
    # pregnancy only for women of child-bearing age; otherwise prior neck surgery
    bad_preg = rows & (reason == "exc_pregnancy") & ~(out["female"].to_numpy() & (out["age"].to_numpy() < 45))
    reason[bad_preg] = "exc_prior_neck_surgery"
    out["screen_failure"] = reason
    ecog = out["ecog"].to_numpy().copy()
    ecog[rows & (reason == "inc_ecog_0_2")] = 3
    out["ecog"] = ecog
    t3 = rows & (reason == "inc_t4_mdt")  # a cT3b tumour (strap muscles only) is not LATC
    for s in INVASION_FIELDS:
        col = out[f"invasion_{s}"].to_numpy().copy()
        col[t3] = s == "strap_muscles"
        out[f"invasion_{s}"] = col
    out.loc[t3, "t4b"] = False
    out.loc[t3, "n_invaded"] = 1
    out.loc[t3, "resectability"] = "resectable"
    out.loc[t3, "planned_laryngectomy"] = False
    out.loc[t3, "planned_tracheal_resection"] = "none"
    out.loc[t3, "planned_esophageal_resection"] = False
    m1 = rows & (reason == "inc_m1_benefit_documented")
    out.loc[m1, "m1"] = True
    out.loc[m1, "m1_site"] = np.where(out.loc[m1, "m1_site"].isna(), "lung", out.loc[m1, "m1_site"])


def eligibility_table(pt: pd.DataFrame, centers: Centers) -> pd.DataFrame:
    """The eligibility form: all inclusion answers 1 and exclusion answers 0, except the screen
    failure's one criterion."""
    n = len(pt)
    reason = pt["screen_failure"].to_numpy(dtype=object)
    cols: dict[str, object] = {"patient_id": pt["patient_id"], "center_id": centers.ids[pt["center"]]}
    for name in ["inc_age_14", "inc_ecog_0_2", "inc_confirmed_carcinoma", "inc_t4_mdt", "inc_measurable_lesion",
                 "inc_organ_function", "inc_consent"]:
        cols[name] = reason != name
    cols["inc_m1_benefit_documented"] = np.where(
        reason == "inc_m1_benefit_documented", "no", np.where(pt["m1"].to_numpy(), "yes", "na"))
    for name in ["exc_refuses_biopsy_surgery", "exc_prior_neck_surgery", "exc_prior_cancer_treatment",
                 "exc_concurrent_malignancy", "exc_uncontrolled_systemic", "exc_pregnancy"]:
        cols[name] = reason == name
    return typed_table("eligibility", cols, n)


def patients_table(pt: pd.DataFrame, centers: Centers) -> pd.DataFrame:
    t0 = pt["t0_date"].to_numpy()
    consent = pt["screen_failure"].to_numpy(dtype=object) != "inc_consent"
    return typed_table("patients", {
        "patient_id": pt["patient_id"], "center_id": centers.ids[pt["center"]], "cohort": pt["cohort"],
        "diagnosis_date": dates(t0, pt["dx_day"]), "treatment_decision_date": dates(t0, np.zeros(len(pt))),
        "enrollment_date": dates(t0, pt["enrollment_day"]), "age_at_diagnosis": pt["age"],
        "sex": np.where(pt["female"], "female", "male"), "ecog": pt["ecog"].astype(str).to_numpy(dtype=object),
        "consent": consent, "consent_date": dates(t0, np.where(consent, pt["consent_day"], np.nan)),
    }, len(pt))


def diagnosis_table(pt: pd.DataFrame, centers: Centers) -> pd.DataFrame:
    tested = pt["tested"].to_numpy()

    def status(flag: np.ndarray) -> np.ndarray:
        return np.where(tested, np.where(flag, "positive", "negative"), "not_tested")

    ct = np.where(pt["screen_failure"].to_numpy(dtype=object) == "inc_t4_mdt", "T3b", np.where(pt["t4b"], "T4b", "T4a"))
    m1 = pt["m1"].to_numpy()
    return typed_table("diagnosis", {
        "patient_id": pt["patient_id"], "center_id": centers.ids[pt["center"]], "histology": pt["histology"],
        "histology_subtype": pt["histology_subtype"],
        "diagnosis_basis": np.where(pt["histology"].isin(["atc", "pdtc"]) | (pt["dx_basis_u"] < 0.3), "histology", "cytology"),
        "primary_size_mm": pt["primary_size_mm"], "ct": ct, "cn": pt["cn"], "cm": np.where(m1, "M1", "M0"),
        "distant_metastasis_sites": np.where(m1, pt["m1_site"], None),
        **{f"invasion_{s}": pt[f"invasion_{s}"] for s in INVASION_FIELDS},
        "braf_v600e": status(pt["braf"].to_numpy()), "ras": status(pt["ras"].to_numpy()),
        "ret": status(pt["ret_mutation"].to_numpy()), "tert_promoter": status(pt["tert"].to_numpy()),
        "fusion": np.where(tested, pt["fusion"], "not_tested"),
        "baseline_resectability": pt["resectability"], "planned_laryngectomy": pt["planned_laryngectomy"],
        "planned_tracheal_resection": pt["planned_tracheal_resection"],
        "planned_esophageal_resection": pt["planned_esophageal_resection"],
    }, len(pt))


__all__ = ["HISTOLOGIES", "NOT_APPLICABLE_UPFRONT", "Centers", "apply_screen_failures", "diagnosis_table", "draw_baseline",
           "eligibility_table", "make_centers", "patients_table", "redraw_upfront_screen_failures"]
