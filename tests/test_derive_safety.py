"""Safety: CTCAE v5.0 adverse events (treatment-emergence, relatedness, worst grade per patient
per term, summaries over the safety population) and exposure (docs/derivations/safety.md).

Conventions checked: NCI CTCAE v5.0 (grades 1–5; grade 5 = death related to the AE; tables count
a patient once per term at the worst grade); NCI attribution scale (possible / probable /
definite = related); TEAE window = first dose .. min(day before surgery, last dose + 30 days).
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.safety import (
    KI_TOXICITY_GROUPS,
    adverse_event_analysis,
    ae_overview,
    ae_summary_by_term,
    exposure_by_agent,
    treatment_exposure,
)

D = pd.Timestamp


def _patients(spec):
    """spec: {patient_id: cohort}"""
    return pd.DataFrame({"patient_id": list(spec), "center_id": "C01", "cohort": list(spec.values())})


COURSE = {
    "patient_id": "C01-001", "center_id": "C01", "course_id": 1, "agent": "lenvatinib", "agent_class": "mki",
    "start_date": "2024-01-01", "stop_date": "2024-03-31", "start_dose": 24.0, "dose_unit": "mg_day",
    "dose_reduced": False, "interrupted": False, "final_dose": None, "reason_stopped": "planned_surgery",
}


def _treatments(*rows):
    df = pd.DataFrame([{**COURSE, **r} for r in rows], columns=list(COURSE))
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["stop_date"] = pd.to_datetime(df["stop_date"])
    df["start_dose"] = df["start_dose"].astype("Float64")
    df["final_dose"] = df["final_dose"].astype("Float64")
    df["dose_reduced"] = df["dose_reduced"].astype("boolean")
    df["interrupted"] = df["interrupted"].astype("boolean")
    df["course_id"] = df["course_id"].astype("Int64")
    return df


def _surgery(pid="C01-001", date="2024-04-15"):
    return pd.DataFrame({"patient_id": [pid], "surgery_id": [1], "surgery_date": [D(date)]})


AE = {
    "patient_id": "C01-001", "center_id": "C01", "ae_id": 1, "ctcae_term": "hypertension", "grade": "2",
    "start_date": "2024-02-01", "stop_date": None, "serious": False, "attribution": "probable",
    "action_taken": "none", "surgical_delay": False,
}


def _aes(*rows):
    df = pd.DataFrame([{**AE, "ae_id": i + 1, **r} for i, r in enumerate(rows)], columns=list(AE))
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["stop_date"] = pd.to_datetime(df["stop_date"])
    df["serious"] = df["serious"].astype("boolean")
    df["surgical_delay"] = df["surgical_delay"].astype("boolean")
    df["grade"] = df["grade"].astype("str")
    return df


# --- treatment-emergence window ------------------------------------------------------------

# first dose 2024-01-01, last dose 2024-03-31 (+30 days = 2024-04-30), surgery 2024-04-15
@pytest.mark.parametrize("onset,surgery,expected", [
    ("2023-12-31", "2024-04-15", False),   # before the first dose
    ("2024-01-01", "2024-04-15", True),    # day of the first dose
    ("2024-04-14", "2024-04-15", True),    # day before surgery
    ("2024-04-15", "2024-04-15", False),   # day of surgery: a postoperative event
    ("2024-04-30", None, True),            # no surgery: last dose + 30 days
    ("2024-05-01", None, False),           # last dose + 31 days
    ("2024-04-30", "2024-06-01", True),    # surgery late: the 30-day window ends first
    ("2024-05-01", "2024-06-01", False),
])
def test_teae_window(onset, surgery, expected):
    ae, problems = adverse_event_analysis({"adverse_events": _aes({"start_date": onset}),
                                           "patients": _patients({"C01-001": "neoadjuvant"}), "treatments": _treatments({}),
                                           "surgery": _surgery(date=surgery) if surgery else None})
    assert problems.empty
    assert bool(ae.loc[0, "treatment_emergent"]) is expected


def test_window_days_is_a_parameter_and_window_end_reported():
    ae, _ = adverse_event_analysis({"adverse_events": _aes({"start_date": "2024-05-10"}),
                                    "patients": _patients({"C01-001": "neoadjuvant"}), "treatments": _treatments({})},
                                   days_after_last_dose=45)
    assert ae.loc[0, "teae_window_end"] == D("2024-05-15")
    assert ae.loc[0, "treatment_emergent"] == True  # noqa: E712
    assert ae.loc[0, "days_from_first_dose"] == 130


def test_upfront_and_undosed_patients_have_no_teae():
    pts = _patients({"C01-001": "neoadjuvant", "C01-002": "upfront_surgery", "C01-003": "neoadjuvant"})
    aes = _aes({}, {"patient_id": "C01-002"}, {"patient_id": "C01-003"})
    ae, _ = adverse_event_analysis({"adverse_events": aes, "patients": pts, "treatments": _treatments({})})
    assert ae["treatment_emergent"].tolist() == [True, False, False]
    assert ae["safety_population"].tolist() == [True, False, False]


def test_last_dose_across_courses_sets_the_window():
    tx = _treatments({}, {"course_id": 2, "agent": "pembrolizumab", "agent_class": "ici", "start_date": "2024-01-01",
                          "stop_date": "2024-04-20", "start_dose": 200.0, "dose_unit": "mg_q3w"})
    ae, _ = adverse_event_analysis({"adverse_events": _aes({"start_date": "2024-05-20"}, {"start_date": "2024-05-21"}),
                                    "patients": _patients({"C01-001": "neoadjuvant"}), "treatments": tx})
    assert ae["treatment_emergent"].tolist() == [True, False]
    assert ae.loc[0, "agent_class"] == "mki+ici"


# --- relatedness, grade, actions -------------------------------------------------------------

@pytest.mark.parametrize("attribution,related", [
    ("unrelated", False), ("unlikely", False), ("possible", True), ("probable", True), ("definite", True),
])
def test_related_attributions(attribution, related):
    ae, _ = adverse_event_analysis({"adverse_events": _aes({"attribution": attribution}),
                                    "patients": _patients({"C01-001": "neoadjuvant"}), "treatments": _treatments({})})
    assert bool(ae.loc[0, "related"]) is related


def test_grade_actions_and_groups():
    aes = _aes({"grade": "3", "action_taken": "dose_reduced"}, {"grade": "5", "ctcae_term": "tracheal_fistula",
                                                                "action_taken": "discontinued", "serious": True},
               {"grade": "2", "ctcae_term": "fatigue", "action_taken": "interrupted", "surgical_delay": True})
    ae, _ = adverse_event_analysis({"adverse_events": aes, "patients": _patients({"C01-001": "neoadjuvant"}),
                                    "treatments": _treatments({})})
    assert ae["grade_3_plus"].tolist() == [True, True, False]
    assert ae["fatal"].tolist() == [False, True, False]
    assert ae["dose_reduced"].tolist() == [True, False, False]
    assert ae["discontinued"].tolist() == [False, True, False]
    assert ae["interrupted"].tolist() == [False, False, True]
    assert ae["surgical_delay"].tolist() == [False, False, True]
    assert ae["ki_toxicity_group"].tolist()[:2] == ["hypertension", "fistula"] and pd.isna(ae.loc[2, "ki_toxicity_group"])


def test_kinase_inhibitor_groups_cover_the_named_toxicities():
    groups = {}
    for term, group in KI_TOXICITY_GROUPS.items():
        groups.setdefault(group, set()).add(term)
    assert groups == {
        "hypertension": {"hypertension"}, "proteinuria": {"proteinuria"},
        "bleeding": {"pharyngeal_hemorrhage", "tracheal_hemorrhage"},
        "wound_healing": {"wound_dehiscence", "wound_complication"},
        "fistula": {"tracheal_fistula", "esophageal_fistula"},
    }


# --- summaries -------------------------------------------------------------------------------

def _cohort():
    """Four dosed neoadjuvant patients (3 MKI, 1 BRAF/MEK), one upfront, one neoadjuvant without dose."""
    pts = _patients({"C01-001": "neoadjuvant", "C01-002": "neoadjuvant", "C01-003": "neoadjuvant",
                     "C01-004": "neoadjuvant", "C01-005": "upfront_surgery", "C01-006": "neoadjuvant"})
    tx = _treatments({}, {"patient_id": "C01-002"}, {"patient_id": "C01-003"},
                     {"patient_id": "C01-004", "agent": "dabrafenib", "agent_class": "braf_mek", "start_dose": 300.0})
    aes = _aes(
        {"grade": "2"}, {"grade": "3", "start_date": "2024-03-01"},   # same patient, same term: counts once, at grade 3
        {"patient_id": "C01-002", "grade": "1"},
        {"patient_id": "C01-002", "grade": "4", "start_date": "2023-12-01"},   # before the first dose: not a TEAE
        {"patient_id": "C01-004", "ctcae_term": "fever", "grade": "1", "attribution": "unlikely"},
        {"patient_id": "C01-005", "grade": "3"},                             # upfront: not in the safety population
        {"patient_id": "C01-006", "grade": "3"},                             # no dose
    )
    ae, problems = adverse_event_analysis({"adverse_events": aes, "patients": pts, "treatments": tx})
    expo, _ = treatment_exposure({"patients": pts, "treatments": tx})
    return ae, expo, problems


def test_safety_population():
    _, expo, problems = _cohort()
    assert problems.empty
    assert expo.loc[expo["safety_population"].to_numpy(dtype=bool), "patient_id"].tolist() == ["C01-001", "C01-002", "C01-003", "C01-004"]


def test_worst_grade_per_patient_per_term_and_denominator():
    ae, expo, _ = _cohort()
    s = ae_summary_by_term(ae, expo).set_index("ctcae_term")
    assert s.loc["hypertension", "n_safety"] == 4
    assert s.loc["hypertension", "patients_any_grade"] == 2     # C01-001 (twice) and C01-002
    assert s.loc["hypertension", "percent_any_grade"] == pytest.approx(50.0)
    assert s.loc["hypertension", "patients_grade_3_plus"] == 1  # C01-001 at worst grade 3
    assert s.loc["hypertension", "percent_grade_3_plus"] == pytest.approx(25.0)
    assert s.loc["hypertension", ["patients_worst_grade_1", "patients_worst_grade_2", "patients_worst_grade_3"]].tolist() == [1, 0, 1]
    assert s.loc["fever", "patients_any_grade"] == 1 and s.loc["fever", "percent_any_grade"] == pytest.approx(25.0)
    assert list(s.index) == ["hypertension", "fever"]  # most frequent first


def test_summary_by_agent_class_uses_each_group_denominator():
    ae, expo, _ = _cohort()
    s = ae_summary_by_term(ae, expo, by="agent_class").set_index(["agent_class", "ctcae_term"])
    assert s.loc[("mki", "hypertension"), "n_safety"] == 3
    assert s.loc[("mki", "hypertension"), "percent_any_grade"] == pytest.approx(200 / 3)
    assert s.loc[("braf_mek", "fever"), "n_safety"] == 1
    assert s.loc[("braf_mek", "fever"), "percent_any_grade"] == pytest.approx(100.0)


def test_summary_by_kinase_inhibitor_group():
    ae, expo, _ = _cohort()
    s = ae_summary_by_term(ae, expo, term="ki_toxicity_group")
    assert s["ki_toxicity_group"].tolist() == ["hypertension"]
    assert s.loc[0, "patients_any_grade"] == 2


def test_all_events_option_includes_non_teae_of_the_safety_population():
    ae, expo, _ = _cohort()
    s = ae_summary_by_term(ae, expo, treatment_emergent_only=False).set_index("ctcae_term")
    assert s.loc["hypertension", "patients_grade_3_plus"] == 2  # C01-002's pre-treatment grade 4 now counts


def test_overview():
    ae, expo, _ = _cohort()
    o = ae_overview(ae, expo).set_index("measure")
    assert o.loc["any", ["n_safety", "patients", "events"]].tolist() == [4, 3, 4]
    assert o.loc["grade_3_plus", ["patients", "events"]].tolist() == [1, 1]
    assert o.loc["related", "patients"] == 2       # fever of C01-004 is "unlikely"
    assert o.loc["fatal", "patients"] == 0 and o.loc["fatal", "percent"] == 0
    assert o.loc["any", "percent"] == pytest.approx(75.0)
    assert list(o.index)[:3] == ["any", "grade_3_plus", "serious"]


# --- exposure --------------------------------------------------------------------------------

def test_exposure_durations():
    pts = _patients({"C01-001": "neoadjuvant"})
    tx = _treatments({"stop_date": "2024-01-31"},
                     {"course_id": 2, "agent": "pembrolizumab", "agent_class": "ici", "start_date": "2024-01-15",
                      "stop_date": "2024-03-10", "start_dose": 200.0, "dose_unit": "mg_q3w", "reason_stopped": "toxicity"})
    expo, problems = treatment_exposure({"patients": pts, "treatments": tx, "surgery": _surgery(date="2024-03-20")})
    assert problems.empty
    r = expo.iloc[0]
    assert r["exposure_days"] == 70          # 1 Jan .. 10 Mar inclusive (2024: 31 + 29 + 10)
    assert r["agents"] == "lenvatinib+pembrolizumab" and r["n_agents"] == 2 and r["agent_class"] == "mki+ici"
    assert r["discontinued_for_toxicity"] == True  # noqa: E712
    assert r["first_surgery_date"] == D("2024-03-20")
    by_agent, _ = exposure_by_agent(tx)
    days = dict(zip(by_agent["agent"], by_agent["days_on_agent"]))
    assert days == {"lenvatinib": 31, "pembrolizumab": 56}


def test_dose_intensity_bounds_for_a_reduced_daily_agent():
    # 24 mg/day for 100 days, reduced to 20 mg on an unknown day
    tx = _treatments({"stop_date": "2024-04-09", "dose_reduced": True, "final_dose": 20.0})
    r = exposure_by_agent(tx)[0].iloc[0]
    assert r["days_on_agent"] == 100
    assert r["planned_cumulative_dose"] == 2400
    assert r["cumulative_dose_min"] == 2000          # reduced from day 1
    assert r["cumulative_dose_max"] == 24 * 99 + 20  # reduced on the last day
    assert r["relative_dose_intensity_min"] == pytest.approx(20 / 24)
    assert r["relative_dose_intensity_max"] == pytest.approx((24 * 99 + 20) / 2400)
    assert r["relative_dose_intensity_mid"] == pytest.approx((20 / 24 + (24 * 99 + 20) / 2400) / 2)


def test_dose_intensity_unreduced_and_cycle_based_agents():
    tx = _treatments({}, {"course_id": 2, "agent": "pembrolizumab", "agent_class": "ici", "start_dose": 200.0, "dose_unit": "mg_q3w"})
    r = exposure_by_agent(tx)[0].set_index("agent")
    assert r.loc["lenvatinib", "relative_dose_intensity_min"] == 1.0 == r.loc["lenvatinib", "relative_dose_intensity_max"]
    assert pd.isna(r.loc["pembrolizumab", "relative_dose_intensity_mid"])


def test_courses_of_one_agent_are_pooled_against_the_first_start_dose():
    tx = _treatments({"stop_date": "2024-01-10"},
                     {"course_id": 2, "start_date": "2024-02-01", "stop_date": "2024-02-10", "start_dose": 12.0})
    r = exposure_by_agent(tx)[0].iloc[0]
    assert r["n_courses"] == 2 and r["days_on_agent"] == 20
    assert r["relative_dose_intensity_min"] == pytest.approx((24 * 10 + 12 * 10) / (24 * 20))


# --- bad input -------------------------------------------------------------------------------

def test_bad_values_become_problems_not_exceptions():
    aes = _aes({"grade": "6"}, {"attribution": "maybe"}, {"action_taken": "paused"}, {"ctcae_term": "sneezing"},
               {"patient_id": "C09-999"}, {"stop_date": "2024-01-15"})
    tx = _treatments({"dose_reduced": True, "final_dose": None},
                     {"patient_id": "C01-002", "start_date": "2024-03-01", "stop_date": "2024-02-01"})
    ae, problems = adverse_event_analysis({"adverse_events": aes,
                                           "patients": _patients({"C01-001": "neoadjuvant", "C01-002": "neoadjuvant"}),
                                           "treatments": tx})
    rules = set(problems["rule"])
    assert {"unknown_grade", "unknown_attribution", "unknown_action_taken", "unknown_ctcae_term", "unknown_patient",
            "stop_before_onset", "final_dose_missing", "stop_before_start"} <= rules
    assert pd.isna(ae.loc[0, "grade"]) and pd.isna(ae.loc[1, "related"])
    assert pd.isna(ae.loc[4, "treatment_emergent"])
    r = exposure_by_agent(tx)[0].set_index("patient_id")
    assert pd.isna(r.loc["C01-001", "relative_dose_intensity_min"])
    assert pd.isna(r.loc["C01-002", "days_on_agent"])


def test_raw_text_input_is_accepted():
    aes = _aes({}).astype(object)
    aes.loc[0, "start_date"] = "2024-02-01"
    aes.loc[0, "serious"] = "0"
    aes.loc[0, "surgical_delay"] = "yes?"
    aes.loc[0, "stop_date"] = "2024-02-31"
    ae, problems = adverse_event_analysis({"adverse_events": aes, "patients": _patients({"C01-001": "neoadjuvant"}),
                                           "treatments": _treatments({})})
    assert ae.loc[0, "treatment_emergent"] == True and ae.loc[0, "serious"] == False  # noqa: E712
    assert {"invalid_yesno", "invalid_date"} <= set(problems["rule"])


def test_empty_tables():
    pts = _patients({"C01-001": "neoadjuvant"})
    ae, problems = adverse_event_analysis({"adverse_events": _aes({}).iloc[0:0], "patients": pts,
                                           "treatments": _treatments({}).iloc[0:0]})
    expo, _ = treatment_exposure({"patients": pts, "treatments": _treatments({}).iloc[0:0]})
    assert ae.empty and problems.empty
    assert expo.loc[0, "safety_population"] == False  # noqa: E712
    assert ae_summary_by_term(ae, expo).empty
    o = ae_overview(ae, expo)
    assert (o["n_safety"] == 0).all() and o["percent"].isna().all()
    assert exposure_by_agent(_treatments({}).iloc[0:0])[0].empty
