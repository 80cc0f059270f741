"""Surgical outcomes: index operation, R status, extent, organ preservation, Clavien–Dindo,
30-day events, transient vs permanent hypoparathyroidism / RLN palsy (docs/derivations/surgery.md).

Sources of the worked cases: Dindo, Demartines & Clavien, Ann Surg 2004;240:205 (Table 1, grade
order); Clavien et al., Ann Surg 2009;250:187 (major = grade >= III, i.e. IIIa and above);
Orloff et al., Thyroid 2018;28:830 (ATA statement: hypoparathyroidism permanent when it persists
> 6 months); Chandrasekhar et al., Otolaryngol Head Neck Surg 2013;148:S1 (RLN palsy, same horizon).
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.surgery import (
    CLAVIEN_DINDO_ORDER,
    clavien_dindo_grade,
    clavien_dindo_rank,
    complication_permanence,
    complications_analysis,
    index_operation,
    surgical_outcome_rates,
    surgical_outcome_summary,
    surgical_outcomes,
)

D = pd.Timestamp


def _patients(ids=("C01-001",), cohort="neoadjuvant", decision="2023-12-01"):
    return pd.DataFrame({
        "patient_id": list(ids), "center_id": "C01", "cohort": cohort,
        "treatment_decision_date": pd.to_datetime([decision] * len(ids)),
    })


def _diagnosis(ids=("C01-001",), lar=False, tr="none", eso=False):
    n = len(ids)
    return pd.DataFrame({
        "patient_id": list(ids), "baseline_resectability": "borderline",
        "planned_laryngectomy": pd.array([lar] * n, dtype="boolean"),
        "planned_tracheal_resection": [tr] * n,
        "planned_esophageal_resection": pd.array([eso] * n, dtype="boolean"),
    })


OP = {
    "patient_id": "C01-001", "center_id": "C01", "surgery_id": 1, "surgery_date": "2024-01-01",
    "surgical_intent": "curative", "thyroidectomy_extent": "total", "central_neck_dissection": "bilateral",
    "lateral_neck_dissection": "none", "tracheal_resection": "none", "laryngectomy": "none",
    "esophageal_resection": "none", "rln_resected": False, "vascular_resection": False, "tracheostomy": False,
    "resection_status": "R0", "operative_time_min": 200, "blood_loss_ml": 150, "length_of_stay_days": 5,
}


def _surgery(*rows):
    df = pd.DataFrame([{**OP, **r} for r in (rows or ({},))])
    df["surgery_date"] = pd.to_datetime(df["surgery_date"])
    for c in ("rln_resected", "vascular_resection", "tracheostomy"):
        df[c] = df[c].astype("boolean")
    return df


COMP = {
    "patient_id": "C01-001", "center_id": "C01", "complication_id": 1, "surgery_id": 1,
    "complication_type": "other", "rln_side": None, "clavien_dindo": "I", "onset_date": "2024-01-02",
    "resolved": True, "resolution_date": "2024-01-10", "last_assessed_date": None,
}


def _complications(*rows):
    cols = list(COMP)
    df = pd.DataFrame([{**COMP, "complication_id": i + 1, **r} for i, r in enumerate(rows)], columns=cols)
    for c in ("onset_date", "resolution_date", "last_assessed_date"):
        df[c] = pd.to_datetime(df[c])
    df["resolved"] = df["resolved"].astype("boolean")
    df["clavien_dindo"] = df["clavien_dindo"].astype("str")
    return df


def _outcome(comps=(), surgery=None, diagnosis=None, **kw):
    out, problems = surgical_outcomes({"patients": _patients(),
                                       "diagnosis": diagnosis if diagnosis is not None else _diagnosis(),
                                       "surgery": surgery if surgery is not None else _surgery(),
                                       "complications": _complications(*comps)}, **kw)
    return out.iloc[0], problems


# --- Clavien–Dindo ---------------------------------------------------------------------------

def test_clavien_dindo_order_dindo_2004_table_1():
    ranks = clavien_dindo_rank(pd.Series(list(CLAVIEN_DINDO_ORDER)))
    assert ranks.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert clavien_dindo_grade(ranks).tolist() == ["I", "II", "IIIa", "IIIb", "IVa", "IVb", "V"]
    # case and blanks are tolerated; an unsubdivided III or IV is not a 2004 grade
    assert clavien_dindo_rank(pd.Series(["iiia", " IVb "])).tolist() == [3, 6]
    assert clavien_dindo_rank(pd.Series(["III", "IV", "VI", None])).isna().all()


@pytest.mark.parametrize("grade,major", [
    ("I", False), ("II", False), ("IIIa", True), ("IIIb", True), ("IVa", True), ("IVb", True), ("V", True),
])
def test_major_complication_is_grade_iiia_or_more(grade, major):
    # Clavien 2009: grade III and above (intervention, ICU, death) are "major"; II (drugs only) is not
    row, _ = _outcome([{"clavien_dindo": grade}])
    assert bool(row["major_complication"]) is major
    assert row["max_clavien_dindo"] == grade


def test_max_grade_follows_the_clavien_order_not_the_alphabet():
    row, _ = _outcome([{"clavien_dindo": "II"}, {"clavien_dindo": "IIIb"}, {"clavien_dindo": "IIIa"}, {"clavien_dindo": "I"}])
    assert row["max_clavien_dindo"] == "IIIb"
    assert row["max_clavien_dindo_rank"] == 4
    assert row["n_complications"] == 4


def test_no_complication_after_an_operation_is_false_not_missing():
    row, _ = _outcome([])
    assert row["any_complication"] is False or row["any_complication"] == False  # noqa: E712
    assert row["n_complications"] == 0
    assert pd.isna(row["max_clavien_dindo"])
    assert row["major_complication"] == False  # noqa: E712


# --- transient vs permanent (6 calendar months) ---------------------------------------------

# Surgery 2024-01-01; the cut is 2024-07-01 = day 182 (2024 is a leap year).
@pytest.mark.parametrize("resolved,resolution,last,expected", [
    (True, "2024-06-30", None, "transient"),        # day 181
    (True, "2024-07-01", None, "transient"),        # day 182: exactly 6 months, not more
    (True, "2024-07-02", None, "permanent"),        # day 183: persisted > 6 months
    (False, None, "2024-07-01", "undetermined"),    # still present at 6 months, not seen after
    (False, None, "2024-07-02", "permanent"),       # still present after 6 months
    (False, None, "2024-03-01", "undetermined"),    # lost to follow-up early
    (True, None, None, "undetermined"),             # resolution date missing
])
def test_permanence_six_month_boundary(resolved, resolution, last, expected):
    out = complication_permanence(pd.Series([D("2024-01-01")]), pd.Series([resolved], dtype="boolean"),
                                  pd.Series([pd.to_datetime(resolution)]), pd.Series([pd.to_datetime(last)]))
    assert out.iloc[0] == expected


def test_permanence_cut_is_calendar_months_at_month_end():
    # 31 August + 6 months = 29 February (leap year), not 28 Feb or 2 March
    sx = pd.Series([D("2023-08-31")] * 2)
    out = complication_permanence(sx, pd.Series([True, True], dtype="boolean"),
                                  pd.Series([D("2024-02-29"), D("2024-03-01")]), pd.Series([pd.NaT, pd.NaT]))
    assert out.tolist() == ["transient", "permanent"]


def test_permanence_months_is_a_parameter():
    out = complication_permanence(pd.Series([D("2024-01-01")]), pd.Series([True], dtype="boolean"),
                                  pd.Series([D("2024-11-01")]), pd.Series([pd.NaT]), months=12)
    assert out.iloc[0] == "transient"


def test_patient_level_hypoparathyroidism_and_rln_palsy():
    comps = [
        {"complication_type": "hypoparathyroidism", "clavien_dindo": "II", "resolution_date": "2024-02-01"},
        {"complication_type": "rln_palsy", "rln_side": "left", "resolved": False, "resolution_date": None,
         "last_assessed_date": "2024-09-01"},
    ]
    row, problems = _outcome(comps)
    assert problems.empty
    assert row["hypoparathyroidism"] == "transient"
    assert row["hypoparathyroidism_transient"] == True and row["hypoparathyroidism_permanent"] == False  # noqa: E712
    assert row["rln_palsy"] == "permanent"
    assert row["rln_palsy_permanent"] == True and row["rln_palsy_transient"] == False  # noqa: E712
    assert row["rln_palsy_bilateral"] == False  # noqa: E712


def test_worst_episode_wins_and_undetermined_is_not_counted_either_way():
    comps = [
        {"complication_type": "rln_palsy", "rln_side": "left", "resolution_date": "2024-02-01"},
        {"complication_type": "rln_palsy", "rln_side": "right", "resolved": False, "resolution_date": None,
         "last_assessed_date": "2024-05-01"},
    ]
    row, _ = _outcome(comps)
    assert row["rln_palsy"] == "undetermined"
    assert row["rln_palsy_any"] == True  # noqa: E712
    assert pd.isna(row["rln_palsy_permanent"]) and pd.isna(row["rln_palsy_transient"])
    comps.append({"complication_type": "rln_palsy", "rln_side": "bilateral", "clavien_dindo": "IIIb", "resolved": False,
                  "resolution_date": None, "last_assessed_date": "2025-01-01"})
    row, _ = _outcome(comps)
    assert row["rln_palsy"] == "permanent" and row["rln_palsy_bilateral"] == True  # noqa: E712


def test_permanence_only_for_thyroid_specific_deficits():
    c, _ = complications_analysis({"complications": _complications({"complication_type": "chyle_leak"},
                                                                   {"complication_type": "hypoparathyroidism"}),
                                   "surgery": _surgery()})
    assert pd.isna(c.loc[0, "permanence"]) and c.loc[1, "permanence"] == "transient"
    assert c.loc[1, "permanence_cutoff_date"] == D("2024-07-01")


# --- 30-day events and mortality ----------------------------------------------------------

@pytest.mark.parametrize("onset,within", [("2024-01-01", True), ("2024-01-31", True), ("2024-02-01", False)])
def test_thirty_day_cut(onset, within):
    # day 30 after surgery on 1 January is 31 January
    row, _ = _outcome([{"clavien_dindo": "IIIa", "onset_date": onset, "resolution_date": "2024-03-01"}])
    assert bool(row["complication_30d"]) is within
    assert bool(row["major_complication_30d"]) is within
    assert row["any_complication"] == True  # noqa: E712


def _follow_up(visits, death=None):
    rows = [{"patient_id": "C01-001", "visit_date": v, "vital_status": "alive", "death_date": None} for v in visits]
    if death:
        rows.append({"patient_id": "C01-001", "visit_date": death, "vital_status": "dead", "death_date": death})
    df = pd.DataFrame(rows, columns=["patient_id", "visit_date", "vital_status", "death_date"])
    df["visit_date"] = pd.to_datetime(df["visit_date"])
    df["death_date"] = pd.to_datetime(df["death_date"])
    return df


@pytest.mark.parametrize("visits,death,d30,d90", [
    ([], "2024-01-31", True, True),              # day 30
    ([], "2024-02-01", False, True),             # day 31
    ([], "2024-03-31", False, True),             # day 90
    ([], "2024-04-01", False, False),            # day 91
    (["2024-06-01"], None, False, False),        # alive, followed beyond 90 days
    (["2024-01-20"], None, None, None),          # alive at day 19, not followed further: unknown
    (["2024-02-15"], None, False, None),         # alive at day 45: 30-day known, 90-day unknown
])
def test_30_and_90_day_mortality(visits, death, d30, d90):
    out, _ = surgical_outcomes({"patients": _patients(), "diagnosis": _diagnosis(), "surgery": _surgery(),
                                "complications": _complications(), "follow_up": _follow_up(visits, death)})
    for col, expected in (("death_30d", d30), ("death_90d", d90)):
        value = out.loc[0, col]
        assert (pd.isna(value) if expected is None else bool(value) is expected), col


def test_mortality_missing_without_follow_up_table():
    row, _ = _outcome([])
    assert pd.isna(row["death_30d"]) and pd.isna(row["death_90d"])


# --- index operation, timing, extent ---------------------------------------------------------

def test_index_operation_is_the_first_curative_one():
    s = _surgery({"surgery_id": 1, "surgery_date": "2023-12-10", "surgical_intent": "palliative", "tracheostomy": True},
                 {"surgery_id": 2, "surgery_date": "2024-03-01", "resection_status": "R1"},
                 {"surgery_id": 3, "surgery_date": "2024-01-15", "resection_status": "R0"})
    assert index_operation(s)["surgery_id"].tolist() == [3]
    comps = [{"surgery_id": 1, "onset_date": "2023-12-11", "clavien_dindo": "IVa"},  # after the palliative operation
             {"surgery_id": 3, "onset_date": "2024-01-16", "clavien_dindo": "I", "resolution_date": "2024-01-20"}]
    row, problems = _outcome(comps, surgery=s)
    assert problems.empty
    assert row["index_surgery_id"] == 3 and row["n_operations"] == 3
    assert row["resection_status"] == "R0" and row["tracheostomy_at_surgery"] == False  # noqa: E712
    assert row["n_complications"] == 1 and row["max_clavien_dindo"] == "I"


def test_no_curative_operation_gives_missing_outcomes():
    s = _surgery({"surgical_intent": "palliative", "resection_status": "R2"})
    row, _ = _outcome([], surgery=s, diagnosis=_diagnosis(lar=True))
    assert row["curative_surgery"] == False and row["palliative_surgery_only"] == True  # noqa: E712
    for col in ("resection_status", "r0_resection", "any_complication", "larynx_preserved", "hypoparathyroidism"):
        assert pd.isna(row[col]), col


@pytest.mark.parametrize("status,r0,complete", [("R0", True, True), ("R1", False, True), ("R2", False, False)])
def test_resection_status(status, r0, complete):
    row, _ = _outcome([], surgery=_surgery({"resection_status": status}))
    assert bool(row["r0_resection"]) is r0
    assert bool(row["macroscopically_complete_resection"]) is complete


def test_extent_flags():
    s = _surgery({"lateral_neck_dissection": "unilateral", "tracheal_resection": "window", "laryngectomy": "partial",
                  "esophageal_resection": "muscular_layer", "vascular_resection": True, "rln_resected": True,
                  "thyroidectomy_extent": "near_total"})
    row, _ = _outcome([], surgery=s)
    assert row["total_thyroidectomy"] == False  # noqa: E712  near-total is not total
    assert row["central_neck_dissection_done"] == True and row["lateral_neck_dissection_done"] == True  # noqa: E712
    assert (row["tracheal_shave"], row["tracheal_window"], row["tracheal_sleeve"]) == (False, True, False)
    assert row["partial_laryngectomy"] == True and row["total_laryngectomy"] == False  # noqa: E712
    assert row["esophageal_resection_done"] == True and row["vascular_resection"] == True  # noqa: E712


def test_intervals_from_decision_and_last_dose():
    tx = pd.DataFrame({"patient_id": ["C01-001", "C01-001"], "start_date": pd.to_datetime(["2023-12-05", "2023-12-05"]),
                       "stop_date": pd.to_datetime(["2023-12-18", "2023-12-20"])})
    out, problems = surgical_outcomes({"patients": _patients(), "diagnosis": _diagnosis(), "surgery": _surgery(),
                                       "complications": _complications(), "treatments": tx})
    assert problems.empty
    assert out.loc[0, "days_decision_to_surgery"] == 31  # 1 Dec → 1 Jan
    assert out.loc[0, "days_last_dose_to_surgery"] == 12  # last stop 20 Dec → 1 Jan


def test_tracheostomy_at_surgery_or_as_complication():
    row, _ = _outcome([{"complication_type": "tracheostomy", "clavien_dindo": "IIIb"}])
    assert row["tracheostomy_after_surgery"] == True and row["tracheostomy_at_surgery"] == False  # noqa: E712
    assert row["tracheostomy_any"] == True  # noqa: E712
    row, _ = _outcome([{"complication_type": "hematoma", "clavien_dindo": "IIIb"}], surgery=_surgery({"tracheostomy": True}))
    assert row["tracheostomy_any"] == True and row["hematoma"] == True  # noqa: E712


# --- organ preservation vs the baseline plan -----------------------------------------------

@pytest.mark.parametrize("planned,performed,preserved,total_avoided,category", [
    (True, "none", True, True, "preserved"),
    (True, "partial", False, True, "partial_laryngectomy"),
    (True, "total", False, False, "total_laryngectomy"),
    (False, "none", None, None, "not_planned"),
    (False, "partial", None, None, "not_planned"),
])
def test_larynx_preservation(planned, performed, preserved, total_avoided, category):
    row, _ = _outcome([], surgery=_surgery({"laryngectomy": performed}), diagnosis=_diagnosis(lar=planned))
    assert row["larynx_preservation"] == category
    for col, expected in (("larynx_preserved", preserved), ("total_laryngectomy_avoided", total_avoided)):
        assert (pd.isna(row[col]) if expected is None else bool(row[col]) is expected), col


@pytest.mark.parametrize("planned,performed,avoided,less", [
    ("sleeve", "window", False, True),
    ("sleeve", "sleeve", False, False),
    ("window", "none", True, True),
    ("shave", "shave", False, False),
    ("shave", "window", False, False),   # more extensive than planned
    ("none", "shave", None, None),       # not planned: not applicable
])
def test_tracheal_resection_vs_plan(planned, performed, avoided, less):
    row, _ = _outcome([], surgery=_surgery({"tracheal_resection": performed}), diagnosis=_diagnosis(tr=planned))
    for col, expected in (("tracheal_resection_avoided", avoided), ("tracheal_resection_less_extensive", less)):
        assert (pd.isna(row[col]) if expected is None else bool(row[col]) is expected), col


def test_oesophageal_and_any_planned_resection_avoided():
    dx = _diagnosis(lar=True, tr="sleeve", eso=True)
    row, _ = _outcome([], surgery=_surgery({"laryngectomy": "total", "tracheal_resection": "sleeve", "esophageal_resection": "none"}),
                      diagnosis=dx)
    assert row["esophageal_resection_avoided"] == True  # noqa: E712
    assert row["organ_resection_planned"] == True and row["planned_organ_resection_avoided"] == True  # noqa: E712
    row, _ = _outcome([], surgery=_surgery({"laryngectomy": "total", "tracheal_resection": "window",
                                            "esophageal_resection": "muscular_layer"}), diagnosis=dx)
    assert row["esophageal_resection_avoided"] == False  # noqa: E712
    assert row["tracheal_resection_less_extensive"] == True  # noqa: E712  (less extensive is not "avoided")
    assert row["planned_organ_resection_avoided"] == False  # noqa: E712
    row, _ = _outcome([], diagnosis=_diagnosis())
    assert row["organ_resection_planned"] == False and pd.isna(row["planned_organ_resection_avoided"])  # noqa: E712


# --- bad input -------------------------------------------------------------------------------

def test_bad_values_become_problems_not_exceptions():
    s = _surgery({"resection_status": "R3", "operative_time_min": -5})
    comps = _complications(
        {"clavien_dindo": "IIIc"},
        {"complication_type": "hypoparathyroidism", "onset_date": "2023-12-25"},  # before the operation
        {"surgery_id": 9},  # no such operation
        {"complication_type": "rln_palsy", "rln_side": "left", "resolved": True, "resolution_date": None},
    )
    out, problems = surgical_outcomes({"patients": _patients(), "diagnosis": _diagnosis(), "surgery": s,
                                       "complications": comps})
    rules = set(problems["rule"])
    assert {"unknown_resection_status", "operative_time_not_positive", "unknown_clavien_dindo", "onset_before_surgery",
            "complication_without_operation", "resolution_date_missing"} <= rules
    assert list(problems.columns) == ["patient_id", "field", "value", "rule", "message"]
    assert problems.loc[problems["rule"].eq("unknown_clavien_dindo"), "value"].tolist() == ["IIIc"]
    assert pd.isna(out.loc[0, "resection_status"]) and pd.isna(out.loc[0, "operative_time_min"])
    assert out.loc[0, "rln_palsy"] == "undetermined"


def test_raw_text_tables_are_read_and_bad_text_reported():
    # the io readers give strings; unparseable dates and flags are problems, never tracebacks
    s = _surgery().astype("str")
    s.loc[0, "surgery_date"] = "2024-01-01"
    comps = _complications({"clavien_dindo": "II"}, {"onset_date": None}).astype(object)
    comps.loc[1, "onset_date"] = "2024-02-30"
    comps.loc[1, "resolved"] = "maybe"
    comps.loc[0, "onset_date"] = "2024-01-05"
    comps.loc[0, "resolved"] = "1"
    comps.loc[0, "resolution_date"] = "2024-01-20"
    comps.loc[1, "resolution_date"] = None
    out, problems = surgical_outcomes({"patients": _patients(), "diagnosis": _diagnosis(), "surgery": s,
                                       "complications": comps})
    assert {"invalid_date", "invalid_yesno"} <= set(problems["rule"])
    assert out.loc[0, "n_complications"] == 2 and out.loc[0, "max_clavien_dindo"] == "II"
    assert out.loc[0, "complication_30d"] == True  # noqa: E712


# --- summaries -------------------------------------------------------------------------------

def test_rates_use_known_values_as_denominator():
    outcomes = pd.DataFrame({
        "cohort": ["neoadjuvant"] * 4 + ["upfront_surgery"] * 2,
        "r0_resection": pd.array([True, True, False, None, True, False], dtype="boolean"),
        "larynx_preserved": pd.array([True, None, None, False, None, None], dtype="boolean"),
    })
    r = surgical_outcome_rates(outcomes, measures=["r0_resection", "larynx_preserved"]).set_index(["cohort", "measure"])
    assert r.loc[("neoadjuvant", "r0_resection"), ["n", "events"]].tolist() == [3, 2]
    assert r.loc[("neoadjuvant", "r0_resection"), "percent"] == pytest.approx(200 / 3)
    assert r.loc[("neoadjuvant", "larynx_preserved"), ["n", "events"]].tolist() == [2, 1]
    assert r.loc[("upfront_surgery", "larynx_preserved"), "n"] == 0
    assert pd.isna(r.loc[("upfront_surgery", "larynx_preserved"), "percent"])
    overall = surgical_outcome_rates(outcomes, by=None, measures=["r0_resection"])
    assert overall[["n", "events"]].iloc[0].tolist() == [5, 3]


def test_continuous_summary():
    outcomes = pd.DataFrame({"cohort": ["a"] * 4, "operative_time_min": pd.array([100, 200, 300, None], dtype="Float64")})
    r = surgical_outcome_summary(outcomes, measures=["operative_time_min"]).iloc[0]
    assert (r["n"], r["median"], r["q1"], r["q3"], r["min"], r["max"]) == (3, 200, 150, 250, 100, 300)


def test_empty_surgery_and_complication_tables():
    s = _surgery().iloc[0:0]
    out, problems = surgical_outcomes({"patients": _patients(), "diagnosis": _diagnosis(lar=True), "surgery": s,
                                       "complications": _complications(), "follow_up": _follow_up([])})
    assert problems.empty
    assert out.loc[0, "curative_surgery"] == False and pd.isna(out.loc[0, "larynx_preserved"])  # noqa: E712
    rates = surgical_outcome_rates(out).set_index("measure")
    assert rates.loc["curative_surgery", ["n", "events"]].tolist() == [1, 0]
    assert rates.loc["r0_resection", "n"] == 0 and pd.isna(rates.loc["r0_resection", "percent"])
