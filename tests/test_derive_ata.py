"""ATA 2015 initial risk of structural recurrence and dynamic re-stratification.

Worked cases from Haugen et al., Thyroid 2016;26:1 — Table 11 (initial risk, 2015 modifications),
Figure 4 (continuum of risk incl. BRAF/TERT "where known") and Table 13 (response to therapy);
Tuttle et al., Thyroid 2010;20:1341 (re-stratification after an excellent response).
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.derive.ata_risk import ata_dynamic_risk, ata_initial_risk, ata_risk_input

# An intrathyroidal, completely resected, node-negative classic PTC of 15 mm: ATA low risk
# (Table 11 low: "no local or distant metastases; all macroscopic tumour resected; no invasion of
# loco-regional tissues; no aggressive histology; no vascular invasion; clinical N0").
LOW = {
    "patient_id": "C01-001", "histology": "ptc", "histology_subtype": "classic", "cn": "N0", "cm": "M0",
    "pt": "T1b", "pn": "N0", "extrathyroidal_extension": "none", "vascular_invasion": "none",
    "resection_status": "R0", "margin_status": "negative", "nodes_positive": 0,
    "largest_node_metastasis_mm": None, "extranodal_extension": False, "tumor_size_mm": 15.0,
    "braf_v600e": "negative", "tert_promoter": "negative", "stage_prefix": "p",
}


def _risk(**changes):
    row = {**LOW, **changes}
    out = ata_initial_risk(pd.DataFrame([row]))
    return out.loc[0, "ata_risk"], out.loc[0, "ata_risk_reasons"]


def test_low_risk_case():
    risk, reasons = _risk()
    assert risk == "low"
    assert reasons == "no intermediate- or high-risk feature"


@pytest.mark.parametrize("changes,reason", [
    ({"extrathyroidal_extension": "gross_major", "pt": "T4a"}, "gross extrathyroidal extension"),
    ({"extrathyroidal_extension": "gross_strap", "pt": "T3b"}, "gross extrathyroidal extension"),
    ({"resection_status": "R2"}, "incomplete tumour resection"),
    ({"margin_status": "gross_positive", "resection_status": None}, "incomplete tumour resection"),
    ({"cm": "M1"}, "distant metastases"),
    ({"postop_tg_suggests_distant_metastases": True}, "postoperative Tg"),
    ({"pn": "N1b", "nodes_positive": 2, "largest_node_metastasis_mm": 31.0}, "nodal metastasis >= 3 cm"),
    ({"pn": "N1b", "nodes_positive": 1, "largest_node_metastasis_mm": 30.0}, "nodal metastasis >= 3 cm"),
    ({"histology": "ftc", "vascular_invasion": "extensive"}, "extensive vascular invasion"),
    ({"histology": "oncocytic", "vascular_invasion": "extensive"}, "extensive vascular invasion"),
    ({"tert_promoter": "positive", "tumor_size_mm": 25.0}, "TERT"),  # Figure 4: PTC > 1 cm, TERT (> 40 %)
    ({"pn": "N1a", "nodes_positive": 4, "largest_node_metastasis_mm": 12.0, "extranodal_extension": True, "cn": "N0"}, "extranodal extension"),
])
def test_high_risk_criteria(changes, reason):
    risk, reasons = _risk(**changes)
    assert risk == "high"
    assert reason in reasons


@pytest.mark.parametrize("changes,reason", [
    ({"extrathyroidal_extension": "microscopic"}, "microscopic extrathyroidal extension"),
    ({"histology_subtype": "tall_cell"}, "aggressive histology"),
    ({"histology_subtype": "hobnail"}, "aggressive histology"),
    ({"histology_subtype": "columnar"}, "aggressive histology"),
    ({"vascular_invasion": "focal"}, "PTC with vascular invasion"),
    ({"cn": "N1b"}, "clinical N1"),
    ({"pn": "N1a", "nodes_positive": 6, "largest_node_metastasis_mm": 12.0}, "> 5 pathological N1 nodes"),
    ({"braf_v600e": "positive", "tumor_size_mm": 25.0}, "BRAF V600E"),  # Figure 4: intrathyroidal PTC <4 cm BRAF (~10 %)
])
def test_intermediate_risk_criteria(changes, reason):
    risk, reasons = _risk(**changes)
    assert risk == "intermediate"
    assert reason in reasons


@pytest.mark.parametrize("changes", [
    {"pn": "N1a", "nodes_positive": 5, "largest_node_metastasis_mm": 1.5},   # <= 5 micrometastases (Table 11 low)
    {"pn": "N1a", "nodes_positive": 3, "largest_node_metastasis_mm": 8.0},   # pN1 <= 5 nodes (Figure 4, ~5 %)
    {"histology": "ftc", "vascular_invasion": "focal"},                      # FTC, < 4 foci of vascular invasion
    {"braf_v600e": "positive", "tumor_size_mm": 8.0, "pt": "T1a"},           # intrathyroidal micro-PTC incl. BRAF V600E
    {"resection_status": "R1", "margin_status": "microscopic_positive"},     # R1 is not "incomplete resection"
])
def test_low_risk_edge_cases(changes):
    assert _risk(**changes)[0] == "low"


def test_high_outranks_intermediate_and_lists_all_high_reasons():
    risk, reasons = _risk(extrathyroidal_extension="gross_major", pt="T4a", resection_status="R2", cn="N1b", histology_subtype="tall_cell")
    assert risk == "high"
    assert reasons.split(";") == ["gross extrathyroidal extension", "incomplete tumour resection (R2 / gross residual)"]


def test_continuum_features_can_be_switched_off():
    row = pd.DataFrame([{**LOW, "braf_v600e": "positive", "tumor_size_mm": 25.0}])
    assert ata_initial_risk(row).loc[0, "ata_risk"] == "intermediate"
    assert ata_initial_risk(row, continuum_features=False).loc[0, "ata_risk"] == "low"


def test_not_applicable_for_mtc_and_atc_and_pdtc_choice():
    for hist in ("mtc", "atc"):
        risk, reasons = _risk(histology=hist)
        assert pd.isna(risk)
        assert reasons.startswith("not applicable") and hist.upper() in reasons
    risk, reasons = _risk(histology="pdtc")
    assert risk == "high" and "poorly differentiated" in reasons
    row = pd.DataFrame([{**LOW, "histology": "pdtc"}])
    assert ata_initial_risk(row, pdtc_risk="intermediate").loc[0, "ata_risk"] == "intermediate"
    with pytest.raises(ValueError):
        ata_initial_risk(row, pdtc_risk="extreme")


def test_specimen_histology_wins_over_diagnosis():
    row = pd.DataFrame([{**LOW, "histology": "ptc", "pathology_histology": "mtc"}])
    assert pd.isna(ata_initial_risk(row).loc[0, "ata_risk"])


def test_missing_deciding_features_give_missing_risk_not_low():
    risk, reasons = _risk(extrathyroidal_extension=None, pt=None)
    assert pd.isna(risk) and "extrathyroidal extension" in reasons
    # ... but a known high-risk feature decides even when others are missing
    assert _risk(vascular_invasion=None, cm="M1")[0] == "high"
    only_some = pd.DataFrame({"histology": ["ptc"], "cm": ["M0"]})
    out = ata_initial_risk(only_some)
    assert pd.isna(out.loc[0, "ata_risk"]) and out.loc[0, "ata_risk_reasons"].startswith("insufficient data")


def test_vectorised_input_not_modified():
    rows = pd.DataFrame([LOW, {**LOW, "patient_id": "C01-002", "cm": "M1"}, {**LOW, "patient_id": "C01-003", "cn": "N1a"}])
    before = rows.copy()
    out = ata_initial_risk(rows)
    assert out["ata_risk"].tolist() == ["low", "high", "intermediate"]
    assert out["ata_risk_basis"].tolist() == ["p", "p", "p"]
    pd.testing.assert_frame_equal(rows, before)


def test_ata_risk_input_from_clean_tables():
    diagnosis = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002"], "center_id": "C01", "histology": ["ptc", "ptc"],
        "histology_subtype": ["classic", "classic"], "cn": ["N0", "N0"], "cm": ["M0", "M0"],
        "braf_v600e": ["positive", "negative"], "tert_promoter": ["negative", "negative"],
        "primary_size_mm": pd.array([25.0, 60.0], dtype="Float64"),
    })
    pathology = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002"], "center_id": "C01", "surgery_id": pd.array([1, 1], dtype="Int64"),
        "histology": ["ptc", "ptc"], "tnm_prefix": ["p", "yp"], "pt": ["T2", "T2"], "pn": ["N0", "N0"],
        "tumor_size_mm": pd.array([None, None], dtype="Float64"), "viable_tumor_pct": pd.array([None, 20.0], dtype="Float64"),
        "extrathyroidal_extension": ["none", "none"], "vascular_invasion": ["none", "none"],
        "margin_status": ["negative", "negative"], "nodes_positive": pd.array([0, 0], dtype="Int64"),
        "largest_node_metastasis_mm": pd.array([None, None], dtype="Float64"), "extranodal_extension": pd.array([False, False], dtype="boolean"),
    })
    surgery = pd.DataFrame({
        "patient_id": ["C01-001", "C01-002"], "surgery_id": pd.array([1, 1], dtype="Int64"),
        "surgery_date": pd.to_datetime(["2024-01-01", "2024-05-01"]), "surgical_intent": ["curative", "curative"],
        "resection_status": ["R0", "R2"],
    })
    inp = ata_risk_input({"diagnosis": diagnosis, "pathology": pathology, "surgery": surgery})
    # upfront: the baseline size stands in for the missing specimen size; neoadjuvant: it does not
    assert inp.loc[0, "tumor_size_mm"] == 25.0 and pd.isna(inp.loc[1, "tumor_size_mm"])
    out = ata_initial_risk(inp)
    assert out["ata_risk"].tolist() == ["intermediate", "high"]  # BRAF PTC 2.5 cm; R2
    assert out["ata_risk_basis"].tolist() == ["p", "yp"]


# Dynamic re-stratification (ATA 2015 Table 13; Tuttle 2010).
def test_dynamic_restratification_statements():
    initial = pd.Series(["low", "high", "intermediate", "high", "low", None])
    response = pd.Series(["Excellent", "excellent response", "Indeterminate", "biochemical incomplete", "Structural-incomplete", "excellent"])
    out = ata_dynamic_risk(initial, response)
    assert out["response_to_therapy"].tolist()[:5] == ["excellent", "excellent", "indeterminate", "biochemical_incomplete", "structural_incomplete"]
    assert out["restratified_risk"].tolist()[:5] == ["lower", "lower", "unchanged", "higher", "higher"]
    s = out["restratified_risk_statement"]
    assert "1-4 % recurrence" in s[0] and "2 %" in s[0]     # Table 13; Tuttle 2010 low risk 2 %
    assert "14 %" in s[1]                                   # Tuttle 2010: high risk, excellent -> 14 %
    assert "15-20 %" in s[2]                                # indeterminate
    assert "20 % develop structural disease" in s[3]        # biochemical incomplete
    assert "50-85 %" in s[4]                                # structural incomplete
    assert pd.isna(out.loc[5, "restratified_risk"]) and pd.isna(s[5])


def test_dynamic_unknown_response_is_missing():
    out = ata_dynamic_risk(pd.Series(["low"]), pd.Series(["partial"]))
    assert pd.isna(out.loc[0, "response_to_therapy"]) and pd.isna(out.loc[0, "restratified_risk_statement"])
