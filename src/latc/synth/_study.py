"""Assemble the synthetic study: every form of the dictionary, the latent per-patient table and
the machine-readable truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from latc.dictionary import load_dictionary
from latc.synth import _params as P
from latc.synth._biospecimens import biospecimen_rows, biospecimens_table
from latc.synth._cox import cox_fit
from latc.synth._followup import adjuvant_rows, adjuvant_table, follow_up_rows, follow_up_table
from latc.synth._labs import lab_days, lab_rows, labs_table, marker_baselines
from latc.synth._model import DESIGN_COLUMNS, design_matrix, marginal_hazard_ratios
from latc.synth._patients import Centers, diagnosis_table, eligibility_table, make_centers, patients_table
from latc.synth._recist import (assessment_days, lesion_assessment_rows, lesion_assessments_table, lesion_rows,
                                lesions_table, overall_responses, timepoint_responses_table)
from latc.synth._surgery import (complication_rows, complications_table, pathology_rows, pathology_table,
                                 surgery_rows, surgery_table)
from latc.synth._timeline import build_patients
from latc.synth._treatment import adverse_event_rows, adverse_events_table, treatment_rows, treatments_table
from latc.synth._util import stream

GENERATOR_VERSION = "1.0"

#: latent per-patient columns exported to truth_patients.csv (not part of the study input)
LATENT_COLUMNS = [
    "patient_id", "center_id", "cohort", "eligible", "screen_failure", "propensity",
    "lp_recurrence", "lp_death", "t_recurrence_upfront", "t_recurrence_neoadjuvant", "t_death_upfront",
    "t_death_neoadjuvant", "tr_day", "td_day", "censor_day", "end_day", "recurrence_observed", "death_observed",
    "progressed_before_surgery", "operated", "salvage_surgery", "braf", "tert", "tgab_positive", "agents", "ici_agent",
    "response_eta", "response_latent", "objective_response_latent", "depth_pct", "viable_pct_latent",
]


@dataclass
class SyntheticStudy:
    """A synthetic study: typed tables (form → DataFrame), the truth and the latent variables."""

    tables: dict[str, pd.DataFrame]
    truth: dict
    latent: pd.DataFrame
    centers: pd.DataFrame = field(default_factory=pd.DataFrame)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.tables.items()}


@lru_cache(maxsize=8)
def _marginal(seed: int, n_centers: int, intercept: float) -> dict:
    return marginal_hazard_ratios(seed, make_centers(seed, n_centers), intercept)


def synthesize(n_patients: int = 600, n_centers: int = 8, seed: int = 20261125) -> SyntheticStudy:
    """Generate the synthetic multicenter study (deterministic per seed).

    Returns every dictionary form as a typed table (CONTRACTS.md "Clean tables" dtypes), the
    truth (data-generating model, true effects, planted rates; see docs/synthetic.md) and the
    latent per-patient variables (true propensity, potential outcomes, response latent).
    """
    if n_patients < 1:
        raise ValueError("n_patients must be at least 1")
    centers = make_centers(seed, n_centers)
    pt, intercept = build_patients(seed, n_patients, centers)
    marker_baselines(stream(seed, "markers"), pt)
    les = lesion_rows(stream(seed, "lesions"), pt)
    adays = assessment_days(stream(seed, "imaging"), pt)
    assess = lesion_assessment_rows(stream(seed, "recist"), pt, les, adays)
    responses = overall_responses(les, assess)
    courses = treatment_rows(stream(seed, "treatment"), pt)
    ae = adverse_event_rows(stream(seed, "adverse_events"), courses)
    s = surgery_rows(stream(seed, "surgery"), pt)
    pt["resection_status"] = s["resection_status"].reindex(pt.index)
    comps = complication_rows(stream(seed, "complications"), s)
    path = pathology_rows(stream(seed, "pathology"), s)
    adj = adjuvant_rows(stream(seed, "adjuvant"), s)
    visits = follow_up_rows(stream(seed, "follow_up"), pt)
    ldays = lab_days(stream(seed, "lab_days"), pt, adays, adj, visits)
    labs = lab_rows(stream(seed, "labs"), pt, ldays, path["pcr"], centers)
    bio = biospecimen_rows(stream(seed, "biospecimens"), pt, adays, centers)
    pt_index = pt.set_index("patient_id")

    tables = {
        "patients": patients_table(pt, centers),
        "eligibility": eligibility_table(pt, centers),
        "diagnosis": diagnosis_table(pt, centers),
        "treatments": treatments_table(courses, ae, stream(seed, "doses"), centers),
        "lesions": lesions_table(les, pt, centers),
        "lesion_assessments": lesion_assessments_table(assess, pt, centers),
        "timepoint_responses": timepoint_responses_table(responses, pt, centers, stream(seed, "assessor")),
        "labs": labs_table(labs, pt, centers),
        "adverse_events": adverse_events_table(ae, pt_index, centers),
        "surgery": surgery_table(s, centers),
        "complications": complications_table(comps, pt, centers),
        "pathology": pathology_table(s, path, centers),
        "adjuvant": adjuvant_table(adj, pt, centers),
        "follow_up": follow_up_table(visits, pt, centers),
        "biospecimens": biospecimens_table(bio, pt, centers),
    }
    d = load_dictionary()
    tables = {name: tables[name] for name in d.forms}

    pt["center_id"] = centers.ids[pt["center"].to_numpy()]
    latent = pt[LATENT_COLUMNS].copy()
    latent["pcr"] = path["pcr"].reindex(pt.index)
    latent["mpr"] = path["mpr"].reindex(pt.index)
    latent = latent.rename(columns={"braf": "braf_v600e_true", "tert": "tert_promoter_true"})
    truth = build_truth(seed, n_patients, centers, intercept, pt, path, s, comps)
    return SyntheticStudy(tables=tables, truth=truth, latent=latent, centers=centers.as_frame())


def _diagnostic_hrs(pt: pd.DataFrame, centers: Centers) -> dict:
    """Naive and adjusted Cox HRs of neoadjuvant vs upfront on this cohort (eligible patients)."""
    e = pt[pt["eligible"]]
    if len(e) < 30 or len(e) > 20000:
        return {"note": "computed only for 30–20,000 eligible patients"}
    neo = e["neoadjuvant"].to_numpy().astype(float)
    out = {}
    x = design_matrix(e).drop(columns="planned_laryngectomy")
    cdum = pd.get_dummies(e["center"], prefix="c", drop_first=True).astype(float)
    keep = e["tested"].to_numpy()
    for outcome in ("recurrence", "death"):
        if outcome == "recurrence":
            event = e["recurrence_observed"].to_numpy()
            time = np.where(event, e["tr_day"], e["end_day"])
        else:
            event = e["death_observed"].to_numpy()
            time = e["end_day"].to_numpy()
        b, se = cox_fit(time, event, neo)
        X = np.column_stack([neo, x.to_numpy(), cdum.to_numpy()])[keep]
        X = X[:, np.r_[True, X[:, 1:].std(axis=0) > 0]]
        try:
            ba, sea = cox_fit(np.asarray(time)[keep], event[keep], X)
        except np.linalg.LinAlgError:
            ba, sea = np.array([np.nan]), np.array([np.nan])
        out[outcome] = {"events": int(event.sum()), "naive_hr": float(np.exp(b[0])), "naive_se_log": float(se[0]),
                        "adjusted_hr": float(np.exp(ba[0])), "adjusted_se_log": float(sea[0]),
                        "adjusted_for": list(x.columns) + ["center (fixed effects)"],
                        "adjusted_population": "eligible patients with molecular testing (TERT known)"}
    return out


def _km_at(time: np.ndarray, event: np.ndarray, t: float) -> float | None:
    """Kaplan–Meier survival at ``t`` (product-limit over the distinct event times ≤ t)."""
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    if len(time) == 0:
        return None
    surv = 1.0
    for u in np.unique(time[event & (time <= t)]):
        surv *= 1.0 - (event & (time == u)).sum() / (time >= u).sum()
    return float(surv)


def _braf_atc_truth(pt: pd.DataFrame) -> dict:
    """The planted effect of BRAF-directed therapy in BRAF V600E ATC, and what it gives in this cohort."""
    e = pt[pt["eligible"]]
    x = design_matrix(e)
    atc = e["histology"].to_numpy() == "atc"
    braf_atc = x["braf_atc"].to_numpy() == 1
    braf_neg = atc & e["tested"].to_numpy() & ~e["braf"].to_numpy()
    neo = e["neoadjuvant"].to_numpy()

    def group(mask: np.ndarray) -> dict:
        g = e[mask]
        return {"n": int(mask.sum()),
                "one_year_os": _km_at(g["end_day"].to_numpy(), g["death_observed"].to_numpy(), 365.25),
                "share_operated": float(g["operated"].mean()) if len(g) else None}

    return {
        "design_column": "braf_atc", "definition": DESIGN_COLUMNS["braf_atc"],
        "therapy": "dabrafenib + trametinib (± pembrolizumab) as neoadjuvant therapy; after upfront surgery, adjuvant "
                   "dabrafenib + trametinib (adjuvant.therapy == 'systemic'); resumed after surgery in the neoadjuvant cohort",
        "log_hr_death": P.DEATH_COEF["braf_atc"], "hr_death": float(np.exp(P.DEATH_COEF["braf_atc"])),
        "log_hr_recurrence": P.RECURRENCE_COEF["braf_atc"], "hr_recurrence": float(np.exp(P.RECURRENCE_COEF["braf_atc"])),
        "reference": "ATC without BRAF-directed therapy (BRAF-negative or not tested), same covariates",
        "scope": "a prognostic term of both outcome models in both cohorts (not an interaction with the neoadjuvant arm): "
                 "the neoadjuvant conditional HRs stay one number each; fewer progressions and deaths before the planned "
                 "operation also raise the share of neoadjuvant BRAF ATC that reaches surgery",
        "calibration": "1-year OS ≈ 75 % on BRAF-directed therapy vs ≈ 30 % in BRAF-negative ATC; ≈ 75 % of the "
                       "neoadjuvant BRAF ATC operated — Maniakas et al. JAMA Oncol 2020 (1-year OS 59 % in 2017–19); "
                       "Zhao et al. Thyroid 2023 (71 % of neoadjuvant BRAF ATC operated; 12-month OS 93.6 % operated, "
                       "74.1 % surgery first, 38.5 % never operated); ROAR (Ann Oncol 2022: 12-month OS 51.7 %, unresectable)",
        "observed_this_cohort": {
            "population": "eligible patients; latent times (death_observed, end_day) and operated (any operation)",
            "neoadjuvant_braf_atc": group(braf_atc & neo), "neoadjuvant_braf_negative_atc": group(braf_neg & neo),
            "upfront_braf_atc": group(braf_atc & ~neo), "upfront_braf_negative_atc": group(braf_neg & ~neo),
        },
    }


def _surgery_truth(pt: pd.DataFrame, s: pd.DataFrame, comps: pd.DataFrame) -> dict:
    """Planted surgical rules (organ preservation, RLN) and their observed rates in this cohort."""
    neo = s["neoadjuvant"].to_numpy()
    resected = s["rln_resected"].to_numpy()
    palsy = comps.loc[comps["type"] == "rln_palsy"]
    perm = set(palsy.loc[palsy["permanent"], "i"])
    perm_pt = np.isin(np.arange(len(s)), list(perm))

    def rate(mask: np.ndarray, values: np.ndarray) -> float | None:
        return float(values[mask].mean()) if mask.any() else None

    plan_eso = s["planned_esophageal_resection"].to_numpy()
    eso_avoided = s["esophageal_resection"].to_numpy() == "none"
    plan_lar = s["planned_laryngectomy"].to_numpy()
    lar_avoided = s["laryngectomy"].to_numpy() == "none"
    return {
        "organ_preservation": {
            "planned_laryngectomy_not_performed": P.P_ORGAN_PRESERVATION,
            "planned_esophageal_resection_not_performed": P.P_ORGAN_PRESERVATION,
            "planned_tracheal_resection_one_step_smaller_responders": P.P_TRACHEA_DOWNSIZED_RESPONDER,
            "population": "neoadjuvant patients by objective response (latent; salvage surgery after progression = "
                          "non-responder); never after upfront surgery",
            "observed_this_cohort": {
                "esophageal_resection_avoided": {"neoadjuvant": rate(plan_eso & neo, eso_avoided),
                                                 "upfront_surgery": rate(plan_eso & ~neo, eso_avoided)},
                "larynx_preserved": {"neoadjuvant": rate(plan_lar & neo, lar_avoided),
                                     "upfront_surgery": rate(plan_lar & ~neo, lar_avoided)},
            },
        },
        "rln_palsy": {
            "definition": "complications.complication_type == 'rln_palsy': an unintended palsy; a nerve resected for "
                          "invasion is recorded in surgery.rln_resected and never as a complication",
            "unintended_palsy_per_patient": P.RLN_PALSY,
            "rate_factor_after_resection": P.RLN_PALSY_RESECTED_FACTOR,
            "p_resected_if_invaded": P.P_RLN_RESECTED_IF_INVADED,
            "observed_this_cohort": {"operated": int(len(s)), "rln_resected": rate(np.ones(len(s), bool), resected),
                                     "permanent_palsy": rate(np.ones(len(s), bool), perm_pt),
                                     "permanent_palsy_nerve_not_resected": rate(~resected, perm_pt),
                                     "permanent_palsy_after_resection_contralateral": rate(resected, perm_pt),
                                     "permanence": "generator's latent permanence (unresolved at the last contact)"},
        },
    }


def build_truth(seed: int, n_patients: int, centers: Centers, intercept: float, pt: pd.DataFrame, path: pd.DataFrame,
                s: pd.DataFrame | None = None, comps: pd.DataFrame | None = None) -> dict:
    e = pt[pt["eligible"]]
    neo = e[e["neoadjuvant"]]
    hist = list(P.HISTOLOGY)
    op_neo = path[path["tnm_prefix"] == "yp"]
    op_hist = pt.loc[op_neo.index, "histology"]
    marg = _marginal(seed, len(centers), round(intercept, 12))
    screen = pt.loc[~pt["eligible"], "screen_failure"].value_counts().sort_index()
    return {
        "study": "LATC-NEO synthetic", "generator_version": GENERATOR_VERSION, "seed": seed,
        "n_patients": n_patients, "n_centers": len(centers), "data_cut": P.DATA_CUT,
        "time_zero": "patients.treatment_decision_date (both cohorts)",
        "cohorts": {"neoadjuvant": int(neo.shape[0]), "upfront_surgery": int((~e["neoadjuvant"]).sum()),
                    "screen_failures": int((~pt["eligible"]).sum()),
                    "screen_failures_by_reason": {k: int(v) for k, v in screen.items()}},
        "design_columns": DESIGN_COLUMNS,
        "assignment_model": {
            "link": "logit", "outcome": "patients.cohort == 'neoadjuvant'", "intercept": intercept,
            "coefficients": P.PROPENSITY_COEF,
            "center_offsets": dict(zip(centers.ids.tolist(), centers.propensity_offset.round(6).tolist())),
            "note": "intercept solved so that the mean propensity is "
                    f"{P.TARGET_NEOADJUVANT_SHARE}; per-patient true propensity in truth_patients.csv",
        },
        "outcome_models": {
            "recurrence": {
                "event": "first recurrence/progression (follow_up.recurrence == 1, recurrence_date); death censors (cause-specific hazard)",
                "baseline_hazard": {"family": "weibull", "time_unit": "years", **P.RECURRENCE_BASELINE,
                                    "cumulative_hazard": "scale * t**shape"},
                "coefficients": P.RECURRENCE_COEF, "log_hr_neoadjuvant": float(np.log(P.HR_RECURRENCE)),
                "center_offsets": dict(zip(centers.ids.tolist(), centers.risk_offset.round(6).tolist())),
            },
            "death": {
                "event": "death from any cause (follow_up.vital_status == 'dead', death_date)",
                "baseline_hazard": {"family": "weibull", "time_unit": "years", **P.DEATH_BASELINE,
                                    "cumulative_hazard": "scale * t**shape"},
                "coefficients": P.DEATH_COEF, "log_hr_neoadjuvant": float(np.log(P.HR_DEATH)),
                "center_offsets": dict(zip(centers.ids.tolist(), (0.5 * centers.risk_offset).round(6).tolist())),
            },
            "independence": "given the covariates, latent recurrence and death times are independent",
            "censoring": f"administrative at the data cut; loss to follow-up from day {P.LOSS_TO_FOLLOW_UP_START_DAY} "
                         f"at {P.LOSS_TO_FOLLOW_UP_PER_YEAR}/year; independent of the outcomes",
        },
        "effects": {
            "recurrence": {"conditional_hr": P.HR_RECURRENCE, "marginal_hr_ate": marg["recurrence"]["ate"],
                           "marginal_hr_att": marg["recurrence"]["att"]},
            "death": {"conditional_hr": P.HR_DEATH, "marginal_hr_ate": marg["death"]["ate"],
                      "marginal_hr_att": marg["death"]["att"]},
            "braf_on_objective_response": {
                "odds_ratio": P.OR_BRAF, "log_odds_ratio": P.RESPONSE_COEF["braf"],
                "response": "objective response = best target-sum change ≤ −30 % (latent; RECIST-derived BOR agrees "
                            "except for early progression, death or missing scans)",
                "model": {"link": "logit", "intercept_by_histology": P.RESPONSE_INTERCEPT,
                          "coefficients": P.RESPONSE_COEF,
                          "covariates": {"braf": "true BRAF V600E (recorded when tested)",
                                         "ret_altered": "RET mutation or RET fusion",
                                         "ici": "an immune checkpoint inhibitor course in treatments"}},
                "population": "neoadjuvant patients",
                "latent": "L = eta + eps, eps standard logistic; objective response = L > 0",
                "copula_rho_with_recurrence_prognosis": P.RESPONSE_PROGNOSIS_RHO,
                "depth_of_response_pct": "L > 0: -34 - 61*(1 - exp(-L/1.5)); L <= 0: -26 + 46*(1 - exp(L/1.5)), capped at +10 per lesion",
            },
            "pathological_response": {
                "planted_pcr_rate": P.PCR_RATE, "planted_mpr_rate": P.MPR_RATE,
                "definition": "pCR: pathology.viable_tumor_pct == 0; MPR: viable_tumor_pct <= 10",
                "copula_rho_with_response": P.PATHOLOGY_RESPONSE_RHO,
                "planted_population": "all neoadjuvant patients (latent % viable tumour); operated patients are "
                                      "slightly enriched for responders because early progressors are rarely operated",
                "observed_pcr_rate_operated": {h: float(op_neo.loc[op_hist == h, "pcr"].mean()) if (op_hist == h).any() else None for h in hist},
                "observed_mpr_rate_operated": {h: float(op_neo.loc[op_hist == h, "mpr"].mean()) if (op_hist == h).any() else None for h in hist},
            },
            "braf_directed_therapy_atc": _braf_atc_truth(pt),
            **({"surgery": _surgery_truth(pt, s, comps)} if s is not None and comps is not None else {}),
        },
        "marginal_hr_method": marg,
        "diagnostics_this_cohort": _diagnostic_hrs(pt, centers),
        "centers": centers.as_frame().assign(ids=centers.ids.tolist()).rename(columns={"ids": "center_id"})[
            ["center_id", "weight", "propensity_offset", "risk_offset", "t4b_shift", "records_timepoint_responses", "omics"]
        ].to_dict(orient="records"),
        "sources": "docs/synthetic.md",
    }
