"""Eligibility per the protocol (STUDY.md "Inclusion criteria" / "Exclusion criteria"): each
criterion has a failing and a passing worked case; contradictions between the recorded answer and
the data are warning queries, ineligibility itself is not a query."""

from __future__ import annotations

import pytest

from latc.validate import validate_study
from test_validate_fixtures import A, B, DATA_CUT, make_study, valid_rows


def run_with(changes: list[tuple[str, int, dict]]):
    rows = valid_rows()
    for form, i, ch in changes:
        rows[form][i] = {**rows[form][i], **ch}
    return validate_study(make_study(rows), data_cut=DATA_CUT)


def patient(r, pid=A):
    return r.eligibility.set_index("patient_id").loc[pid]


def contradictions(r):
    q = r.queries
    return q[q["rule"] == "eligibility_contradiction"]


def test_valid_patients_are_eligible_in_both_cohorts():
    r = run_with([])
    e = r.eligibility.set_index("patient_id")
    assert e["eligible"].tolist() == [True, True]
    assert e.loc[A, "cohort"] == "neoadjuvant" and e.loc[B, "cohort"] == "upfront_surgery"
    assert (e["failed_criteria"] == "").all()
    # RECIST-measurable lesion: not applicable to the upfront-surgery control cohort (missing)
    assert e.loc[A, "measurable_lesion"] is True or bool(e.loc[A, "measurable_lesion"])
    assert str(e.loc[B, "measurable_lesion"]) == "<NA>"


FAILING = [
    # (criterion, changes, a contradiction query expected on field)
    ("age_14_or_older", [("eligibility", 0, {"inc_age_14": "0"})], "inc_age_14"),
    ("age_14_or_older", [("patients", 0, {"age_at_diagnosis": "12"})], "inc_age_14"),
    ("ecog_0_to_2", [("patients", 0, {"ecog": "3"})], "inc_ecog_0_2"),
    ("confirmed_carcinoma", [("eligibility", 0, {"inc_confirmed_carcinoma": "0"})], "inc_confirmed_carcinoma"),
    ("clinical_t4_n0_1", [("diagnosis", 0, {"ct": "T3b"})], "inc_t4_mdt"),
    ("clinical_t4_n0_1", [("eligibility", 0, {"inc_t4_mdt": "0"})], "inc_t4_mdt"),
    ("m1_surgical_benefit_documented", [("diagnosis", 0, {"cm": "M1", "distant_metastasis_sites": "lung"})],
     "inc_m1_benefit_documented"),
    ("m1_surgical_benefit_documented", [("diagnosis", 0, {"cm": "M1", "distant_metastasis_sites": "lung"}),
                                        ("eligibility", 0, {"inc_m1_benefit_documented": "no"})], None),
    ("measurable_lesion", [("lesions", 0, {"baseline_diameter_mm": "8"}), ("lesions", 1, {"baseline_diameter_mm": "14"})],
     "inc_measurable_lesion"),
    ("measurable_lesion", [("eligibility", 0, {"inc_measurable_lesion": "0"})], "inc_measurable_lesion"),
    ("normal_organ_function", [("eligibility", 0, {"inc_organ_function": "0"})], None),
    ("informed_consent", [("eligibility", 0, {"inc_consent": "0"})], "inc_consent"),
    ("no_refusal_of_biopsy_or_surgery", [("eligibility", 0, {"exc_refuses_biopsy_surgery": "1"})], None),
    ("no_prior_neck_surgery", [("eligibility", 0, {"exc_prior_neck_surgery": "1"})], None),
    ("no_prior_cancer_treatment", [("eligibility", 0, {"exc_prior_cancer_treatment": "1"})], None),
    ("no_concurrent_malignancy", [("eligibility", 0, {"exc_concurrent_malignancy": "1"})], None),
    ("no_uncontrolled_systemic_disease", [("eligibility", 0, {"exc_uncontrolled_systemic": "1"})], None),
    ("not_pregnant_or_breastfeeding", [("eligibility", 0, {"exc_pregnancy": "1"})], None),
]


@pytest.mark.parametrize("criterion,changes,contradicted", FAILING)
def test_each_criterion_fails(criterion, changes, contradicted):
    r = run_with(changes)
    p = patient(r)
    assert not bool(p["eligible"])
    assert not bool(p[criterion])
    assert criterion in p["failed_criteria"].split(";")
    c = contradictions(r)
    if contradicted:
        assert c["field"].tolist() == [contradicted] and c["severity"].tolist() == ["warning"]
        assert int(c["row"].iloc[0]) == 2 and c["patient_id"].iloc[0] == A
    else:
        assert c.empty
    # ineligibility is not a data problem: the eligibility row stays clean
    assert len(r.clean["eligibility"]) == 2
    assert bool(patient(r, B)["eligible"])


PASSING = [
    # STUDY.md "Age ≥ 14 years at enrollment": 13 at diagnosis, enrolled 1.25 years later → ≥ 14.25
    ("age_14_or_older", [("patients", 0, {"age_at_diagnosis": "13", "enrollment_date": "2023-04-10"})]),
    ("ecog_0_to_2", [("patients", 0, {"ecog": "2"})]),
    ("confirmed_carcinoma", [("diagnosis", 0, {"histology": "atc"})]),
    # "clinical stage T4N0-1": NX (nodes not assessable) does not contradict T4N0-1
    ("clinical_t4_n0_1", [("diagnosis", 0, {"ct": "T4b", "cn": "NX"})]),
    ("m1_surgical_benefit_documented", [("diagnosis", 0, {"cm": "M1", "distant_metastasis_sites": "lung"}),
                                        ("eligibility", 0, {"inc_m1_benefit_documented": "yes"})]),
    # RECIST 1.1 §3.1.1: a node of exactly 15 mm short axis is measurable
    ("measurable_lesion", [("lesions", 0, {"baseline_diameter_mm": "8"}), ("lesions", 1, {"baseline_diameter_mm": "15"})]),
    ("measurable_lesion", [("lesions", 0, {"baseline_diameter_mm": "10"}), ("lesions", 1, {"baseline_diameter_mm": "14"})]),
    ("normal_organ_function", []),
    ("informed_consent", []),
    ("no_refusal_of_biopsy_or_surgery", []),
    ("no_prior_neck_surgery", []),
    ("no_prior_cancer_treatment", []),
    ("no_concurrent_malignancy", []),
    ("no_uncontrolled_systemic_disease", []),
    ("not_pregnant_or_breastfeeding", [("patients", 0, {"sex": "male"})]),
]


@pytest.mark.parametrize("criterion,changes", PASSING)
def test_each_criterion_passes(criterion, changes):
    r = run_with(changes)
    p = patient(r)
    assert bool(p[criterion]) and bool(p["eligible"]), p["failed_criteria"]
    assert contradictions(r).empty


def test_every_criterion_has_a_failing_and_a_passing_case():
    names = [c for c in run_with([]).eligibility.columns
             if c not in ("patient_id", "center_id", "cohort", "eligible", "failed_criteria")]
    assert {c for c, *_ in FAILING} == set(names) == {c for c, _ in PASSING}


def test_age_12_with_recorded_yes_is_a_contradiction_naming_the_age():
    r = run_with([("patients", 0, {"age_at_diagnosis": "12"})])
    msg = contradictions(r)["message"].iloc[0]
    assert "eligibility.csv row 2, field inc_age_14: 1" in msg and "age at diagnosis 12" in msg


def test_pregnancy_recorded_for_a_man_is_a_contradiction():
    r = run_with([("eligibility", 1, {"exc_pregnancy": "1"})])  # B is male
    c = contradictions(r)
    assert c["patient_id"].tolist() == [B] and c["field"].tolist() == ["exc_pregnancy"]
    assert not bool(patient(r, B)["eligible"])


def test_patient_without_an_eligibility_row_is_not_eligible():
    rows = valid_rows()
    rows["eligibility"] = rows["eligibility"][1:]
    r = validate_study(make_study(rows), data_cut=DATA_CUT)
    p = patient(r)
    assert not bool(p["eligible"]) and "informed_consent" in p["failed_criteria"]
