"""AJCC 8th edition stage groups: every group with a worked case, boundaries and bad input.

Expected groups are read off the AJCC 8th edition tables (chapter 73: differentiated and anaplastic;
chapter 74: medullary), as summarised in Perrier, Brierley & Tuttle, CA Cancer J Clin 2018;68:55
(PMC5766386), Radiopaedia "Anaplastic thyroid cancer staging" and Cancer Research UK
"Number stages for medullary thyroid cancer".
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from latc.derive.staging import (
    STAGE_ORDER,
    T_ORDER,
    _group,
    ajcc_stage,
    ajcc_stage_detail,
    derive_stages,
    normalise_histology,
)

# (histology, age, T, N, M, expected group, where the rule is stated)
WORKED_CASES = [
    # Differentiated, age < 55 (Perrier 2018: "All patients younger than 55 years have stage I
    # disease unless they have distant metastases, in which case their disease is stage II").
    ("ptc", 54, "T4b", "N1b", "M0", "I", "DTC <55: any T any N M0"),
    ("ftc", 30, "T1a", "N0", "M1", "II", "DTC <55: any T any N M1"),
    # Differentiated, age >= 55.
    ("ptc", 60, "T1a", "N0", "M0", "I", "DTC >=55: T1-T2 N0/NX M0"),
    ("ptc", 60, "T2", "NX", "M0", "I", "DTC >=55: T1-T2 N0/NX M0 (NX)"),
    ("ptc", 60, "T2", "N1a", "M0", "II", "DTC >=55: T1-T2 N1 M0"),
    ("ptc", 60, "T1b", "N1b", "M0", "II", "DTC >=55: T1-T2 N1 M0"),
    ("oncocytic", 70, "T3a", "N0", "M0", "II", "DTC >=55: T3a any N M0"),
    ("ftc", 70, "T3b", "N1b", "M0", "II", "DTC >=55: T3b any N M0 (strap muscles only)"),
    ("ptc", 55, "T4a", "N0", "M0", "III", "DTC >=55: T4a any N M0"),
    ("ptc", 80, "T4a", "N1b", "M0", "III", "DTC >=55: T4a any N M0"),
    ("ptc", 66, "T4b", "N0", "M0", "IVA", "DTC >=55: T4b any N M0"),
    ("ptc", 66, "T1a", "N0", "M1", "IVB", "DTC >=55: any T any N M1"),
    # Poorly differentiated carcinoma is staged with the differentiated table.
    ("pdtc", 60, "T4a", "N1b", "M0", "III", "PDTC = DTC table"),
    ("pdtc", 40, "T4b", "N1b", "M1", "II", "PDTC = DTC table, <55 M1"),
    # Anaplastic (age plays no part).
    ("atc", 70, "T1a", "N0", "M0", "IVA", "ATC: T1-T3a N0/NX M0"),
    ("atc", 40, "T3a", "NX", "M0", "IVA", "ATC: T1-T3a N0/NX M0"),
    ("atc", 70, "T2", "N1a", "M0", "IVB", "ATC: T1-T3a N1 M0"),
    ("atc", 70, "T3b", "N0", "M0", "IVB", "ATC: T3b-T4 any N M0"),
    ("atc", 30, "T4a", "N0", "M0", "IVB", "ATC: T3b-T4 any N M0"),
    ("atc", 70, "T1a", "N0", "M1", "IVC", "ATC: any M1"),
    # Medullary (own chapter).
    ("mtc", 40, "T1a", "N0", "M0", "I", "MTC: T1 N0 M0"),
    ("mtc", 70, "T2", "N0", "M0", "II", "MTC: T2-T3 N0 M0"),
    ("mtc", 70, "T3b", "N0", "M0", "II", "MTC: T2-T3 N0 M0"),
    ("mtc", 40, "T1b", "N1a", "M0", "III", "MTC: T1-T3 N1a M0"),
    ("mtc", 40, "T3a", "N1a", "M0", "III", "MTC: T1-T3 N1a M0"),
    ("mtc", 40, "T4a", "N0", "M0", "IVA", "MTC: T4a any N M0"),
    ("mtc", 40, "T2", "N1b", "M0", "IVA", "MTC: T1-T3 N1b M0"),
    ("mtc", 40, "T4b", "N1a", "M0", "IVB", "MTC: T4b any N M0"),
    ("mtc", 40, "T1a", "N0", "M1", "IVC", "MTC: any M1"),
]


@pytest.mark.parametrize("histology,age,t,n,m,expected,rule", WORKED_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}{c[3]}{c[4]}" for c in WORKED_CASES])
def test_worked_case(histology, age, t, n, m, expected, rule):
    assert ajcc_stage(histology, age, t, n, m).iloc[0] == expected, rule


def test_every_stage_group_has_a_worked_case():
    by_chapter = {"differentiated": set(), "anaplastic": set(), "medullary": set()}
    chapter = {"ptc": "differentiated", "ftc": "differentiated", "oncocytic": "differentiated", "pdtc": "differentiated", "atc": "anaplastic", "mtc": "medullary"}
    for h, *_rest, expected, _rule in WORKED_CASES:
        by_chapter[chapter[h]].add(expected)
    assert by_chapter["differentiated"] == {"I", "II", "III", "IVA", "IVB"}
    assert by_chapter["anaplastic"] == {"IVA", "IVB", "IVC"}
    assert by_chapter["medullary"] == {"I", "II", "III", "IVA", "IVB", "IVC"}


def test_vectorised_over_series_matches_row_by_row():
    cases = pd.DataFrame(WORKED_CASES, columns=["histology", "age", "t", "n", "m", "expected", "rule"])
    got = ajcc_stage(cases["histology"], cases["age"], cases["t"], cases["n"], cases["m"])
    assert got.index.equals(cases.index)
    assert got.tolist() == cases["expected"].tolist()


@pytest.mark.parametrize("age,expected", [(54, "I"), (54.9, "I"), (55, "III"), (56, "III")])
def test_age_55_boundary(age, expected):
    # AJCC 8th: the cut-off is "< 55" versus ">= 55" years at diagnosis.
    assert ajcc_stage("ptc", age, "T4a", "N1a", "M0").iloc[0] == expected


def test_age_ignored_for_anaplastic_and_medullary():
    for age in (20, 54, 55, 90, None):
        assert ajcc_stage("atc", age, "T2", "N0", "M0").iloc[0] == "IVA"
        assert ajcc_stage("mtc", age, "T2", "N0", "M0").iloc[0] == "II"


@pytest.mark.parametrize("name,code", [
    ("Papillary", "ptc"), ("papillary thyroid carcinoma", "ptc"), ("Follicular variant of papillary", "ptc"),
    ("FOLLICULAR", "ftc"), ("Hürthle cell carcinoma", "oncocytic"), ("Oncocytic (Hurthle cell) carcinoma (DTC)", "oncocytic"),
    ("Poorly differentiated thyroid carcinoma", "pdtc"), ("PDTC", "pdtc"), ("DTC", "dtc"), ("differentiated", "dtc"),
    ("Anaplastic", "atc"), ("undifferentiated", "atc"), ("Medullary", "mtc"), ("MTC", "mtc"),
])
def test_histology_names(name, code):
    assert normalise_histology(pd.Series([name])).iloc[0] == code


def test_dtc_word_uses_the_differentiated_table():
    assert ajcc_stage("DTC", 60, "T4b", "N0", "M0").iloc[0] == "IVA"


def test_prefixes_and_case_are_accepted():
    assert ajcc_stage("ptc", 60, "ypT4a", "ypN1b", "cM0").iloc[0] == "III"
    assert ajcc_stage("ptc", 60, "t4b", "n0", "m0").iloc[0] == "IVA"
    assert ajcc_stage("mtc", 60, "pT1", "pN0", "M0").iloc[0] == "I"


def test_nx_groups_with_n0_for_dtc_and_atc_but_not_medullary():
    assert ajcc_stage("ptc", 60, "T1b", "NX", "M0").iloc[0] == "I"
    assert ajcc_stage("atc", 60, "T1b", "NX", "M0").iloc[0] == "IVA"
    d = ajcc_stage_detail("mtc", 60, "T1b", "NX", "M0").iloc[0]
    assert pd.isna(d["stage"]) and d["rule"] == "stage_ambiguous" and d["problem_field"] == "n"
    # ... but "any N" rows stage with NX in the medullary table too.
    assert ajcc_stage("mtc", 60, "T4a", "NX", "M0").iloc[0] == "IVA"
    assert ajcc_stage("mtc", 60, "T4b", "NX", "M0").iloc[0] == "IVB"


def test_tx_and_unsubdivided_categories_stage_only_when_unambiguous():
    assert ajcc_stage("ptc", 40, "TX", "N1b", "M0").iloc[0] == "I"  # any T, age < 55
    assert ajcc_stage("ptc", 70, "TX", "N0", "M1").iloc[0] == "IVB"  # any T, M1
    assert ajcc_stage("ptc", 70, "T3", "N1a", "M0").iloc[0] == "II"  # T3a and T3b both II
    assert ajcc_stage("atc", 70, "T4", "N0", "M0").iloc[0] == "IVB"  # T4a and T4b both IVB
    assert ajcc_stage("ptc", 70, "T1", "N1", "M0").iloc[0] == "II"
    for args in [("ptc", 70, "TX", "N0", "M0"), ("ptc", 70, "T4", "N0", "M0"), ("atc", 70, "T3", "N0", "M0"), ("mtc", 70, "T2", "N1", "M0")]:
        d = ajcc_stage_detail(*args).iloc[0]
        assert pd.isna(d["stage"]), args
        assert d["rule"] == "stage_ambiguous", args


def test_t0_stages_as_residual_nodal_disease_and_t0n0m0_has_no_group():
    # ypT0 with residual nodal disease: the nodal disease is staged (T0 ranks below T1a).
    assert ajcc_stage("ptc", 60, "T0", "N1a", "M0").iloc[0] == "II"
    assert ajcc_stage("mtc", 60, "T0", "N1b", "M0").iloc[0] == "IVA"
    assert ajcc_stage("atc", 60, "T0", "N1a", "M0").iloc[0] == "IVB"
    assert ajcc_stage("ptc", 60, "T0", "N0", "M1").iloc[0] == "IVB"
    d = ajcc_stage_detail("ptc", 40, "T0", "N0", "M0").iloc[0]
    assert pd.isna(d["stage"]) and d["rule"] == "no_stage_group"


@pytest.mark.parametrize("args,field,rule", [
    (("ptc", 60, "T5", "N0", "M0"), "t", "t_category_unknown"),
    (("ptc", 60, "T1a", "N2", "M0"), "n", "n_category_unknown"),
    (("ptc", 60, "T1a", "N0", "MX"), "m", "m_category_unknown"),
    (("ptc", 60, None, "N0", "M0"), "t", "t_category_unknown"),
    (("lymphoma", 60, "T1a", "N0", "M0"), "histology", "histology_unknown"),
    (("ptc", None, "T1a", "N0", "M0"), "age", "age_missing_for_dtc"),
    (("ftc", "fifty", "T1a", "N0", "M0"), "age", "age_missing_for_dtc"),
])
def test_invalid_input_gives_a_problem_not_an_exception(args, field, rule):
    d = ajcc_stage_detail(*args).iloc[0]
    assert pd.isna(d["stage"])
    assert d["problem_field"] == field
    assert d["rule"] == rule
    assert isinstance(d["message"], str) and len(d["message"]) > 10


def test_mx_message_explains_the_8th_edition_rule():
    assert "MX is not a valid" in ajcc_stage_detail("ptc", 60, "T1a", "N0", "MX").iloc[0]["message"]


@pytest.mark.parametrize("chapter", ["differentiated", "anaplastic", "medullary"])
@pytest.mark.parametrize("older", [False, True])
@pytest.mark.parametrize("m1", [False, True])
def test_tables_are_monotone_in_t_and_n(chapter, older, m1):
    """The lowest/highest-candidate comparison for TX/T3/T4/NX relies on monotone tables."""
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    grid = list(itertools.product(range(1, len(T_ORDER)), range(3)))
    t = np.array([g[0] for g in grid])
    n = np.array([g[1] for g in grid])
    k = len(grid)
    stages = _group(np.full(k, chapter), np.full(k, older), t, n, np.full(k, m1))
    value = {(ti, ni): rank[s] for ti, ni, s in zip(t, n, stages)}
    for (ti, ni), v in value.items():
        if (ti + 1, ni) in value:
            assert value[(ti + 1, ni)] >= v
        if (ti, ni + 1) in value:
            assert value[(ti, ni + 1)] >= v


def test_derive_stages_clinical_and_pathological():
    subject = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002", "C01-003", "C01-004", "C01-005", "C01-006"],
        "cohort": ["neoadjuvant", "neoadjuvant", "upfront_surgery", "upfront_surgery", "neoadjuvant", "neoadjuvant"],
        "age_at_diagnosis": pd.array([62, 48, 70, 60, 61, 66], dtype="Int64"),
        "histology": ["ptc", "ptc", "atc", "ptc", "mtc", "ptc"],
        "ct": ["T4a", "T4b", "T4a", "T4a", "T4a", "T4a"],
        "cn": ["N1b", "N1b", "N0", "N0", "N1b", "N1a"],
        "cm": ["M0", "M0", "M0", "M0", "M0", "M0"],
        "tnm_prefix": ["yp", "yp", "p", "p", "yp", "p"],
        "pt": ["T2", "T0", "T4a", "T0", None, "T7"],
        "pn": ["N0", "N0", "N1a", "N0", None, "N0"],
    })
    staged, problems = derive_stages(subject)
    assert staged["clinical_stage"].tolist()[:5] == ["III", "I", "IVB", "III", "IVA"]
    assert staged["stage_prefix"].tolist()[:4] == ["yp", "yp", "p", "p"]
    assert pd.isna(staged["stage_prefix"].iloc[4])  # no specimen: no pathological prefix
    assert staged["pathological_stage"].iloc[0] == "I"  # ypT2 N0 M0, 62 y
    assert pd.isna(staged["pathological_stage"].iloc[1])  # ypT0 ypN0: complete response, no group
    assert staged["pathological_stage"].iloc[2] == "IVB"
    assert pd.isna(staged["pathological_stage"].iloc[3])  # pT0 pN0 after upfront surgery: a data problem
    assert "histology" in staged and subject.shape[1] == 10  # input not modified
    by_patient = problems.set_index("patient_id")
    assert "C01-002" not in by_patient.index  # complete response is not a data problem
    assert by_patient.loc["C01-004", "rule"] == "no_stage_group"
    assert by_patient.loc["C01-004", "field"] == "pt"
    bad = problems[problems["patient_id"] == "C01-006"]
    assert set(bad["rule"]) == {"t_category_unknown", "tnm_prefix_vs_cohort"}
    assert set(bad["field"]) == {"pt", "tnm_prefix"}
    assert list(problems.columns) == ["patient_id", "field", "value", "rule", "message"]


def test_derive_stages_uses_specimen_histology_when_given():
    subject = pd.DataFrame({
        "patient_id": ["C01-001"], "cohort": ["upfront_surgery"], "age_at_diagnosis": [70],
        "histology": ["ptc"], "pathology_histology": ["atc"], "ct": ["T2"], "cn": ["N0"], "cm": ["M0"],
        "tnm_prefix": ["p"], "pt": ["T2"], "pn": ["N0"],
    })
    staged, _ = derive_stages(subject)
    assert staged["clinical_stage"].iloc[0] == "I"
    assert staged["pathological_stage"].iloc[0] == "IVA"


def test_scales_to_100k_rows():
    rng = np.random.default_rng(7)
    k = 100_000
    hist = rng.choice(["ptc", "ftc", "pdtc", "atc", "mtc", "bogus"], k)
    age = rng.integers(15, 90, k)
    t = rng.choice(list(T_ORDER) + ["TX", "T3", "Q"], k)
    n = rng.choice(["N0", "N1a", "N1b", "NX"], k)
    m = rng.choice(["M0", "M1"], k)
    d = ajcc_stage_detail(pd.Series(hist), pd.Series(age), pd.Series(t), pd.Series(n), pd.Series(m))
    assert d["stage"].notna().sum() > k / 2
    assert (d["stage"].isna() == d["rule"].notna()).all()
