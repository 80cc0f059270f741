"""A small, valid, hand-built study (two patients, every form) for the validation tests.

Not a test module by itself; the tests import :func:`valid_tables` / :func:`make_study` and change
single cells to provoke exactly one rule.  Values follow the dictionary and the protocol.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from latc.dictionary import load_dictionary
from latc.io import ROW, Study

DATA_CUT = date(2026, 6, 30)
A, B = "C01-0001", "C02-0001"  # A: neoadjuvant (C01); B: upfront surgery (C02), died
NO_INVASION = dict(invasion_strap_muscles="1", invasion_trachea="1", invasion_larynx="0", invasion_esophagus="0",
                   invasion_rln="1", invasion_skin="0", invasion_carotid="0", invasion_prevertebral="0",
                   invasion_mediastinal_vessels="0")
ELIGIBLE = dict(inc_age_14="1", inc_ecog_0_2="1", inc_confirmed_carcinoma="1", inc_t4_mdt="1",
                inc_m1_benefit_documented="na", inc_measurable_lesion="1", inc_organ_function="1", inc_consent="1",
                exc_refuses_biopsy_surgery="0", exc_prior_neck_surgery="0", exc_prior_cancer_treatment="0",
                exc_concurrent_malignancy="0", exc_uncontrolled_systemic="0", exc_pregnancy="0")


def valid_rows() -> dict[str, list[dict[str, str]]]:
    """Form → list of rows (dicts of raw text)."""
    a = dict(patient_id=A, center_id="C01")
    b = dict(patient_id=B, center_id="C02")
    dx = dict(histology="ptc", histology_subtype="classic", diagnosis_basis="histology", primary_size_mm="45",
              ct="T4a", cn="N1b", cm="M0", braf_v600e="positive", ras="negative", ret="negative",
              tert_promoter="not_tested", fusion="none", baseline_resectability="borderline", planned_laryngectomy="0",
              planned_tracheal_resection="shave", planned_esophageal_resection="0", **NO_INVASION)
    surgery = dict(surgery_id="1", surgical_intent="curative", thyroidectomy_extent="total",
                   central_neck_dissection="bilateral", lateral_neck_dissection="unilateral", tracheal_resection="shave",
                   laryngectomy="none", esophageal_resection="none", rln_resected="0", vascular_resection="0",
                   tracheostomy="0", resection_status="R0", operative_time_min="240", blood_loss_ml="300",
                   length_of_stay_days="6")
    patho = dict(surgery_id="1", histology="ptc", pt="T3b", pn="N1a", tumor_size_mm="12",
                 extrathyroidal_extension="gross_strap", vascular_invasion="focal", lymphatic_invasion="1",
                 margin_status="negative", nodes_examined="20", nodes_positive="3", largest_node_metastasis_mm="8",
                 extranodal_extension="0")
    return {
        "patients": [
            dict(a, cohort="neoadjuvant", diagnosis_date="2022-01-10", treatment_decision_date="2022-01-20",
                 enrollment_date="2022-01-25", age_at_diagnosis="56", sex="female", ecog="1", consent="1",
                 consent_date="2022-01-24"),
            dict(b, cohort="upfront_surgery", diagnosis_date="2022-02-01", treatment_decision_date="2022-02-10",
                 enrollment_date="2022-02-12", age_at_diagnosis="63", sex="male", ecog="0", consent="1",
                 consent_date="2022-02-11"),
        ],
        "eligibility": [dict(a, **ELIGIBLE), dict(b, **ELIGIBLE)],
        "diagnosis": [dict(a, **dx), dict(b, **dict(dx, ct="T4b", cn="N0", histology="mtc", histology_subtype="not_applicable"))],
        "treatments": [dict(a, course_id="1", agent="lenvatinib", agent_class="mki", start_date="2022-02-01",
                            stop_date="2022-05-01", start_dose="24", dose_unit="mg_day", dose_reduced="1",
                            interrupted="0", final_dose="20", reason_stopped="planned_surgery")],
        "lesions": [
            dict(a, lesion_id="T1", site="thyroid", lesion_role="target", is_lymph_node="0", baseline_date="2022-01-28",
                 baseline_diameter_mm="42", imaging_modality="ct"),
            dict(a, lesion_id="T2", site="neck_node", lesion_role="target", is_lymph_node="1", baseline_date="2022-01-28",
                 baseline_diameter_mm="18", imaging_modality="ct"),
            dict(a, lesion_id="NT1", site="lung", lesion_role="non_target", is_lymph_node="0", baseline_date="2022-01-28",
                 imaging_modality="ct"),
        ],
        "lesion_assessments": [
            dict(a, lesion_id="T1", assessment_date="2022-03-28", measurement_status="measured", diameter_mm="30", is_new_lesion="0"),
            dict(a, lesion_id="T1", assessment_date="2022-04-28", measurement_status="measured", diameter_mm="25", is_new_lesion="0"),
            dict(a, lesion_id="T2", assessment_date="2022-03-28", measurement_status="measured", diameter_mm="12", is_new_lesion="0"),
            dict(a, lesion_id="NT1", assessment_date="2022-03-28", measurement_status="not_applicable",
                 non_target_status="present", is_new_lesion="0"),
        ],
        "timepoint_responses": [dict(a, assessment_date="2022-03-28", overall_response="PR", assessor="investigator")],
        "labs": [
            dict(a, lab_date="2022-01-28", test="tg", value="150", unit="ng_ml", below_detection="0", stimulated="0"),
            dict(a, lab_date="2022-02-05", test="tg", value="120", unit="ng_ml", below_detection="0", stimulated="0"),
            dict(a, lab_date="2022-01-28", test="tgab", value="10", unit="iu_ml", below_detection="0", upper_reference_limit="40"),
        ],
        "adverse_events": [dict(a, ae_id="1", ctcae_term="hypertension", grade="2", start_date="2022-02-15",
                                stop_date="2022-03-15", serious="0", attribution="possible", action_taken="dose_reduced",
                                surgical_delay="0")],
        "surgery": [dict(a, surgery_date="2022-05-20", **surgery),
                    dict(b, surgery_date="2022-03-01", **dict(surgery, tracheal_resection="none"))],
        "complications": [dict(a, complication_id="1", surgery_id="1", complication_type="rln_palsy", rln_side="left",
                               clavien_dindo="II", onset_date="2022-05-21", resolved="1", resolution_date="2022-08-01")],
        "pathology": [dict(a, tnm_prefix="yp", viable_tumor_pct="30", **patho),
                      dict(b, tnm_prefix="p", **dict(patho, histology="mtc", pt="T4b"))],
        "adjuvant": [dict(a, course_id="1", therapy="rai", start_date="2022-07-01", rai_activity_mbq="3700")],
        "follow_up": [
            dict(a, visit_date="2022-09-01", vital_status="alive", imaging_result="negative", recurrence="0"),
            dict(a, visit_date="2023-09-01", vital_status="alive", imaging_result="structural_disease", recurrence="1",
                 recurrence_date="2023-08-20", recurrence_site="regional", recurrence_type="structural"),
            dict(b, visit_date="2022-09-01", vital_status="alive", imaging_result="negative", recurrence="0"),
            dict(b, visit_date="2023-01-05", vital_status="dead", death_date="2022-12-20", cause_of_death="thyroid_cancer",
                 imaging_result="not_done", recurrence="0"),
        ],
        "biospecimens": [dict(a, sample_id="C01-0001-TUMOUR_BL", collection_date="2022-01-28", timepoint="baseline",
                              tissue="tumour", assay="scrna_seq", file_ref="sc/C01-0001_baseline.h5ad")],
    }


def table(rows: list[dict[str, str]], form: str) -> pd.DataFrame:
    """Raw table per CONTRACTS.md: every field a ``str`` column (blank → NA), extras kept, ``_row``."""
    d = load_dictionary()
    fields = d.forms[form].field_names
    extras = [c for r in rows for c in r if c not in fields and c != ROW]
    cols = fields + list(dict.fromkeys(extras))
    df = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype="str") for c in cols})
    df[ROW] = np.arange(len(rows), dtype=np.int64) + 2
    return df


def make_study(rows: dict[str, list[dict[str, str]]] | None = None) -> Study:
    rows = valid_rows() if rows is None else rows
    d = load_dictionary()
    tables = {form: table(rows.get(form, []), form) for form in d.forms}
    return Study(tables=tables, sources={f: f"{f}.csv" for f in d.forms}, format="csv")


def edit(form: str, i: int, **changes: str | None) -> Study:
    """The valid study with row ``i`` of ``form`` changed (None blanks a cell)."""
    rows = valid_rows()
    rows[form][i] = {**rows[form][i], **changes}
    return make_study(rows)
