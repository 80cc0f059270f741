"""The ``subject`` analysis dataset (like CDISC ADSL): one row per enrolled patient, assembled from
the patients and diagnosis forms, the populations and every derivation's per-patient table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from latc.derive._assembly import _bool, _nullable, _per_patient
from latc.derive.ata_risk import ata_dynamic_risk
from latc.derive.biochem import positions, text_from_codes

#: Histology code → group reported in the tables (DTC = papillary, follicular, oncocytic).
HISTOLOGY_GROUPS = {"ptc": "DTC", "ftc": "DTC", "oncocytic": "DTC", "pdtc": "PDTC", "atc": "ATC", "mtc": "MTC"}
#: Invasion flags of the diagnosis form, in the order their names are listed.
INVASION_FIELDS = (
    "invasion_strap_muscles", "invasion_trachea", "invasion_larynx", "invasion_esophagus", "invasion_rln",
    "invasion_skin", "invasion_carotid", "invasion_prevertebral", "invasion_mediastinal_vessels",
)
#: Time-to-event parameters carried wide into ``subject`` (lower-case prefix).
TTE_PARAMETERS = ("OS", "DSS", "EFS", "TTP", "RFS", "RFSSTR")

#: subject columns taken from each module's per-patient table (name in the module → name here)
_FROM_EXPOSURE = ["agent_class", "agents", "n_agents", "n_courses", "first_dose_date", "last_dose_date", "exposure_days",
                  "any_dose_reduction", "any_interruption", "discontinued_for_toxicity"]
_FROM_RESPONSE = [
    "reference_date", "best_overall_response", "best_overall_response_date", "confirmed_best_overall_response",
    "confirmed_best_overall_response_date", "objective_response", "confirmed_objective_response", "disease_control",
    "confirmed_disease_control", "first_response_date", "first_confirmed_response_date", "time_to_response_days",
    "time_to_confirmed_response_days", "duration_of_response_days", "duration_of_response_event",
    "confirmed_duration_of_response_days", "confirmed_duration_of_response_event", "best_percent_change_from_baseline",
    "depth_of_response_percent",
]
_FROM_BIOCHEM = [
    "biochemical_marker", "biochemical_percent_change", "biochemical_response", "biochemical_response_reason",
    "tg_percent_change", "tgab_percent_change", "tgab_positive", "calcitonin_percent_change", "cea_percent_change",
    "calcitonin_postop_doubling_time_days", "cea_postop_doubling_time_days",
]
_FROM_PATHOLOGY = ["clinical_stage", "stage_prefix", "viable_tumor_pct", "pathological_response", "pcr", "mpr",
                   "pathological_t", "pathological_n", "pathological_stage", "t_downstaged", "n_downstaged", "stage_downstaged"]
_FROM_SURGERY = [
    "curative_surgery", "surgery_date", "days_decision_to_surgery", "days_last_dose_to_surgery", "resection_status",
    "r0_resection", "macroscopically_complete_resection", "thyroidectomy_extent", "organ_resection_planned",
    "planned_organ_resection_avoided", "larynx_preserved", "total_laryngectomy_avoided", "tracheal_resection_avoided",
    "esophageal_resection_avoided", "any_complication", "max_clavien_dindo", "major_complication", "complication_30d",
    "hypoparathyroidism", "hypoparathyroidism_permanent", "rln_palsy", "rln_palsy_permanent", "death_30d", "death_90d",
]
_FROM_RISK = ["ata_risk", "ata_risk_reasons", "ata_risk_basis", "postop_tg_suggests_distant_metastases"]
_FROM_ATA_RESPONSE = ["rai_given", "response_to_therapy", "response_to_therapy_reason"]
_DIAGNOSIS = ["histology", "histology_subtype", "primary_size_mm", "ct", "cn", "cm", "distant_metastasis_sites",
              "braf_v600e", "ras", "ret", "tert_promoter", "fusion", "baseline_resectability", "planned_laryngectomy",
              "planned_tracheal_resection", "planned_esophageal_resection"]
_PATIENTS = ["center_id", "cohort", "diagnosis_date", "treatment_decision_date", "enrollment_date", "age_at_diagnosis", "sex", "ecog"]


def _subject(patients: pd.DataFrame, pid: pd.Series, T: Mapping[str, pd.DataFrame], elig: pd.DataFrame, analysis: np.ndarray,
             safety: np.ndarray, response_set: np.ndarray, source: pd.Series, exposure: pd.DataFrame, endpoints: pd.DataFrame,
             pathology: pd.DataFrame, biochem: pd.DataFrame, risk: pd.DataFrame, ata_resp: pd.DataFrame,
             surgery: pd.DataFrame, tte: pd.DataFrame) -> pd.DataFrame:
    idx = patients.index
    parts: list[pd.DataFrame] = [pd.DataFrame({"patient_id": pid}, index=idx), patients[_PATIENTS]]
    age = patients["age_at_diagnosis"].astype("Int64")
    parts.append(pd.DataFrame({"age_55_or_older": age.ge(55).astype("boolean")}, index=idx))

    # populations
    surg = _per_patient(surgery, pid, ["curative_surgery", "resection_status"])
    operated = analysis & surg["curative_surgery"].fillna(False).to_numpy(bool)
    r0r1 = operated & surg["resection_status"].isin(["R0", "R1"]).to_numpy(bool)
    parts.append(pd.DataFrame({
        "enrolled": _bool(np.ones(len(idx), dtype=bool), idx),
        "eligible": elig["eligible"].astype("boolean"),
        "failed_criteria": elig["failed_criteria"].astype("str"),
        "analysis_set": _bool(analysis, idx), "safety_set": _bool(safety, idx), "response_set": _bool(response_set, idx),
        "operated_set": _bool(operated, idx), "r0r1_set": _bool(r0r1, idx),
    }, index=idx))

    # baseline disease
    dx = _per_patient(T["diagnosis"], pid, _DIAGNOSIS + list(INVASION_FIELDS))
    hist = dx["histology"].astype("str")
    base = dx[_DIAGNOSIS].copy()
    base.insert(1, "histology_group", hist.map(HISTOLOGY_GROUPS).astype("str"))
    inv = dx[list(INVASION_FIELDS)].astype("boolean")
    known = inv.notna().all(axis=1)
    # the list of invaded structures is spelled once per distinct combination (a bit mask per patient)
    flags = np.column_stack([inv[f].fillna(False).to_numpy(bool) for f in INVASION_FIELDS]) if len(idx) else np.zeros((0, len(INVASION_FIELDS)), bool)
    mask = flags.astype(np.int64) @ (1 << np.arange(len(INVASION_FIELDS), dtype=np.int64))
    combos, mcode = np.unique(mask, return_inverse=True)
    spelled = [";".join(f.removeprefix("invasion_") for i, f in enumerate(INVASION_FIELDS) if m >> i & 1) or "none" for m in combos]
    base.insert(base.columns.get_loc("cm") + 1, "n_invaded_structures",
                pd.Series(flags.sum(axis=1), index=idx).astype("Int64").where(known))
    base.insert(base.columns.get_loc("n_invaded_structures") + 1, "invaded_structures",
                text_from_codes(np.where(known.to_numpy(bool), mcode.reshape(-1), -1), spelled, index=idx))
    parts.append(base)
    parts.append(_per_patient(pathology, pid, ["clinical_stage"]))

    parts.append(_per_patient(exposure, pid, _FROM_EXPOSURE))
    parts.append(pd.DataFrame({"response_source": source.where(response_set)}, index=idx).astype("str"))
    parts.append(_per_patient(endpoints, pid, _FROM_RESPONSE, {"reference_date": "response_reference_date"}))
    parts.append(_per_patient(biochem, pid, _FROM_BIOCHEM))
    parts.append(_per_patient(pathology, pid, [c for c in _FROM_PATHOLOGY if c != "clinical_stage"]))
    parts.append(_per_patient(surgery, pid, _FROM_SURGERY, {"surgery_date": "index_surgery_date"}))
    parts.append(_per_patient(risk, pid, _FROM_RISK))
    ar = _per_patient(ata_resp, pid, _FROM_ATA_RESPONSE)
    parts.append(ar)
    rk = _per_patient(risk, pid, ["ata_risk"])
    dyn = ata_dynamic_risk(rk["ata_risk"].astype("str"), ar["response_to_therapy"].astype("str"))
    parts.append(dyn[["restratified_risk", "restratified_risk_statement"]])

    # time-to-event, wide
    wide = {}
    if len(tte) and "paramcd" in tte:
        # per parameter, the first row of each patient, matched on hashed codes
        ppos = positions(tte["patient_id"], pid)
        pcode = positions(tte["paramcd"], list(TTE_PARAMETERS))
        for k, p in enumerate(TTE_PARAMETERS):
            rows = np.flatnonzero((pcode == k) & (ppos >= 0))
            if not len(rows):
                continue
            first_pos, first = np.unique(ppos[rows], return_index=True)
            take = np.full(len(idx), -1, dtype=np.int64)
            take[first_pos] = rows[first]
            for c in ("time_days", "time_months", "event", "event_type"):
                col = tte[c]
                wide[f"{p.lower()}_{c}"] = pd.array(col, dtype=_nullable(col.dtype), copy=False).take(take, allow_fill=True)
    tw = pd.DataFrame(wide, index=idx)
    for p in TTE_PARAMETERS:
        for c, dtype in (("time_days", "Int64"), ("time_months", "Float64"), ("event", "Int64"), ("event_type", "Int64")):
            name = f"{p.lower()}_{c}"
            tw[name] = tw[name].astype(dtype) if name in tw else pd.Series(pd.NA, index=idx, dtype=dtype)
    parts.append(tw[[f"{p.lower()}_{c}" for p in TTE_PARAMETERS for c in ("time_days", "time_months", "event", "event_type")]])

    out = pd.concat(parts, axis=1)
    for c in out.columns:  # module outputs of missing derivations come back as object columns
        if out[c].dtype == object:
            out[c] = out[c].astype("str")
    return out.reset_index(drop=True)

