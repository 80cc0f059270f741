"""ATA 2015 initial risk of structural disease recurrence and dynamic re-stratification (DTC).

Source: Haugen BR et al., "2015 American Thyroid Association Management Guidelines for Adult
Patients with Thyroid Nodules and Differentiated Thyroid Cancer", *Thyroid* 2016;26:1-133 —
Table 11 (ATA 2009 initial risk stratification system with the 2015 modifications), Figure 4
(risk of structural disease recurrence as a continuum, incl. molecular findings "where known"),
Table 13 (clinical implications of the response-to-therapy categories); and Tuttle RM et al.,
*Thyroid* 2010;20:1341-9 (dynamic risk: re-stratification by response to initial therapy).

Initial risk (first matching level wins; every triggered criterion is listed in ``ata_risk_reasons``):

high (Table 11)
    gross extrathyroidal extension (``extrathyroidal_extension`` gross_strap/gross_major, or pT3b/T4a/T4b);
    incomplete tumour resection (``resection_status`` R2 or ``margin_status`` gross_positive);
    distant metastases (``cm`` M1); postoperative Tg suggestive of distant metastases
    (``postop_tg_suggests_distant_metastases``, supplied by the biochemical derivation when known);
    pN1 with any nodal metastasis >= 3 cm (``largest_node_metastasis_mm`` >= 30);
    FTC (and oncocytic carcinoma, a follicular-cell carcinoma) with extensive vascular invasion
    (> 4 foci; the dictionary's ``vascular_invasion == 'extensive'``).
    Figure 4 (``continuum_features=True``): PTC > 1 cm with TERT promoter mutation (> 40 %);
    pN1 with extranodal extension and > 3 positive nodes (≈ 40 %).
intermediate (Table 11)
    microscopic extrathyroidal extension; aggressive histology (tall cell, hobnail, columnar);
    PTC with vascular invasion; clinical N1 (``cn`` N1a/N1b); > 5 pathological N1 nodes (all < 3 cm).
    Figure 4 (``continuum_features=True``): intrathyroidal PTC > 1 cm with BRAF V600E (≈ 10 %).
    (Multifocal micro-PTC with ETE and BRAF V600E is covered by "microscopic ETE"; RAI-avid neck
    foci on the first post-treatment scan are not recorded by the study forms.)
low
    none of the above, with the deciding features known (ETE, vascular invasion, cN, cM, pN or
    positive node count, resection status).  ≤ 5 pN1 nodes < 3 cm without other features stay low
    (Figure 4: "pN1, ≤ 5 LN involved (≈ 5 %)").

Not applicable: medullary and anaplastic carcinoma (the ATA 2015 DTC guideline does not cover
them) → missing with the reason.  Poorly differentiated carcinoma is outside Table 11; following
common ATA practice it is classed ``pdtc_risk`` (default ``high``); other features cannot lower it.
For neoadjuvant patients the specimen is post-treatment (ypTNM), so the stratification describes the
residual disease — an adaptation the guideline does not address (``ata_risk_basis`` = ``yp``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables
from latc.derive.staging import clean_tnm_code

RISK_LEVELS = ("low", "intermediate", "high")
RESPONSE_CATEGORIES = ("excellent", "indeterminate", "biochemical_incomplete", "structural_incomplete")
AGGRESSIVE_SUBTYPES = ("tall_cell", "hobnail", "columnar")
NODE_HIGH_RISK_MM = 30.0
PTC_SIZE_MM = 10.0

_HIGH = {
    "gross_ete": "gross extrathyroidal extension",
    "incomplete_resection": "incomplete tumour resection (R2 / gross residual)",
    "distant_metastases": "distant metastases (M1)",
    "postop_tg": "postoperative Tg suggestive of distant metastases",
    "node_3cm": "pN1 with a nodal metastasis >= 3 cm",
    "ftc_extensive_vi": "follicular/oncocytic carcinoma with extensive vascular invasion (> 4 foci)",
    "tert_ptc": "PTC > 1 cm with TERT promoter mutation (Figure 4)",
    "ene_3_nodes": "pN1 with extranodal extension and > 3 positive nodes (Figure 4)",
}
_INTERMEDIATE = {
    "micro_ete": "microscopic extrathyroidal extension",
    "aggressive_histology": "aggressive histology (tall cell / hobnail / columnar)",
    "ptc_vi": "PTC with vascular invasion",
    "clinical_n1": "clinical N1",
    "more_than_5_nodes": "> 5 pathological N1 nodes (all < 3 cm)",
    "braf_ptc": "intrathyroidal PTC > 1 cm with BRAF V600E (Figure 4)",
}
_ESSENTIAL = {
    "extrathyroidal extension": ("extrathyroidal_extension", "pt"),
    "vascular invasion": ("vascular_invasion",),
    "clinical N": ("cn",),
    "clinical M": ("cm",),
    "pathological N / positive nodes": ("pn", "nodes_positive"),
    "resection status": ("resection_status", "margin_status"),
}


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(pd.NA, index=df.index, dtype=object)


def _isin(s: pd.Series, values) -> pd.Series:
    """Membership as nullable boolean: missing stays missing."""
    return s.isin(list(values)).astype("boolean").mask(s.isna(), pd.NA)


def _join(flags: pd.DataFrame, labels: dict[str, str]) -> pd.Series:
    hit = flags.fillna(False).astype(bool)
    text = hit.to_numpy() @ np.array([labels[c] + ";" for c in flags.columns], dtype=object) if len(flags.columns) else np.full(len(flags), "", dtype=object)
    return pd.Series(text, index=flags.index, dtype=object).str.rstrip(";")


def ata_initial_risk(df: pd.DataFrame, *, continuum_features: bool = True, pdtc_risk: str = "high") -> pd.DataFrame:
    """ATA 2015 initial risk of structural recurrence, vectorised over one row per patient.

    ``df`` holds dictionary columns: ``histology`` (or ``pathology_histology``, preferred),
    ``histology_subtype``, ``cn``, ``cm``, ``pt``, ``pn``, ``extrathyroidal_extension``,
    ``vascular_invasion``, ``resection_status``, ``margin_status``, ``nodes_positive``,
    ``largest_node_metastasis_mm``, ``extranodal_extension``, ``tumor_size_mm``, ``braf_v600e``,
    ``tert_promoter``, optionally ``postop_tg_suggests_distant_metastases`` (boolean) and
    ``stage_prefix`` (``yp``/``p``). Absent columns count as unknown.

    Returns a copy with ``ata_risk`` (low / intermediate / high, missing when not applicable or
    undecidable), ``ata_risk_reasons`` (``;``-joined criteria of the assigned level, or why it is
    missing) and ``ata_risk_basis`` (the specimen's TNM prefix).
    """
    if pdtc_risk not in RISK_LEVELS:
        raise ValueError(f"pdtc_risk must be one of {RISK_LEVELS}")
    out = df.copy()
    hist = _col(df, "pathology_histology").fillna(_col(df, "histology")) if "pathology_histology" in df else _col(df, "histology")
    ptc = hist.eq("ptc").fillna(False)
    follicular = hist.isin(["ftc", "oncocytic"])
    ete = _col(df, "extrathyroidal_extension")
    pt = clean_tnm_code(_col(df, "pt"), "T").map({"T3B": "T3b", "T4A": "T4a", "T4B": "T4b"})
    nodes = pd.to_numeric(_col(df, "nodes_positive"), errors="coerce")
    largest = pd.to_numeric(_col(df, "largest_node_metastasis_mm"), errors="coerce")
    size = pd.to_numeric(_col(df, "tumor_size_mm"), errors="coerce")
    vi = _col(df, "vascular_invasion")
    ene = _col(df, "extranodal_extension").astype("boolean")
    intrathyroidal = ete.eq("none") & ~pt.isin(["T3b", "T4a", "T4b"])

    high = pd.DataFrame({
        "gross_ete": _isin(ete, ["gross_strap", "gross_major"]) | pt.isin(["T3b", "T4a", "T4b"]),
        "incomplete_resection": _col(df, "resection_status").eq("R2") | _col(df, "margin_status").eq("gross_positive"),
        "distant_metastases": _col(df, "cm").eq("M1"),
        "postop_tg": _col(df, "postop_tg_suggests_distant_metastases").astype("boolean"),
        "node_3cm": largest.ge(NODE_HIGH_RISK_MM) & (nodes.gt(0) | _col(df, "pn").isin(["N1a", "N1b", "N1"])),
        "ftc_extensive_vi": follicular & vi.eq("extensive"),
    }, index=df.index)
    inter = pd.DataFrame({
        "micro_ete": ete.eq("microscopic"),
        "aggressive_histology": _col(df, "histology_subtype").isin(AGGRESSIVE_SUBTYPES),
        "ptc_vi": ptc & _isin(vi, ["focal", "extensive"]),
        "clinical_n1": _col(df, "cn").isin(["N1", "N1a", "N1b"]),
        "more_than_5_nodes": nodes.gt(5),
    }, index=df.index)
    if continuum_features:
        high["tert_ptc"] = ptc & _col(df, "tert_promoter").eq("positive") & size.gt(PTC_SIZE_MM)
        high["ene_3_nodes"] = ene & nodes.gt(3)
        inter["braf_ptc"] = ptc & intrathyroidal & _col(df, "braf_v600e").eq("positive") & size.gt(PTC_SIZE_MM)
    high = high.astype("boolean")
    inter = inter.astype("boolean")
    any_high = high.fillna(False).any(axis=1)
    any_inter = inter.fillna(False).any(axis=1)

    missing = pd.DataFrame({
        label: pd.concat([_col(df, c).isna() for c in cols], axis=1).all(axis=1) for label, cols in _ESSENTIAL.items()
    }, index=df.index)
    missing_text = _join(missing, {k: k for k in missing.columns})

    not_applicable = hist.isin(["mtc", "atc"])
    unknown_hist = ~hist.isin(["ptc", "ftc", "oncocytic", "pdtc", "mtc", "atc"])
    pdtc = hist.eq("pdtc").fillna(False)
    undecided = ~any_high & ~any_inter & missing.any(axis=1)

    conditions = [unknown_hist, not_applicable, pdtc, any_high, any_inter, undecided]
    risk = np.select(conditions, [None, None, pdtc_risk, "high", "intermediate", None], default="low")
    reasons = np.select(conditions, [
        "histology unknown",
        "not applicable: the ATA 2015 DTC risk system does not cover " + hist.astype("str").str.upper().fillna(""),
        "poorly differentiated carcinoma (outside ATA 2015 Table 11; classed " + pdtc_risk + " per ATA practice)",
        _join(high, _HIGH), _join(inter, _INTERMEDIATE),
        "insufficient data: missing " + missing_text.str.replace(";", ", "),
    ], default="no intermediate- or high-risk feature")
    out["ata_risk"] = pd.Series(risk, index=df.index, dtype="str")
    out["ata_risk_reasons"] = pd.Series(reasons, index=df.index, dtype="str")
    out["ata_risk_basis"] = _col(df, "stage_prefix").astype("str")
    return out


@tables_deprecated("diagnosis", "pathology", "surgery")
def ata_risk_input(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Assemble the per-patient input of :func:`ata_initial_risk` from clean typed tables.

    ``tables``: form name → clean typed table; reads ``diagnosis``, ``pathology`` and, optionally,
    ``surgery``.

    Uses the first curative operation's specimen (see :func:`latc.derive.pathology.curative_specimen`)
    and its ``resection_status``; ``tumor_size_mm`` falls back to the diagnosis ``primary_size_mm``
    only for upfront surgery (prefix ``p``) — after neoadjuvant therapy the baseline size is not the
    residual tumour.  Patients without a curative specimen get a row with the diagnosis fields only.
    """
    from latc.derive.pathology import curative_specimen

    diagnosis, pathology, surgery = study_tables(tables, ("diagnosis", "pathology"), ("surgery",),
                                                 caller="ata_risk_input")
    spec = curative_specimen(pathology, surgery).rename(columns={"histology": "pathology_histology", "tnm_prefix": "stage_prefix"})
    if surgery is not None:
        spec = spec.merge(surgery[["patient_id", "surgery_id", "resection_status"]], on=["patient_id", "surgery_id"], how="left")
    keep = [c for c in diagnosis.columns if c in {"patient_id", "histology", "histology_subtype", "cn", "cm", "braf_v600e", "tert_promoter", "primary_size_mm"}]
    out = diagnosis[keep].merge(spec.drop(columns=["center_id"], errors="ignore"), on="patient_id", how="left")
    if "primary_size_mm" in out:
        upfront = out["stage_prefix"].eq("p").fillna(False)
        out["tumor_size_mm"] = out["tumor_size_mm"].astype("Float64").mask(upfront & out["tumor_size_mm"].isna(), out["primary_size_mm"])
    return out


_RESPONSE_OUTCOME = {
    "excellent": "1-4 % recurrence; < 1 % disease-specific death",
    "indeterminate": "15-20 % will have structural disease identified during follow-up; the rest stay stable or resolve; < 1 % disease-specific death",
    "biochemical_incomplete": ">= 30 % evolve spontaneously to no evidence of disease, 20 % reach it after additional therapy, 20 % develop structural disease; < 1 % disease-specific death",
    "structural_incomplete": "50-85 % keep persistent disease despite additional therapy; disease-specific death up to 11 % (loco-regional) and 50 % (distant structural metastases)",
}
_EXCELLENT_BY_INITIAL = {"low": "2 %", "intermediate": "2 %", "high": "14 %"}


def normalise_response(response: pd.Series) -> pd.Series:
    """``Excellent``, ``biochemical incomplete``, ``Structural-incomplete response`` … → dictionary-style codes."""
    s = response.astype("str").str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True).str.replace(r"_response$", "", regex=True)
    return s.where(s.isin(RESPONSE_CATEGORIES)).astype("str")


def ata_dynamic_risk(initial_risk: pd.Series, response_to_therapy: pd.Series) -> pd.DataFrame:
    """Re-stratified risk after the response to initial therapy (dynamic risk stratification).

    ``initial_risk``: low / intermediate / high; ``response_to_therapy``: excellent /
    indeterminate / biochemical incomplete / structural incomplete (ATA 2015 Table 13).

    Returns ``response_to_therapy`` (normalised), ``restratified_risk_statement`` (ATA 2015 Table 13
    outcome of the category; for an excellent response also the initial-risk-specific proportion
    with persistent/recurrent structural disease from Tuttle 2010: 2 % low, 2 % intermediate,
    14 % high, versus 3 %, 21 % and 68 % before re-stratification) and ``restratified_risk``
    (``lower`` for excellent and ``higher`` for biochemical/structural incomplete, as Tuttle 2010
    reports; ``unchanged`` for indeterminate — Tuttle's "acceptable" — is a platform choice).
    Missing when either input is.
    """
    init = initial_risk.astype("str").str.strip().str.lower()
    init = init.where(init.isin(RISK_LEVELS))
    resp = normalise_response(response_to_therapy)
    known = init.notna() & resp.notna()
    statement = resp.map(_RESPONSE_OUTCOME)
    excellent_extra = (
        "; structural persistence/recurrence " + init.map(_EXCELLENT_BY_INITIAL).fillna("")
        + " for initial ATA " + init.fillna("") + " risk (Tuttle 2010)"
    )
    statement = statement.mask(resp.eq("excellent").fillna(False), statement + excellent_extra)
    direction = resp.map({"excellent": "lower", "indeterminate": "unchanged", "biochemical_incomplete": "higher", "structural_incomplete": "higher"})
    return pd.DataFrame({
        "initial_ata_risk": init.astype("str"),
        "response_to_therapy": resp,
        "restratified_risk": direction.where(known).astype("str"),
        "restratified_risk_statement": statement.where(known).astype("str"),
    }, index=initial_risk.index)
