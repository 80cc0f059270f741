"""Time-to-event endpoints (latc.derive.tte): worked cases for every event and censoring rule.

Conventions checked (docs/derivations/tte.md):
* FDA Guidance "Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics" (2018):
  OS counts death from any cause and is censored at the last date known alive; progression-type
  endpoints are censored at the last adequate disease assessment; the progression date is the
  first time progression can be declared; events after the data cut-off are not counted.
* CDISC ADaM ADTTE: CNSR 0 = event, 1 = censored; ADT = event or censoring date.
* Neoadjuvant EFS (CheckMate 816, KEYNOTE-671): progression precluding surgery, unresectable
  tumour at surgery, recurrence after surgery or death.
Expected values below are computed by hand from the dates of each case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.derive import tte as tte_mod
from latc.derive.tte import DAYS_PER_MONTH, PROBLEM_COLUMNS, TTE_COLUMNS, derive_tte, landmark

CUT = "2025-12-31"
D = pd.Timestamp


def _dates(values):
    return pd.Series(pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d"), dtype="datetime64[ns]")


def patients(rows):
    """rows: (patient_id, cohort, diagnosis, decision)."""
    df = pd.DataFrame(rows, columns=["patient_id", "cohort", "diagnosis_date", "treatment_decision_date"])
    return pd.DataFrame({
        "patient_id": df["patient_id"].astype("str"),
        "center_id": df["patient_id"].str[:3].astype("str"),
        "cohort": df["cohort"].astype("str"),
        "diagnosis_date": _dates(df["diagnosis_date"]),
        "treatment_decision_date": _dates(df["treatment_decision_date"]),
        "enrollment_date": _dates(df["treatment_decision_date"]),
    })


def follow_up(rows):
    """rows: (patient_id, visit, vital, death_date, cause, recurrence_date, recurrence_type)."""
    df = pd.DataFrame(rows, columns=["patient_id", "visit_date", "vital_status", "death_date", "cause_of_death",
                                     "recurrence_date", "recurrence_type"])
    return pd.DataFrame({
        "patient_id": df["patient_id"].astype("str"),
        "visit_date": _dates(df["visit_date"]),
        "vital_status": df["vital_status"].astype("str"),
        "death_date": _dates(df["death_date"]),
        "cause_of_death": df["cause_of_death"].astype("str"),
        "recurrence": pd.array(df["recurrence_date"].notna() | df["recurrence_type"].notna(), dtype="boolean"),
        "recurrence_date": _dates(df["recurrence_date"]),
        "recurrence_type": df["recurrence_type"].astype("str"),
    })


def surgery(rows):
    """rows: (patient_id, surgery_id, date, intent, resection_status)."""
    df = pd.DataFrame(rows, columns=["patient_id", "surgery_id", "surgery_date", "surgical_intent", "resection_status"])
    return pd.DataFrame({
        "patient_id": df["patient_id"].astype("str"),
        "surgery_id": pd.array(df["surgery_id"], dtype="Int64"),
        "surgery_date": _dates(df["surgery_date"]),
        "surgical_intent": df["surgical_intent"].astype("str"),
        "resection_status": df["resection_status"].astype("str"),
    })


def treatments(rows):
    """rows: (patient_id, start, stop, reason_stopped)."""
    df = pd.DataFrame(rows, columns=["patient_id", "start_date", "stop_date", "reason_stopped"])
    return pd.DataFrame({
        "patient_id": df["patient_id"].astype("str"),
        "start_date": _dates(df["start_date"]),
        "stop_date": _dates(df["stop_date"]),
        "reason_stopped": df["reason_stopped"].astype("str"),
    })


def tumour(rows):
    """rows: (patient_id, assessment_date, overall_response) — the recist ``tumour`` table."""
    df = pd.DataFrame(rows, columns=["patient_id", "assessment_date", "overall_response"])
    return pd.DataFrame({"patient_id": df["patient_id"].astype("str"), "assessment_date": _dates(df["assessment_date"]),
                         "overall_response": df["overall_response"].astype("str")})


def study(pts, fu=(), sx=(), tx=(), tu=(), **extra):
    tables = {"patients": patients(pts), "follow_up": follow_up(list(fu)), "surgery": surgery(list(sx)),
              "treatments": treatments(list(tx)), "tumour": tumour(list(tu))}
    tables.update(extra)
    return tables


def row(tte: pd.DataFrame, pid: str, paramcd: str) -> pd.Series:
    sel = tte[(tte["patient_id"] == pid) & (tte["paramcd"] == paramcd)]
    assert len(sel) == 1, f"{pid} {paramcd}: {len(sel)} rows"
    return sel.iloc[0]


def days(a: str, b: str) -> int:
    return (D(b) - D(a)).days


def rules(problems: pd.DataFrame, pid: str) -> set[str]:
    return set(problems.loc[problems["patient_id"] == pid, "rule"])


# ------------------------------------------------------------------------------------------------
# structure


def test_columns_dtypes_and_parameters():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2021-01-10", "alive", None, None, None, None)],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")]), CUT)
    assert list(t.columns) == TTE_COLUMNS
    assert list(p.columns) == PROBLEM_COLUMNS
    assert list(t["paramcd"]) == ["OS", "DSS", "EFS", "TTP", "RFS", "RFSSTR"]
    assert t["time_days"].dtype == "Int64" and t["cnsr"].dtype == "Int64" and t["event_type"].dtype == "Int64"
    assert t["adt"].dtype == "datetime64[ns]" and t["start_date"].dtype == "datetime64[ns]"
    # ADaM: CNSR is the complement of the event flag
    assert (t["cnsr"] + t["event"]).eq(1).all()
    # months are days / 30.4375 (365.25 / 12)
    np.testing.assert_allclose(t["time_months"].astype(float), t["time_days"].astype(float) / 30.4375)
    assert DAYS_PER_MONTH == 365.25 / 12


def test_bad_arguments_raise_value_error_not_data():
    tables = study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")])
    with pytest.raises(ValueError, match="time_zero"):
        derive_tte(tables, CUT, time_zero="randomisation")
    with pytest.raises(ValueError, match="recurrence_types"):
        derive_tte(tables, CUT, recurrence_types=("local",))
    with pytest.raises(ValueError, match="efs_progression"):
        derive_tte(tables, CUT, efs_progression="some")


# ------------------------------------------------------------------------------------------------
# OS (FDA 2018: death from any cause; censored at the last date known alive)


def test_os_death_is_event_at_death_date():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2020-06-01", "alive", None, None, None, None),
                                ("C01-001", "2021-03-05", "dead", "2021-03-01", "other_cause", None, None)]), CUT)
    r = row(t, "C01-001", "OS")
    assert (r["event"], r["cnsr"], r["event_type"]) == (1, 0, 1)
    assert r["adt"] == D("2021-03-01") and r["time_days"] == days("2020-01-10", "2021-03-01")
    assert r["source"] == "follow_up.death_date" and r["event_description"] == "death"
    assert pd.isna(r["censor_description"])
    assert p.empty


def test_os_censored_at_last_known_alive_record_even_if_later_than_the_last_visit():
    labs = pd.DataFrame({"patient_id": pd.Series(["C01-001"], dtype="str"), "lab_date": _dates(["2022-02-01"])})
    tables = study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                   fu=[("C01-001", "2021-06-01", "alive", None, None, None, None)], labs=labs)
    t, _ = derive_tte(tables, CUT)
    r = row(t, "C01-001", "OS")
    assert (r["event"], r["cnsr"]) == (0, 1)
    assert r["adt"] == D("2022-02-01") and r["source"] == "labs.lab_date"
    # without the lab sample the last visit is the last date known alive
    del tables["labs"]
    t, _ = derive_tte(tables, CUT)
    assert row(t, "C01-001", "OS")["adt"] == D("2021-06-01")
    assert row(t, "C01-001", "OS")["censor_description"] == "alive at last contact"


def test_os_censored_at_data_cut_when_followed_beyond_it_and_death_after_cut_not_counted():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10"),
                             ("C01-002", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2026-03-01", "alive", None, None, None, None),
                                ("C01-002", "2026-02-01", "dead", "2026-01-20", "thyroid_cancer", None, None)]), CUT)
    for pid in ("C01-001", "C01-002"):
        r = row(t, pid, "OS")
        assert (r["event"], r["cnsr"]) == (0, 1)
        assert r["adt"] == D(CUT) and r["source"] == "data_cut"
        assert r["time_days"] == days("2020-01-10", CUT)
    assert row(t, "C01-002", "DSS")["event_type"] == 0   # death after the cut: alive at the cut


# ------------------------------------------------------------------------------------------------
# DSS and its competing-risk coding


def test_dss_thyroid_death_event_other_death_censored_at_death_with_competing_code():
    pts = [(f"C01-00{i}", "upfront_surgery", "2020-01-01", "2020-01-10") for i in (1, 2, 3)]
    t, _ = derive_tte(study(pts, fu=[("C01-001", "2022-05-02", "dead", "2022-05-01", "thyroid_cancer", None, None),
                                     ("C01-002", "2022-07-02", "dead", "2022-07-01", "other_cause", None, None),
                                     ("C01-003", "2023-01-01", "alive", None, None, None, None)]), CUT)
    a, b, c = (row(t, f"C01-00{i}", "DSS") for i in (1, 2, 3))
    assert (a["event"], a["cnsr"], a["event_type"], a["adt"]) == (1, 0, 1, D("2022-05-01"))
    assert (b["event"], b["cnsr"], b["event_type"], b["adt"]) == (0, 1, 2, D("2022-07-01"))
    assert b["censor_description"].startswith("death from another cause")
    assert (c["event"], c["cnsr"], c["event_type"], c["adt"]) == (0, 1, 0, D("2023-01-01"))
    # OS counts both deaths
    assert row(t, "C01-002", "OS")["event"] == 1


def test_dss_death_without_cause_is_competing_and_a_problem():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2022-05-02", "dead", "2022-05-01", None, None, None)]), CUT)
    assert row(t, "C01-001", "DSS")["event_type"] == 2
    assert "cause_of_death_missing" in rules(p, "C01-001")


# ------------------------------------------------------------------------------------------------
# EFS (neoadjuvant convention)


def test_efs_progression_during_neoadjuvant_therapy_without_surgery_is_event_at_progression():
    # PD at the second scan; treatment stopped for progression 3 days later; never operated
    t, p = derive_tte(study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                            tx=[("C01-001", "2020-01-20", "2020-04-13", "progression")],
                            tu=[("C01-001", "2020-03-01", "SD"), ("C01-001", "2020-04-10", "PD")],
                            fu=[("C01-001", "2021-01-01", "alive", None, None, None, None)]), CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["event"], r["adt"]) == (1, D("2020-04-10"))
    assert r["event_description"] == "progression before surgery, precluding surgery"
    assert r["source"] == "tumour.assessment_date"
    assert r["time_days"] == days("2020-01-10", "2020-04-10")
    assert not (t["paramcd"].isin(["RFS", "RFSSTR"]) & (t["patient_id"] == "C01-001")).any()  # no operation
    assert p.empty


def test_efs_no_surgery_after_progression_recorded_only_at_follow_up():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2020-02-01", "alive", None, None, "2020-01-30", "structural"),
                                ("C01-001", "2020-08-01", "alive", None, None, None, None)]), CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["event"], r["adt"], r["source"]) == (1, D("2020-01-30"), "follow_up.recurrence_date")
    assert r["event_description"] == "progression before surgery, precluding surgery"


def test_efs_progression_from_treatment_stop_when_no_scan_recorded():
    t, _ = derive_tte(study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                            tx=[("C01-001", "2020-01-20", "2020-03-15", "progression")],
                            fu=[("C01-001", "2020-08-01", "alive", None, None, None, None)]), CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["event"], r["adt"], r["source"]) == (1, D("2020-03-15"), "treatments.stop_date")


def test_efs_r2_resection_is_event_at_surgery_and_excludes_rfs():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R2")],
                            fu=[("C01-001", "2021-02-01", "alive", None, None, None, None)]), CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["event"], r["adt"]) == (1, D("2020-02-01"))
    assert r["event_description"] == "unresectable at surgery (R2 resection)"
    assert r["source"] == "surgery.surgery_date"
    assert not (t["paramcd"].eq("RFS") & t["patient_id"].eq("C01-001")).any()


def test_ttp_r2_resection_is_not_an_event_later_progression_is():
    # EFS stops at the R2 operation; TTP follows the residual tumour to its progression 14 months later
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R2")],
                            fu=[("C01-001", "2020-09-01", "alive", None, None, None, None),
                                ("C01-001", "2021-04-10", "alive", None, None, "2021-04-01", "structural"),
                                ("C01-001", "2021-06-01", "dead", "2021-05-30", "thyroid_cancer", None, None)]), CUT)
    assert row(t, "C01-001", "EFS")["adt"] == D("2020-02-01")
    r = row(t, "C01-001", "TTP")
    assert (r["event"], r["cnsr"], r["event_type"], r["adt"]) == (1, 0, 1, D("2021-04-01"))
    assert r["event_description"] == "recurrence or progression after surgery"
    assert r["time_days"] == days("2020-01-10", "2021-04-01") and r["time_zero_name"] == "decision"


def test_ttp_r2_without_progression_is_censored_at_last_assessment_not_at_surgery():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R2")],
                            fu=[("C01-001", "2021-02-01", "alive", None, None, None, None)]), CUT)
    r = row(t, "C01-001", "TTP")
    assert (r["event"], r["event_type"], r["adt"], r["source"]) == (0, 0, D("2021-02-01"), "follow_up.visit_date")


def test_ttp_progression_on_neoadjuvant_therapy_counts_whether_or_not_surgery_followed():
    base = dict(tx=[("C01-001", "2020-01-20", "2020-04-01", "progression")], tu=[("C01-001", "2020-03-30", "PD")])
    operated = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")], **base,
                     sx=[("C01-001", 1, "2020-05-01", "curative", "R0")],
                     fu=[("C01-001", "2021-06-01", "alive", None, None, "2021-05-20", "structural")])
    never = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")], **base,
                  fu=[("C01-001", "2021-06-01", "alive", None, None, None, None)])
    for tables, what in ((operated, "progression before surgery"), (never, "progression, never operated")):
        # the precluding-only EFS variant does not change TTP
        for variant in ("any", "precluding"):
            r = row(derive_tte(tables, CUT, efs_progression=variant)[0], "C01-001", "TTP")
            assert (r["event"], r["adt"], r["event_description"]) == (1, D("2020-03-30"), what)


def test_efs_and_rfs_recurrence_after_r0_surgery():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                            fu=[("C01-001", "2020-08-01", "alive", None, None, None, None),
                                ("C01-001", "2021-03-01", "alive", None, None, "2021-02-20", "structural")]), CUT)
    efs, rfs = row(t, "C01-001", "EFS"), row(t, "C01-001", "RFS")
    assert (efs["event"], efs["adt"], efs["event_description"]) == (1, D("2021-02-20"), "recurrence after surgery")
    assert efs["time_days"] == days("2020-01-10", "2021-02-20")
    assert (rfs["event"], rfs["event_type"], rfs["adt"]) == (1, 1, D("2021-02-20"))
    assert rfs["time_zero_name"] == "surgery" and rfs["start_date"] == D("2020-02-01")
    assert rfs["time_days"] == days("2020-02-01", "2021-02-20")


def test_efs_censored_at_last_disease_assessment_not_last_alive_record():
    # the lab sample shows the patient alive later (OS) but is not a disease assessment (EFS)
    labs = pd.DataFrame({"patient_id": pd.Series(["C01-001"], dtype="str"), "lab_date": _dates(["2021-05-01"])})
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R1")],
                            fu=[("C01-001", "2021-01-15", "alive", None, None, None, None)], labs=labs), CUT)
    assert row(t, "C01-001", "OS")["adt"] == D("2021-05-01")
    efs = row(t, "C01-001", "EFS")
    assert (efs["cnsr"], efs["adt"], efs["source"]) == (1, D("2021-01-15"), "follow_up.visit_date")


def test_efs_precluding_variant_ignores_progression_followed_by_surgery():
    tables = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                   tx=[("C01-001", "2020-01-20", "2020-04-01", "progression")],
                   tu=[("C01-001", "2020-03-30", "PD")],
                   sx=[("C01-001", 1, "2020-05-01", "curative", "R0")],
                   fu=[("C01-001", "2021-06-01", "alive", None, None, "2021-05-20", "structural")])
    t, _ = derive_tte(tables, CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["adt"], r["event_description"]) == (D("2020-03-30"), "progression before surgery")
    t, _ = derive_tte(tables, CUT, efs_progression="precluding")
    r = row(t, "C01-001", "EFS")
    assert (r["adt"], r["event_description"]) == (D("2021-05-20"), "recurrence after surgery")


def test_efs_accepts_investigator_timepoint_responses_table():
    tpr = pd.DataFrame({"patient_id": pd.Series(["C01-001"], dtype="str"), "assessment_date": _dates(["2020-03-03"]),
                        "overall_response": pd.Series(["PD"], dtype="str")})
    tables = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")], timepoint_responses=tpr)
    del tables["tumour"]
    t, _ = derive_tte(tables, CUT)
    r = row(t, "C01-001", "EFS")
    assert (r["event"], r["adt"], r["source"]) == (1, D("2020-03-03"), "timepoint_responses.assessment_date")


# ------------------------------------------------------------------------------------------------
# edge cases of the brief


def test_death_before_surgery_no_rfs_row_os_and_efs_events():
    t, p = derive_tte(study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                            tx=[("C01-001", "2020-01-20", "2020-03-01", "death")],
                            fu=[("C01-001", "2020-03-01", "dead", "2020-03-01", "treatment_complication", None, None)]), CUT)
    assert set(t.loc[t["patient_id"] == "C01-001", "paramcd"]) == {"OS", "DSS", "EFS", "TTP"}
    for code in ("OS", "EFS"):
        r = row(t, "C01-001", code)
        assert (r["event"], r["adt"], r["event_description"]) == (1, D("2020-03-01"), "death")
    assert row(t, "C01-001", "DSS")["event_type"] == 2
    ttp = row(t, "C01-001", "TTP")  # death without progression: competing, censored for the cause-specific hazard
    assert (ttp["event"], ttp["event_type"], ttp["adt"]) == (0, 2, D("2020-03-01"))
    assert ttp["censor_description"] == "death without recurrence or progression (competing event)"
    assert p.empty


def test_recurrence_and_death_same_day_recurrence_wins():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                            fu=[("C01-001", "2021-04-01", "dead", "2021-04-01", "thyroid_cancer", "2021-04-01", "structural")]),
                      CUT)
    for code in ("RFS", "RFSSTR"):
        r = row(t, "C01-001", code)
        assert (r["event"], r["event_type"], r["event_description"]) == (1, 1, "recurrence after surgery")
    assert row(t, "C01-001", "EFS")["event_description"] == "recurrence after surgery"
    assert row(t, "C01-001", "OS")["event"] == 1
    ttp = row(t, "C01-001", "TTP")
    assert (ttp["event"], ttp["event_type"], ttp["event_description"]) == (1, 1, "recurrence or progression after surgery")


def test_rfs_death_without_recurrence_is_event_with_competing_code():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                            fu=[("C01-001", "2021-04-01", "dead", "2021-03-30", "other_cause", None, None)]), CUT)
    r = row(t, "C01-001", "RFS")
    assert (r["event"], r["cnsr"], r["event_type"], r["adt"]) == (1, 0, 2, D("2021-03-30"))
    assert r["event_description"] == "death without recurrence"


def test_recurrence_after_data_cut_censored_at_data_cut():
    t, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                            fu=[("C01-001", "2025-06-01", "alive", None, None, None, None),
                                ("C01-001", "2026-02-01", "alive", None, None, "2026-01-15", "structural")]), CUT)
    for code in ("EFS", "RFS"):
        r = row(t, "C01-001", code)
        assert (r["event"], r["cnsr"], r["event_type"]) == (0, 1, 0)
        assert r["adt"] == D(CUT) and r["source"] == "data_cut"
        assert r["censor_description"] == "event-free at the data cut"


def test_no_follow_up_censored_at_latest_dated_record_and_time_zero_flagged():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10"),
                             ("C01-002", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            sx=[("C01-001", 1, "2020-02-01", "curative", "R0")]), CUT)
    a = row(t, "C01-001", "OS")
    assert (a["cnsr"], a["adt"], a["source"]) == (1, D("2020-02-01"), "surgery.surgery_date")
    assert a["time_days"] == 22 and not a["censored_at_time_zero"]
    rfs = row(t, "C01-001", "RFS")
    assert rfs["time_days"] == 0 and rfs["censored_at_time_zero"]
    b = row(t, "C01-002", "OS")
    assert (b["cnsr"], b["time_days"], b["adt"]) == (1, 0, D("2020-01-10"))
    assert b["censored_at_time_zero"] and b["censor_description"] == "no follow-up after time zero"
    assert t.loc[t["patient_id"] == "C01-002", "censored_at_time_zero"].all()
    assert "no_follow_up" in rules(p, "C01-001") and "no_follow_up" in rules(p, "C01-002")


def test_dead_without_death_date_is_a_problem_and_censored_at_last_known_alive():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2020-09-01", "alive", None, None, None, None),
                                ("C01-001", "2021-02-01", "dead", None, "thyroid_cancer", None, None)]), CUT)
    r = row(t, "C01-001", "OS")
    assert (r["event"], r["adt"]) == (0, D("2020-09-01"))   # not the visit that reported the death
    assert "death_date_missing" in rules(p, "C01-001")


def test_event_before_time_zero_is_a_problem_not_a_negative_time():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2020-01-06", "dead", "2020-01-05", "other_cause", None, None)]), CUT)
    r = row(t, "C01-001", "OS")
    assert pd.isna(r["time_days"]) and pd.isna(r["time_months"])
    assert r["event"] == 1 and r["adt"] == D("2020-01-05")
    bad = p[p["rule"] == "event_before_time_zero"]
    assert set(bad["field"]) == {"death_date"} and (bad["value"] == "2020-01-05").all()
    assert {"OS", "DSS", "EFS"} <= {m.split(":")[0] for m in bad["message"]}
    assert not (t["time_days"].dropna() < 0).any()


def test_upfront_patient_with_neoadjuvant_treatment_is_a_problem():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            tx=[("C01-001", "2020-01-15", "2020-02-15", "planned_surgery")],
                            fu=[("C01-001", "2020-09-01", "alive", None, None, None, None)]), CUT)
    assert "treatment_in_upfront_cohort" in rules(p, "C01-001")
    assert len(t) == 4   # OS, DSS, EFS, TTP still derived
    t2, _ = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                             tx=[("C01-001", "2020-01-15", "2020-02-15", "planned_surgery")]), CUT, time_zero="treatment_start")
    assert t2.loc[t2["paramcd"] != "RFS"].empty   # not a time zero for the upfront cohort


def test_conflicting_death_dates_use_earliest_and_report():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-001", "2021-02-01", "dead", "2021-01-20", "thyroid_cancer", None, None),
                                ("C01-001", "2021-03-01", "dead", "2021-01-25", "thyroid_cancer", None, None)]), CUT)
    assert row(t, "C01-001", "OS")["adt"] == D("2021-01-20")
    assert "death_date_conflict" in rules(p, "C01-001")


# ------------------------------------------------------------------------------------------------
# recurrence types


def test_biochemical_recurrence_counts_in_rfs_default_not_in_structural_variant():
    tables = study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                   sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                   fu=[("C01-001", "2021-01-10", "alive", None, None, "2021-01-05", "biochemical"),
                       ("C01-001", "2022-01-10", "alive", None, None, None, None)])
    t, _ = derive_tte(tables, CUT)
    assert (row(t, "C01-001", "RFS")["event"], row(t, "C01-001", "RFS")["adt"]) == (1, D("2021-01-05"))
    s = row(t, "C01-001", "RFSSTR")
    assert (s["event"], s["adt"]) == (0, D("2022-01-10"))
    t, _ = derive_tte(tables, CUT, recurrence_types=("structural",))
    r = row(t, "C01-001", "RFS")
    assert r["event"] == 0 and "structural recurrence only" in r["param"]
    assert row(t, "C01-001", "EFS")["event"] == 0


def test_recurrence_without_date_uses_visit_date_and_reports():
    fu = follow_up([("C01-001", "2021-01-10", "alive", None, None, None, "structural")])
    t, p = derive_tte({"patients": patients([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")]),
                       "surgery": surgery([("C01-001", 1, "2020-02-01", "curative", "R0")]), "follow_up": fu}, CUT)
    assert row(t, "C01-001", "RFS")["adt"] == D("2021-01-10")
    assert "recurrence_date_missing" in rules(p, "C01-001")


# ------------------------------------------------------------------------------------------------
# time zeros (immortal time: Suissa 2008; Lévesque 2010)


def test_time_zeros_decision_diagnosis_and_treatment_start():
    tables = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10"),
                    ("C01-002", "upfront_surgery", "2020-01-01", "2020-01-20")],
                   tx=[("C01-001", "2020-02-01", "2020-04-01", "planned_surgery"),
                       ("C01-001", "2020-01-25", "2020-04-01", "planned_surgery")],
                   sx=[("C01-001", 1, "2020-04-20", "curative", "R0"), ("C01-002", 1, "2020-02-10", "curative", "R0")],
                   fu=[("C01-001", "2021-01-01", "dead", "2020-12-31", "thyroid_cancer", None, None),
                       ("C01-002", "2021-01-01", "alive", None, None, None, None)])
    dec, _ = derive_tte(tables, CUT)
    dia, _ = derive_tte(tables, CUT, time_zero="diagnosis")
    trt, _ = derive_tte(tables, CUT, time_zero="treatment_start")
    assert row(dec, "C01-001", "OS")["time_days"] == days("2020-01-10", "2020-12-31")
    assert row(dia, "C01-001", "OS")["time_days"] == days("2020-01-01", "2020-12-31")
    first_dose = row(trt, "C01-001", "OS")
    assert first_dose["start_date"] == D("2020-01-25") and first_dose["time_zero_name"] == "treatment_start"
    assert first_dose["time_days"] == days("2020-01-25", "2020-12-31")
    # treatment start exists only for the neoadjuvant cohort; RFS always starts at surgery
    assert set(trt.loc[trt["patient_id"] == "C01-002", "paramcd"]) == {"RFS", "RFSSTR"}
    assert (dec.loc[dec["paramcd"] == "RFS", "time_zero_name"] == "surgery").all()
    assert row(dec, "C01-002", "RFS")["start_date"] == D("2020-02-10")


def test_decision_time_zero_counts_guarantee_time_in_both_cohorts():
    # a neoadjuvant patient dying before the planned operation keeps the death (no immortal time):
    # the death counts from the common decision date, exactly as for an upfront patient
    tables = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10"),
                    ("C01-002", "upfront_surgery", "2020-01-01", "2020-01-10")],
                   tx=[("C01-001", "2020-01-20", "2020-02-20", "death")],
                   sx=[("C01-002", 1, "2020-02-01", "curative", "R0")],
                   fu=[("C01-001", "2020-02-20", "dead", "2020-02-20", "thyroid_cancer", None, None),
                       ("C01-002", "2020-02-20", "dead", "2020-02-20", "thyroid_cancer", None, None)])
    t, _ = derive_tte(tables, CUT)
    a, b = row(t, "C01-001", "OS"), row(t, "C01-002", "OS")
    assert a["event"] == b["event"] == 1 and a["time_days"] == b["time_days"] == 41


def test_treatment_start_missing_for_a_neoadjuvant_patient_is_a_problem():
    t, p = derive_tte(study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")]), CUT, time_zero="treatment_start")
    assert pd.isna(row(t, "C01-001", "OS")["time_days"])
    assert "time_zero_missing" in rules(p, "C01-001")


# ------------------------------------------------------------------------------------------------
# robustness: raw text input, unknown codes, empty tables


def test_raw_text_tables_give_the_same_answer_and_bad_dates_are_problems():
    typed = study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                  sx=[("C01-001", 1, "2020-02-01", "curative", "R0")],
                  fu=[("C01-001", "2021-02-01", "alive", None, None, "2021-01-20", "structural"),
                      ("C01-001", "2021-06-01", "dead", "2021-05-30", "thyroid_cancer", None, None)])
    raw = {k: v.astype("str").replace({"NaT": pd.NA, "<NA>": pd.NA}) for k, v in typed.items()}
    raw["follow_up"]["recurrence"] = raw["follow_up"]["recurrence"].map({"True": "1", "False": "0"})
    t1, _ = derive_tte(typed, CUT)
    t2, p2 = derive_tte(raw, CUT)
    pd.testing.assert_frame_equal(t1, t2)
    assert p2.empty
    raw["follow_up"].loc[1, "death_date"] = "2021-02-30"
    t3, p3 = derive_tte(raw, CUT)
    assert "invalid_date" in rules(p3, "C01-001")
    assert "death_date_missing" in rules(p3, "C01-001")
    assert row(t3, "C01-001", "OS")["event"] == 0


def test_only_patients_table_and_empty_study_do_not_crash():
    t, p = derive_tte({"patients": patients([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")])}, CUT)
    assert list(t["paramcd"]) == ["OS", "DSS", "EFS", "TTP"] and t["time_days"].eq(0).all()
    t, p = derive_tte({}, CUT)
    assert t.empty and list(t.columns) == TTE_COLUMNS


def test_rows_of_unknown_patients_are_ignored_and_reported():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C09-999", "2021-01-01", "dead", "2021-01-01", "thyroid_cancer", None, None)]), CUT)
    assert "unknown_patient" in rules(p, "C09-999")
    assert row(t, "C01-001", "OS")["event"] == 0


def test_inputs_not_modified():
    tables = study([("C01-001", "upfront_surgery", "2020-01-01", "2020-01-10")],
                   fu=[("C01-001", "2021-01-01", "alive", None, None, None, None)])
    before = {k: v.copy() for k, v in tables.items()}
    derive_tte(tables, CUT)
    for k in tables:
        pd.testing.assert_frame_equal(tables[k], before[k])


# ------------------------------------------------------------------------------------------------
# landmark (Anderson, Cain & Gelber, J Clin Oncol 1983;1:710)


def test_landmark_keeps_patients_at_risk_after_the_landmark_with_time_reset():
    pts = [(f"C01-00{i}", "neoadjuvant", "2020-01-01", "2020-01-01") for i in range(1, 5)]
    fu = [("C01-001", "2020-03-01", "dead", "2020-03-01", "thyroid_cancer", None, None),   # 60 d: before L
          ("C01-002", "2020-03-31", "dead", "2020-03-31", "thyroid_cancer", None, None),   # 90 d: at L
          ("C01-003", "2020-07-19", "dead", "2020-07-19", "thyroid_cancer", None, None),   # 200 d
          ("C01-004", "2021-01-01", "alive", None, None, None, None)]                      # 366 d censored
    t, _ = derive_tte(study(pts, fu=fu), CUT)
    status = pd.Series({"C01-001": "no response", "C01-003": "response", "C01-004": "no response"})
    lm = landmark(t, "OS", 90, status)
    assert list(lm["patient_id"]) == ["C01-003", "C01-004"]
    assert list(lm["time_days"]) == [110, 276]
    np.testing.assert_allclose(lm["time_months"].astype(float), [110 / 30.4375, 276 / 30.4375])
    assert list(lm["status_at_landmark"]) == ["response", "no response"]
    assert list(lm["event"]) == [1, 0]
    assert (lm["start_date"] == D("2020-03-31")).all() and (lm["landmark_days"] == 90).all()


def test_landmark_refuses_mixed_time_zeros_and_duplicate_status():
    tables = study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                   tx=[("C01-001", "2020-01-20", "2020-03-01", "planned_surgery")],
                   fu=[("C01-001", "2021-01-01", "alive", None, None, None, None)])
    both = pd.concat([derive_tte(tables, CUT)[0], derive_tte(tables, CUT, time_zero="diagnosis")[0]])
    with pytest.raises(ValueError, match="time zeros"):
        landmark(both, "OS", 30, pd.Series({"C01-001": 1}))
    assert len(landmark(both, "OS", 30, pd.Series({"C01-001": 1}), time_zero="diagnosis")) == 1
    with pytest.raises(ValueError, match="one value per patient"):
        landmark(both, "OS", 30, pd.Series([1, 2], index=["C01-001", "C01-001"]), time_zero="decision")


def test_module_exports():
    for name in tte_mod.__all__:
        assert hasattr(tte_mod, name)


def test_treatment_stopped_for_death_is_not_a_date_known_alive():
    # the stop date of a course stopped for death is the death, not a date the patient was alive;
    # the death itself is undated here, so OS is censored at the last record showing life (the start)
    t, p = derive_tte(study([("C01-001", "neoadjuvant", "2020-01-01", "2020-01-10")],
                            tx=[("C01-001", "2020-01-20", "2020-03-01", "death")],
                            fu=[("C01-001", "2020-03-02", "dead", None, "thyroid_cancer", None, None)]), CUT)
    r = row(t, "C01-001", "OS")
    assert (r["event"], r["adt"], r["source"]) == (0, D("2020-01-20"), "treatments.start_date")
    assert "death_date_missing" in rules(p, "C01-001")


def test_time_zero_after_data_cut_and_death_date_on_alive_visit_are_problems():
    t, p = derive_tte(study([("C01-001", "upfront_surgery", "2025-12-01", "2026-01-15"),
                             ("C01-002", "upfront_surgery", "2020-01-01", "2020-01-10")],
                            fu=[("C01-002", "2021-01-01", "alive", "2020-12-01", None, None, None)]), CUT)
    assert pd.isna(row(t, "C01-001", "OS")["time_days"])
    assert "time_zero_after_data_cut" in rules(p, "C01-001")
    r = row(t, "C01-002", "OS")
    assert (r["event"], r["adt"]) == (0, D("2021-01-01"))
    assert "death_date_on_alive_visit" in rules(p, "C01-002")
