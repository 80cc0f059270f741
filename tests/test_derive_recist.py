"""RECIST 1.1 timepoint response: worked cases from the guideline.

Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247 — sections cited per test; "FAQ" = the EORTC RECIST
working group's published questions and clarifications (recist.eortc.org).

Inputs are built like the clean typed tables of ``latc validate`` (text → str, yesno → boolean,
number → Float64, date → datetime64).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.derive.recist import check_target_lesions, response_long, timepoint_responses

BASELINE = "2024-01-01"
D1, D2, D3 = "2024-03-01", "2024-05-01", "2024-07-01"


def lesions(*rows: tuple) -> pd.DataFrame:
    """rows: (patient_id, lesion_id, site, role, is_node, baseline_mm)."""
    df = pd.DataFrame(rows, columns=["patient_id", "lesion_id", "site", "lesion_role", "is_lymph_node", "baseline_diameter_mm"])
    return pd.DataFrame(
        {
            "patient_id": df["patient_id"].astype("str"),
            "center_id": "C01",
            "lesion_id": df["lesion_id"].astype("str"),
            "site": df["site"].astype("str"),
            "lesion_role": df["lesion_role"].astype("str"),
            "is_lymph_node": df["is_lymph_node"].astype("boolean"),
            "baseline_date": pd.to_datetime([BASELINE] * len(df)),
            "baseline_diameter_mm": pd.array(df["baseline_diameter_mm"].tolist(), dtype="Float64"),
            "imaging_modality": "ct",
        }
    )


def assessments(*rows: tuple) -> pd.DataFrame:
    """rows: (patient_id, lesion_id, date, measurement_status, diameter_mm, non_target_status, is_new)."""
    df = pd.DataFrame(
        rows, columns=["patient_id", "lesion_id", "assessment_date", "measurement_status", "diameter_mm", "non_target_status", "is_new_lesion"]
    )
    return pd.DataFrame(
        {
            "patient_id": df["patient_id"].astype("str"),
            "center_id": "C01",
            "lesion_id": df["lesion_id"].astype("str"),
            "assessment_date": pd.to_datetime(df["assessment_date"]),
            "measurement_status": df["measurement_status"].astype("str"),
            "diameter_mm": pd.array(df["diameter_mm"].tolist(), dtype="Float64"),
            "non_target_status": df["non_target_status"].astype("str"),
            "is_new_lesion": df["is_new_lesion"].astype("boolean"),
        }
    )


def tgt(lesion: str, date: str, status: str, mm: float | None = None, patient: str = "P1") -> tuple:
    return (patient, lesion, date, status, mm, None, False)


def ntg(lesion: str, date: str, status: str, patient: str = "P1") -> tuple:
    return (patient, lesion, date, "not_applicable", None, status, False)


def new(lesion: str, date: str, patient: str = "P1") -> tuple:
    return (patient, lesion, date, "not_applicable", None, None, True)


def at(table: pd.DataFrame, date: str, patient: str = "P1") -> pd.Series:
    row = table.loc[(table["patient_id"] == patient) & (table["assessment_date"] == pd.Timestamp(date))]
    assert len(row) == 1
    return row.iloc[0]


# ------------------------------------------------------------------ Table 1 and Table 2 (§4.4.1)

#: target lesion measurement giving each target response against a 50 mm baseline (one target)
TARGET = {
    "CR": ("disappeared", 0.0),
    "PR": ("measured", 30.0),  # -40 %
    "SD": ("measured", 45.0),  # -10 %
    "PD": ("measured", 70.0),  # +40 %, +20 mm over the nadir (baseline)
    "NE": ("not_evaluable", None),
}
NON_TARGET = {"CR": "absent", "NON-CR/NON-PD": "present", "NE": "not_evaluable", "PD": "unequivocal_progression"}


@pytest.mark.parametrize(
    ("target", "non_target", "new_lesion", "overall"),
    [
        ("CR", "CR", False, "CR"),  # row 1
        ("CR", "NON-CR/NON-PD", False, "PR"),  # row 2
        ("CR", "NE", False, "PR"),  # row 3: CR, not evaluated
        ("PR", "NON-CR/NON-PD", False, "PR"),  # row 4: PR, non-PD ...
        ("PR", "NE", False, "PR"),  # ... or not all evaluated
        ("PR", "CR", False, "PR"),
        ("SD", "NON-CR/NON-PD", False, "SD"),  # row 5: SD, non-PD ...
        ("SD", "NE", False, "SD"),  # ... or not all evaluated
        ("NE", "NON-CR/NON-PD", False, "NE"),  # row 6: not all evaluated, non-PD
        ("NE", "CR", False, "NE"),
        ("PD", "CR", False, "PD"),  # row 7: PD, any, yes or no
        ("PD", "NE", True, "PD"),
        ("SD", "PD", False, "PD"),  # row 8: any, PD, yes or no
        ("CR", "PD", True, "PD"),
        ("CR", "CR", True, "PD"),  # row 9: any, any, yes
        ("NE", "NE", True, "PD"),
    ],
)
def test_table1_targets_with_non_targets(target, non_target, new_lesion, overall):
    """RECIST 1.1 §4.4.1 Table 1: time point response, patients with target (± non-target) disease."""
    les = lesions(("P1", "T1", "thyroid", "target", False, 50.0), ("P1", "NT1", "lung", "non_target", False, None))
    status, mm = TARGET[target]
    rows = [tgt("T1", D1, status, mm), ntg("NT1", D1, NON_TARGET[non_target])]
    if new_lesion:
        rows.append(new("N1", D1))
    r = at(timepoint_responses(les, assessments(*rows)), D1)
    assert (r["target_response"], r["non_target_response"], bool(r["new_lesion"])) == (target, non_target, new_lesion)
    assert r["overall_response"] == overall


def test_table1_target_cr_without_any_non_target_is_cr():
    """Table 1 row 1 for a patient with target disease only (no non-target lesion recorded)."""
    les = lesions(("P1", "T1", "thyroid", "target", False, 50.0))
    r = at(timepoint_responses(les, assessments(tgt("T1", D1, "disappeared", 0.0))), D1)
    assert pd.isna(r["non_target_response"]) and r["overall_response"] == "CR"


@pytest.mark.parametrize(
    ("non_target", "new_lesion", "overall"),
    [
        ("CR", False, "CR"),  # row 1
        ("NON-CR/NON-PD", False, "NON-CR/NON-PD"),  # row 2
        ("NE", False, "NE"),  # row 3: not all evaluated
        ("PD", False, "PD"),  # row 4: unequivocal PD, yes or no
        ("PD", True, "PD"),
        ("CR", True, "PD"),  # row 5: any, yes
        ("NON-CR/NON-PD", True, "PD"),
    ],
)
def test_table2_non_target_disease_only(non_target, new_lesion, overall):
    """RECIST 1.1 §4.4.1 Table 2: time point response, patients with non-target disease only."""
    les = lesions(("P1", "NT1", "lung", "non_target", False, None), ("P1", "NT2", "bone", "non_target", False, None))
    other = "absent" if non_target == "CR" else "present"
    rows = [ntg("NT1", D1, NON_TARGET[non_target]), ntg("NT2", D1, other if non_target != "NE" else "present")]
    if new_lesion:
        rows.append(new("N1", D1))
    r = at(timepoint_responses(les, assessments(*rows)), D1)
    assert pd.isna(r["target_response"])
    assert r["non_target_response"] == non_target
    assert r["overall_response"] == overall


def test_non_target_without_a_row_is_not_evaluated():
    """§4.3.3 / Table 2 'not all evaluated': a baseline non-target with no status at a timepoint."""
    les = lesions(("P1", "NT1", "lung", "non_target", False, None), ("P1", "NT2", "bone", "non_target", False, None))
    r = at(timepoint_responses(les, assessments(ntg("NT1", D1, "absent"))), D1)
    assert r["non_target_response"] == "NE" and r["overall_response"] == "NE"


# ------------------------------------------------------------------ target response details (§4.3.1)


@pytest.mark.parametrize(("node_mm", "expected"), [(9.0, "CR"), (10.0, "PR")])
def test_cr_with_nodes_needs_short_axis_below_10mm(node_mm, expected):
    """§4.3.1: CR = disappearance of all target lesions; any pathological node (target or not) must
    have a short axis < 10 mm.  A node of 9 mm is normal (CR); 10 mm is not (here PR: sum 10 vs 70)."""
    les = lesions(("P1", "T1", "lung", "target", False, 40.0), ("P1", "T2", "neck_node", "target", True, 30.0))
    a = assessments(tgt("T1", D1, "disappeared", 0.0), tgt("T2", D1, "measured", node_mm))
    r = at(timepoint_responses(les, a), D1)
    assert r["target_response"] == expected
    # the node's short axis stays in the sum (§4.3.1 note on lymph nodes: sum may not be zero at CR)
    assert r["sum_of_diameters_mm"] == node_mm


@pytest.mark.parametrize(("follow_up_mm", "expected"), [(70.0, "PR"), (70.1, "SD")])
def test_pr_is_a_decrease_of_at_least_30_percent(follow_up_mm, expected):
    """§4.3.1: PR = at least a 30 % decrease in the sum vs baseline: 100 → 70 mm is exactly −30 %
    (PR); 100 → 70.1 mm is −29.9 % (SD)."""
    les = lesions(("P1", "T1", "lung", "target", False, 60.0), ("P1", "T2", "liver", "target", False, 40.0))
    a = assessments(tgt("T1", D1, "measured", follow_up_mm - 30.0), tgt("T2", D1, "measured", 30.0))
    r = at(timepoint_responses(les, a), D1)
    assert r["percent_change_from_baseline"] == pytest.approx(-100.0 + follow_up_mm)
    assert r["target_response"] == expected


@pytest.mark.parametrize(
    ("baseline", "follow_up", "expected"),
    [
        (25.0, 30.0, "PD"),  # +20 % and +5 mm
        (20.0, 24.0, "SD"),  # +20 % but only +4 mm (small sums)
        (50.0, 59.0, "SD"),  # +9 mm but only +18 %
    ],
)
def test_pd_needs_20_percent_and_5_mm(baseline, follow_up, expected):
    """§4.3.1: PD = at least a 20 % increase over the smallest sum on study AND an absolute increase
    of at least 5 mm."""
    les = lesions(("P1", "T1", "lung", "target", False, baseline))
    r = at(timepoint_responses(les, assessments(tgt("T1", D1, "measured", follow_up))), D1)
    assert r["target_response"] == expected


def test_pd_is_measured_from_the_nadir_not_baseline():
    """§4.3.1: PD takes as reference the smallest sum on study (including baseline).  100 → 50
    (PR, nadir 50) → 62 mm: −38 % vs baseline but +24 % and +12 mm over the nadir → PD.  The
    nadir before a timepoint is the smallest earlier sum."""
    les = lesions(("P1", "T1", "lung", "target", False, 100.0))
    a = assessments(tgt("T1", D1, "measured", 50.0), tgt("T1", D2, "measured", 62.0), tgt("T1", D3, "measured", 40.0))
    t = timepoint_responses(les, a)
    first, second, third = at(t, D1), at(t, D2), at(t, D3)
    assert first["nadir_mm"] == 100.0 and first["target_response"] == "PR"
    assert second["nadir_mm"] == 50.0
    assert second["percent_change_from_baseline"] == pytest.approx(-38.0)
    assert second["percent_change_from_nadir"] == pytest.approx(24.0)
    assert second["change_from_nadir_mm"] == pytest.approx(12.0)
    assert second["target_response"] == "PD" and second["overall_response"] == "PD"
    assert third["nadir_mm"] == 50.0  # smallest of 100, 50, 62


def test_sd_continues_from_nadir_rule_of_the_eortc_faq():
    """EORTC FAQ 'definition of SD': baseline 165, week 8 63, week 16 65 mm → continued PR (no PD:
    +2 mm over the nadir)."""
    les = lesions(("P1", "T1", "lung", "target", False, 165.0))
    t = timepoint_responses(les, assessments(tgt("T1", D1, "measured", 63.0), tgt("T1", D2, "measured", 65.0)))
    assert at(t, D2)["target_response"] == "PR"


def test_too_small_to_measure_counts_5mm():
    """Appendix / FAQ 'lesions less than 5 mm': present but too small to measure → 5 mm, whatever
    was typed; so the lesion is not 'disappeared' and this is not a CR."""
    les = lesions(("P1", "T1", "lung", "target", False, 40.0), ("P1", "T2", "liver", "target", False, 20.0))
    a = assessments(tgt("T1", D1, "too_small", 3.0), tgt("T2", D1, "disappeared", 0.0))
    r = at(timepoint_responses(les, a), D1)
    assert r["sum_of_diameters_mm"] == 5.0
    assert r["target_response"] == "PR"


def test_not_evaluable_target_is_ne_unless_the_others_show_pd():
    """Appendix ('missing assessments and inevaluable designation'): a timepoint with a target not
    measured is NE, unless the measured ones alone already meet PD — the guideline's example:
    baseline 50 mm over three lesions, at follow-up two lesions sum 80 mm → PD."""
    les = lesions(
        ("P1", "T1", "lung", "target", False, 20.0),
        ("P1", "T2", "liver", "target", False, 20.0),
        ("P1", "T3", "bone", "target", False, 10.0),
    )
    pd_case = assessments(tgt("T1", D1, "measured", 45.0), tgt("T2", D1, "measured", 35.0), tgt("T3", D1, "not_evaluable"))
    r = at(timepoint_responses(les, pd_case), D1)
    assert r["n_targets_evaluated"] == 2 and np.isnan(r["sum_of_diameters_mm"])
    assert r["sum_of_evaluated_diameters_mm"] == 80.0
    assert r["target_response"] == "PD" and r["overall_response"] == "PD"

    ne_case = assessments(tgt("T1", D1, "measured", 15.0), tgt("T2", D1, "measured", 15.0), tgt("T3", D1, "not_evaluable"))
    r = at(timepoint_responses(les, ne_case), D1)
    assert r["target_response"] == "NE" and r["overall_response"] == "NE"

    missing_row = assessments(tgt("T1", D1, "measured", 15.0), tgt("T2", D1, "measured", 15.0))  # T3 not read at all
    assert at(timepoint_responses(les, missing_row), D1)["target_response"] == "NE"


def test_incomplete_sums_do_not_become_the_nadir():
    """Only a sum over all targets can be the smallest sum on study (an NE timepoint is no nadir)."""
    les = lesions(("P1", "T1", "lung", "target", False, 30.0), ("P1", "T2", "liver", "target", False, 30.0))
    a = assessments(
        tgt("T1", D1, "measured", 10.0), tgt("T2", D1, "not_evaluable"),  # partial 10 mm
        tgt("T1", D2, "measured", 20.0), tgt("T2", D2, "measured", 25.0),  # 45 mm
    )
    r = at(timepoint_responses(les, a), D2)
    assert r["nadir_mm"] == 60.0 and r["target_response"] == "SD"


def test_new_lesion_alone_is_pd():
    """§4.3.2: the appearance of a new lesion is PD, even with shrinking targets."""
    les = lesions(("P1", "T1", "lung", "target", False, 50.0))
    a = assessments(tgt("T1", D1, "measured", 20.0), new("N1", D1))
    r = at(timepoint_responses(les, a), D1)
    assert r["target_response"] == "PR" and bool(r["new_lesion"]) and r["overall_response"] == "PD"


def test_reappearing_lesion_after_cr_is_pd_from_zero_nadir():
    """A target back to 6 mm after a CR (nadir 0): +6 mm over a 0 mm nadir is PD (§4.3.1; FAQ
    'does a new lesion always result in PD': reappearance after a CR is PD)."""
    les = lesions(("P1", "T1", "lung", "target", False, 30.0))
    t = timepoint_responses(les, assessments(tgt("T1", D1, "disappeared", 0.0), tgt("T1", D2, "measured", 6.0)))
    assert at(t, D1)["target_response"] == "CR"
    assert at(t, D2)["target_response"] == "PD"


def test_node_growing_below_10mm_after_cr_stays_cr():
    """FAQ 'abnormal lymph node': a target node only 'reappears' at ≥ 10 mm; 4 → 9 mm is still CR."""
    les = lesions(("P1", "T1", "neck_node", "target", True, 20.0))
    t = timepoint_responses(les, assessments(tgt("T1", D1, "measured", 4.0), tgt("T1", D2, "measured", 9.0)))
    assert at(t, D2)["target_response"] == "CR"


def test_long_table_and_several_patients_are_independent():
    les = lesions(("P1", "T1", "lung", "target", False, 50.0), ("P2", "T1", "lung", "target", False, 10.0))
    a = assessments(tgt("T1", D1, "measured", 30.0), tgt("T1", D1, "measured", 30.0, patient="P2"))
    t = timepoint_responses(les, a)
    assert at(t, D1, "P1")["overall_response"] == "PR"
    assert at(t, D1, "P2")["overall_response"] == "PD"  # +200 %, +20 mm
    long = response_long(t)
    p1 = long.loc[long["patient_id"] == "P1"].set_index("parameter")["value"].to_dict()
    assert p1 == {"target_response": "PR", "new_lesion": "N", "overall_response": "PR"}
    assert set(long.columns) == {"patient_id", "assessment_date", "parameter", "value", "source"}


def test_inputs_are_not_modified():
    les = lesions(("P1", "T1", "lung", "target", False, 50.0))
    a = assessments(tgt("T1", D1, "measured", 30.0))
    les0, a0 = les.copy(), a.copy()
    timepoint_responses(les, a)
    check_target_lesions(les)
    pd.testing.assert_frame_equal(les, les0)
    pd.testing.assert_frame_equal(a, a0)


# ------------------------------------------------------------------ target selection (§3.1, §4.2)


def test_target_selection_checks():
    les = lesions(
        # P1: six targets, three in the lung, two nodes in different regions (= one organ) + a third node
        ("P1", "T1", "lung", "target", False, 30.0),
        ("P1", "T2", "lung", "target", False, 20.0),
        ("P1", "T3", "lung", "target", False, 15.0),
        ("P1", "T4", "neck_node", "target", True, 20.0),
        ("P1", "T5", "mediastinal_node", "target", True, 16.0),
        ("P1", "T6", "neck_node", "target", True, 18.0),
        # P2: measurability
        ("P2", "T1", "thyroid", "target", False, 9.0),  # < 10 mm non-nodal
        ("P2", "T2", "neck_node", "target", True, 14.0),  # < 15 mm node short axis
        ("P2", "T3", "liver", "target", False, 10.0),  # exactly 10 mm: measurable
        ("P2", "T4", "neck_node", "target", True, 15.0),  # exactly 15 mm: measurable
        ("P2", "T5", "bone", "target", False, None),  # no baseline diameter
        ("P2", "NT1", "lung", "non_target", False, None),  # non-targets are not checked
    )
    probs = check_target_lesions(les)
    got = set(zip(probs["patient_id"], probs["lesion_id"], probs["rule"]))
    assert got == {
        ("P1", "T6", "max_5_targets"),  # §4.2: at most five targets
        ("P1", "T3", "max_2_targets_per_organ"),  # §4.2: at most two per organ
        ("P1", "T6", "max_2_targets_per_organ"),  # all lymph nodes are one organ (EORTC FAQ)
        ("P2", "T1", "target_not_measurable"),  # §3.1.1: ≥ 10 mm
        ("P2", "T2", "target_not_measurable"),  # §3.1.1: node ≥ 15 mm short axis
        ("P2", "T5", "target_baseline_missing"),
    }
    assert list(probs.columns) == ["patient_id", "lesion_id", "rule", "message"]
    msg = probs.set_index(["lesion_id", "rule"]).loc[("T2", "target_not_measurable"), "message"]
    assert "14 mm" in msg.iloc[0] if isinstance(msg, pd.Series) else "14 mm" in msg


def test_no_problems_gives_an_empty_table():
    probs = check_target_lesions(lesions(("P1", "T1", "lung", "target", False, 30.0)))
    assert probs.empty and list(probs.columns) == ["patient_id", "lesion_id", "rule", "message"]
