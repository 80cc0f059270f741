"""Pathological response (pCR / MPR / non-response), specimen choice and downstaging.

Definitions (docs/derivations/pathology.md): pCR = no viable tumour in primary and nodes
(0 % viable, ypT0, ypN0); MPR = <= 10 % viable tumour (Hellmann et al., Lancet Oncol 2014;15:e42);
downstaging by the AJCC 8th T/N order and stage groups.
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.pathology import (
    classify_pathological_response,
    curative_specimen,
    derive_pathological_response,
    n_rank,
    t_rank,
)


def _classify(pct, t="T1a", n="N0", prefix="yp"):
    r = classify_pathological_response(pd.Series([pct], dtype="Float64"), pd.Series([t]), pd.Series([n]), pd.Series([prefix]))
    return r.iloc[0]


@pytest.mark.parametrize("pct,t,n,category,pcr,mpr", [
    (0.0, "T0", "N0", "pCR", True, True),          # no viable tumour in primary and nodes
    (0.0, "T0", "N1a", "MPR", False, True),        # residual nodal disease: not pCR
    (0.0, "T0", "NX", "MPR", False, True),         # nodes not assessed: pCR cannot be confirmed
    (5.0, "T1a", "N0", "MPR", False, True),
    (10.0, "T1b", "N0", "MPR", False, True),       # <= 10 % is major
    (10.1, "T1b", "N0", "non-response", False, False),
    (80.0, "T4a", "N1b", "non-response", False, False),
])
def test_response_categories(pct, t, n, category, pcr, mpr):
    r = _classify(pct, t, n)
    assert r["pathological_response"] == category
    assert bool(r["pcr"]) is pcr
    assert bool(r["mpr"]) is mpr


def test_upfront_surgery_and_missing_pct_give_missing_response():
    for r in (_classify(0.0, "T0", "N0", prefix="p"), _classify(None, "T0", "N0")):
        assert pd.isna(r["pathological_response"])
        assert pd.isna(r["pcr"]) and pd.isna(r["mpr"])


def test_mpr_threshold_is_a_parameter():
    r = classify_pathological_response(pd.Series([15.0]), pd.Series(["T2"]), pd.Series(["N0"]), pd.Series(["yp"]), mpr_threshold=20)
    assert r.loc[0, "pathological_response"] == "MPR"


def test_t_and_n_order():
    assert t_rank(pd.Series(["T0", "T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b"])).tolist() == list(range(8))
    assert t_rank(pd.Series(["ypT2", "TX", None])).isna().tolist() == [False, True, True]
    assert n_rank(pd.Series(["N0", "N1a", "N1b", "NX"])).isna().tolist() == [False, False, False, True]


def _tables():
    patients = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002", "C01-003", "C01-004", "C01-005", "C01-006"],
        "center_id": "C01",
        "cohort": ["neoadjuvant", "neoadjuvant", "neoadjuvant", "upfront_surgery", "neoadjuvant", "neoadjuvant"],
        "age_at_diagnosis": pd.array([60, 45, 70, 62, 58, 66], dtype="Int64"),
    })
    diagnosis = pd.DataFrame({
        "patient_id": patients["patient_id"], "center_id": "C01",
        "histology": ["ptc", "ptc", "atc", "ptc", "ptc", "ptc"],
        "ct": ["T4a", "T4b", "T4a", "T4a", "T4a", "T4a"],
        "cn": ["N1b", "N1b", "N1a", "N1b", "N0", "N1a"],
        "cm": ["M0", "M0", "M0", "M0", "M0", "M0"],
    })
    pathology = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002", "C01-003", "C01-004", "C01-005", "C01-005", "C01-006"],
        "center_id": "C01",
        "surgery_id": pd.array([1, 1, 1, 1, 1, 2, 1], dtype="Int64"),
        "histology": ["ptc", "ptc", "atc", "ptc", "ptc", "ptc", "ptc"],
        "tnm_prefix": ["yp", "yp", "yp", "p", "yp", "yp", "yp"],
        "pt": ["T2", "T0", "T4a", "T4a", "T4a", "T1b", "T2"],
        "pn": ["N0", "N0", "N1a", "N1b", "N1b", "N0", "N1a"],
        "viable_tumor_pct": pd.array([40.0, 0.0, 90.0, None, 95.0, 8.0, None], dtype="Float64"),
    })
    surgery = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002", "C01-003", "C01-004", "C01-005", "C01-005", "C01-006"],
        "surgery_id": pd.array([1, 1, 1, 1, 1, 2, 1], dtype="Int64"),
        "surgery_date": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03", "2024-01-10", "2024-02-01", "2024-06-01", "2024-04-01"]),
        "surgical_intent": ["curative", "curative", "curative", "curative", "palliative", "curative", "curative"],
        "resection_status": ["R0", "R0", "R1", "R0", "R2", "R0", "R0"],
    })
    return patients, diagnosis, pathology, surgery


def test_curative_specimen_skips_palliative_and_takes_the_first_curative():
    _, _, pathology, surgery = _tables()
    spec = curative_specimen(pathology, surgery).set_index("patient_id")
    assert spec.loc["C01-005", "surgery_id"] == 2  # palliative debulking first, then the radical operation
    assert len(spec) == 6
    two_curative = surgery.copy()
    two_curative.loc[two_curative["surgery_id"].eq(1) & two_curative["patient_id"].eq("C01-005"), "surgical_intent"] = "curative"
    assert curative_specimen(pathology, two_curative).set_index("patient_id").loc["C01-005", "surgery_id"] == 1
    # without a surgery table: the lowest operation number
    assert curative_specimen(pathology).set_index("patient_id").loc["C01-005", "surgery_id"] == 1


def test_derive_pathological_response_end_to_end():
    patients, diagnosis, pathology, surgery = _tables()
    out, problems = derive_pathological_response({"patients": patients, "diagnosis": diagnosis, "pathology": pathology,
                                                  "surgery": surgery})
    r = out.set_index("patient_id")

    # C01-001: PTC 60 y, cT4a cN1b (stage III) -> ypT2 ypN0 (stage I), 40 % viable.
    assert r.loc["C01-001", "pathological_response"] == "non-response"
    assert r.loc["C01-001", "clinical_stage"] == "III" and r.loc["C01-001", "pathological_stage"] == "I"
    assert bool(r.loc["C01-001", "t_downstaged"]) and bool(r.loc["C01-001", "n_downstaged"])
    assert bool(r.loc["C01-001", "stage_downstaged"])
    assert r.loc["C01-001", "ypt"] == "T2"

    # C01-002: ypT0 ypN0 with 0 % viable: pCR; no yp stage group, counted as stage downstaging.
    assert r.loc["C01-002", "pathological_response"] == "pCR"
    assert bool(r.loc["C01-002", "pcr"]) and bool(r.loc["C01-002", "mpr"])
    assert pd.isna(r.loc["C01-002", "pathological_stage"])
    assert bool(r.loc["C01-002", "stage_downstaged"])

    # C01-003: ATC cT4a cN1a -> ypT4a ypN1a: IVB both; nothing downstaged.
    assert r.loc["C01-003", "clinical_stage"] == "IVB" and r.loc["C01-003", "pathological_stage"] == "IVB"
    assert not r.loc["C01-003", "t_downstaged"] and not r.loc["C01-003", "stage_downstaged"]

    # C01-004: upfront surgery: pTNM staged, response and downstaging not applicable.
    assert r.loc["C01-004", "stage_prefix"] == "p"
    assert r.loc["C01-004", "pathological_stage"] == "III"
    assert pd.isna(r.loc["C01-004", "pathological_response"]) and pd.isna(r.loc["C01-004", "t_downstaged"])
    assert pd.isna(r.loc["C01-004", "ypt"])

    # C01-005: the curative (second) specimen is used: 8 % viable -> MPR, ypT1b.
    assert r.loc["C01-005", "specimen_surgery_id"] == 2
    assert r.loc["C01-005", "pathological_response"] == "MPR"
    assert r.loc["C01-005", "ypt"] == "T1b"
    assert not r.loc["C01-005", "n_downstaged"]  # cN0 -> ypN0: not downstaged

    # C01-006: % viable missing for a neoadjuvant specimen -> missing response + a problem.
    assert pd.isna(r.loc["C01-006", "pathological_response"])
    p = problems[problems["patient_id"] == "C01-006"]
    assert p["rule"].tolist() == ["viable_tumor_pct_missing"]
    assert p["field"].tolist() == ["viable_tumor_pct"]
    assert len(problems) == 1


def test_inconsistent_viable_pct_and_ypt_are_queried():
    patients, diagnosis, pathology, surgery = _tables()
    pathology.loc[0, "viable_tumor_pct"] = 0.0  # 0 % but ypT2
    pathology.loc[1, "viable_tumor_pct"] = 30.0  # ypT0 but 30 %
    out, problems = derive_pathological_response({"patients": patients, "diagnosis": diagnosis, "pathology": pathology,
                                                  "surgery": surgery})
    rules = dict(zip(problems["patient_id"], problems["rule"]))
    assert rules["C01-001"] == "no_viable_tumour_but_residual_t"
    assert rules["C01-002"] == "ypt0_with_viable_tumour"
    r = out.set_index("patient_id")
    assert r.loc["C01-001", "pathological_response"] == "MPR"  # not pCR while ypT2 is recorded
    assert r.loc["C01-002", "pathological_response"] == "non-response"


def test_patient_without_surgery_has_missing_pathology_columns():
    patients, diagnosis, pathology, surgery = _tables()
    keep = pathology["patient_id"] != "C01-001"
    out, problems = derive_pathological_response({"patients": patients, "diagnosis": diagnosis, "pathology": pathology[keep],
                                                  "surgery": surgery[surgery["patient_id"] != "C01-001"]})
    r = out.set_index("patient_id").loc["C01-001"]
    assert r["clinical_stage"] == "III"
    assert pd.isna(r["pathological_stage"]) and pd.isna(r["stage_prefix"]) and pd.isna(r["pathological_response"])
    assert "C01-001" not in set(problems["patient_id"])
