"""latc.derive.data_cut: the study as known at an earlier data cut (worked cases)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from latc.derive.data_cut import apply_data_cut, record_dates

CUT = date(2024, 12, 31)


def _d(*values):
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")


def _clean():
    return {
        "patients": pd.DataFrame({"patient_id": ["C01-0001", "C01-0002"], "center_id": ["C01", "C01"],
                                  "enrollment_date": _d("2024-01-10", "2025-02-01")}),
        "treatments": pd.DataFrame({"patient_id": ["C01-0001"] * 2, "course_id": [1, 2],
                                    "start_date": _d("2024-02-01", "2025-01-15"), "stop_date": _d("2025-03-01", "2025-04-01"),
                                    "reason_stopped": ["progression", "toxicity"]}),
        "surgery": pd.DataFrame({"patient_id": ["C01-0001", "C01-0002"], "surgery_id": [1, 1],
                                 "surgery_date": _d("2025-05-01", "2025-06-01")}),
        "pathology": pd.DataFrame({"patient_id": ["C01-0001", "C01-0001"], "surgery_id": [1, 9]}),
        "adverse_events": pd.DataFrame({"patient_id": ["C01-0001"], "ae_id": [1], "start_date": _d("2024-03-01"),
                                        "stop_date": _d("2025-01-20")}),
        "follow_up": pd.DataFrame({"patient_id": ["C01-0001"] * 3 + ["C01-0002"],
                                   "visit_date": _d("2024-06-01", "2024-12-31", "2025-02-01", "2025-03-01")}),
        "diagnosis": pd.DataFrame({"patient_id": ["C01-0001", "C01-0002"], "histology": ["ptc", "atc"]}),
    }


def test_record_dates_come_from_the_dictionary():
    rd = record_dates()
    assert rd["follow_up"] == "visit_date" and rd["patients"] == "enrollment_date" and "diagnosis" not in rd


def test_apply_data_cut_worked_case():
    clean = _clean()
    out, summary = apply_data_cut(clean, CUT)
    # C01-0002 enrolled after the cut: not in the study at the cut, in no form
    assert all("C01-0002" not in t["patient_id"].tolist() for t in out.values())
    # the visit on the cut day stays, the later one leaves
    assert out["follow_up"]["visit_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-01", "2024-12-31"]
    # course 2 started after the cut; course 1 is ongoing at the cut: stopped at the cut, reason unknown
    tx = out["treatments"]
    assert tx["course_id"].tolist() == [1]
    assert tx["stop_date"].iloc[0] == pd.Timestamp(CUT) and pd.isna(tx["reason_stopped"].iloc[0])
    # the operation after the cut leaves, with its pathology report (the orphan report 9 is validation's)
    assert out["surgery"].empty and out["pathology"]["surgery_id"].tolist() == [9]
    # the AE is ongoing at the cut
    assert pd.isna(out["adverse_events"]["stop_date"].iloc[0])
    # inputs untouched
    assert len(clean["follow_up"]) == 4 and clean["treatments"]["reason_stopped"].tolist() == ["progression", "toxicity"]
    got = {(r["form"], r["rows"]) for r in summary.to_dict("records")}
    assert ("follow_up", 1) in got and ("treatments", 1) in got and ("pathology", 1) in got
    assert ("patients", 1) in got and ("diagnosis", 1) in got


def test_nothing_changes_at_a_cut_after_every_record():
    clean = _clean()
    out, summary = apply_data_cut(clean, date(2030, 1, 1))
    assert summary.empty
    for k in clean:
        pd.testing.assert_frame_equal(out[k], clean[k])
