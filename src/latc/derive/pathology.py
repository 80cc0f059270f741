"""Pathological response to neoadjuvant therapy, ypTNM and downstaging.

Rules (documented in ``docs/derivations/pathology.md``):

* **Staging specimen.** A patient may have several operations.  The specimen evaluated is the one
  of the first curative operation (``surgery.surgical_intent == 'curative'``, earliest
  ``surgery_date``, then lowest ``surgery_id``): the radical thyroidectomy the protocol studies.
  Palliative-only patients have no specimen here.  Without a surgery table the lowest
  ``surgery_id`` of the pathology form is used.
* **Pathological complete response (pCR)**: no viable tumour in the primary *and* the nodes.  The
  form records % viable tumour in the tumour bed, ypT and ypN, so pCR is
  ``viable_tumor_pct == 0`` **and** ypT0 **and** ypN0 (ypNX — nodes not assessed — cannot confirm
  nodal pCR and does not count).  This is the usual neoadjuvant-trial definition (ypT0 ypN0).
* **Major pathological response (MPR)**: ``viable_tumor_pct <= 10`` (the usual MPR threshold of
  neoadjuvant studies, e.g. Hellmann et al., *Lancet Oncol* 2014;15:e42 for the ≤10 % convention).
  The boolean ``mpr`` includes pCR (MPR rate ≥ pCR rate); the category ``pathological_response``
  is exclusive: ``pCR`` / ``MPR`` (≤10 % but not pCR) / ``non-response`` (>10 %).
* **Upfront surgery** (prefix ``p``): no response to therapy to grade → all response columns missing.
* **Downstaging** (neoadjuvant only): T order T0 < T1a < T1b < T2 < T3a < T3b < T4a < T4b, N order
  N0 < N1a < N1b (TX/NX: unknown → missing); ``t_downstaged`` = ypT below cT, ``n_downstaged`` =
  ypN below cN, ``stage_downstaged`` = AJCC 8th ypStage below the clinical stage (ypT0 ypN0 cM0,
  which has no stage group, counts as downstaged when the clinical stage is known).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables
from latc.derive.staging import N_ORDER, PROBLEM_COLUMNS, T_ORDER, clean_tnm_code, derive_stages, stage_rank

#: Upper bound of % viable tumour for a major pathological response.
MPR_THRESHOLD = 10.0
RESPONSE_CATEGORIES = ("pCR", "MPR", "non-response")


def t_rank(t: pd.Series) -> pd.Series:
    """Position of a T category in T0 < T1a < … < T4b (prefixes c/p/yp ignored); TX and unknown → missing."""
    return clean_tnm_code(t, "T").map({c.upper(): i for i, c in enumerate(T_ORDER)}).astype("Float64")


def n_rank(n: pd.Series) -> pd.Series:
    """Position of an N category in N0 < N1a < N1b (prefixes ignored); NX and unknown → missing."""
    return clean_tnm_code(n, "N").map({c.upper(): i for i, c in enumerate(N_ORDER)}).astype("Float64")


def curative_specimen(pathology: pd.DataFrame, surgery: pd.DataFrame | None = None) -> pd.DataFrame:
    """One pathology row per patient: the specimen of the first curative operation.

    ``pathology`` and ``surgery`` are clean typed tables (dictionary columns). Returns the chosen
    pathology rows (all their columns, plus ``surgery_date`` when a surgery table is given).
    """
    path = pathology.copy()
    if surgery is not None:
        ops = surgery.loc[surgery["surgical_intent"].eq("curative").fillna(False), ["patient_id", "surgery_id", "surgery_date"]]
        path = path.merge(ops, on=["patient_id", "surgery_id"], how="inner")
        order = ["patient_id", "surgery_date", "surgery_id"]
    else:
        order = ["patient_id", "surgery_id"]
    path = path.sort_values(order, kind="mergesort", na_position="last")
    return path.drop_duplicates("patient_id", keep="first").reset_index(drop=True)


def classify_pathological_response(
    viable_tumor_pct: pd.Series, t: pd.Series, n: pd.Series, prefix: pd.Series, *, mpr_threshold: float = MPR_THRESHOLD
) -> pd.DataFrame:
    """``pathological_response`` (pCR / MPR / non-response), ``pcr`` and ``mpr`` per specimen.

    Vectorised over aligned Series. Missing for upfront surgery (``prefix != 'yp'``) and when
    % viable tumour is missing.
    """
    pct = pd.to_numeric(viable_tumor_pct, errors="coerce").astype("Float64")
    neo = prefix.eq("yp").fillna(False)
    known = neo & pct.notna()
    no_tumour = t_rank(t).eq(0).fillna(False) & n_rank(n).eq(0).fillna(False)
    pcr = known & pct.eq(0).fillna(False) & no_tumour
    mpr = known & pct.le(mpr_threshold).fillna(False)
    category = pd.Series(pd.NA, index=pct.index, dtype="str")
    category = category.mask(known, "non-response").mask(mpr, "MPR").mask(pcr, "pCR")
    na = pd.NA
    return pd.DataFrame({
        "pathological_response": category,
        "pcr": pcr.astype("boolean").mask(~known, na),
        "mpr": mpr.astype("boolean").mask(~known, na),
    }, index=pct.index)


def _less(lhs: pd.Series, rhs: pd.Series) -> pd.Series:
    out = (lhs < rhs).astype("boolean")
    return out.mask(lhs.isna() | rhs.isna(), pd.NA)


@tables_deprecated("patients", "diagnosis", "pathology", "surgery")
def derive_pathological_response(
    tables: Mapping[str, pd.DataFrame],
    *,
    mpr_threshold: float = MPR_THRESHOLD,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pathological response, ypTNM, AJCC 8th stages and downstaging, one row per patient.

    ``tables``: form name → clean typed table of the dictionary; reads ``patients``,
    ``diagnosis``, ``pathology`` and, optionally, ``surgery`` (for choosing the curative specimen).

    Columns: ``patient_id, cohort, specimen_surgery_id, stage_prefix, viable_tumor_pct,
    pathological_response, pcr, mpr, ct, cn, cm, pathological_t, pathological_n, ypt, ypn,
    clinical_stage, pathological_stage, t_downstaged, n_downstaged, stage_downstaged``
    (``ypt``/``ypn`` only for neoadjuvant patients; downstaging only for neoadjuvant patients).

    Returns ``(table, problems)``; ``problems`` has ``patient_id, field, value, rule, message``.
    """
    patients, diagnosis, pathology, surgery = study_tables(
        tables, ("patients", "diagnosis", "pathology"), ("surgery",), caller="derive_pathological_response")
    base = patients[["patient_id", "cohort", "age_at_diagnosis"]].merge(
        diagnosis[["patient_id", "histology", "ct", "cn", "cm"]], on="patient_id", how="left"
    )
    spec = curative_specimen(pathology, surgery)
    spec = spec[["patient_id", "surgery_id", "histology", "tnm_prefix", "pt", "pn", "viable_tumor_pct"]].rename(
        columns={"surgery_id": "specimen_surgery_id", "histology": "pathology_histology"}
    )
    subject = base.merge(spec, on="patient_id", how="left")
    staged, problems = derive_stages(subject)

    prefix = staged["stage_prefix"]
    response = classify_pathological_response(staged["viable_tumor_pct"], staged["pt"], staged["pn"], prefix, mpr_threshold=mpr_threshold)
    neo = prefix.eq("yp").fillna(False)
    pct = pd.to_numeric(staged["viable_tumor_pct"], errors="coerce")
    ypt0 = t_rank(staged["pt"]).eq(0).fillna(False)

    extra = []
    checks = [
        (neo & pct.isna(), "viable_tumor_pct", "viable_tumor_pct_missing",
         "% viable tumour is missing for a neoadjuvant specimen: pathological response cannot be graded"),
        (neo & pct.eq(0).fillna(False) & ~ypt0 & staged["pt"].notna(), "pt", "no_viable_tumour_but_residual_t",
         "0 % viable tumour but ypT is not T0: check the ypT category or the % viable tumour"),
        (neo & ypt0 & pct.gt(0).fillna(False), "viable_tumor_pct", "ypt0_with_viable_tumour",
         "ypT0 (no residual primary) but % viable tumour above 0: check the ypT category or the % viable tumour"),
    ]
    for mask, field, rule, message in checks:
        if mask.any():
            extra.append(pd.DataFrame({
                "patient_id": staged.loc[mask, "patient_id"].astype("str"), "field": field,
                "value": staged.loc[mask, field].astype("str"), "rule": rule, "message": message,
            }))

    out = pd.DataFrame({
        "patient_id": staged["patient_id"],
        "cohort": staged["cohort"],
        "specimen_surgery_id": staged["specimen_surgery_id"],
        "stage_prefix": prefix,
        "viable_tumor_pct": staged["viable_tumor_pct"].astype("Float64").where(neo),
    })
    out = pd.concat([out, response], axis=1)
    out["ct"], out["cn"], out["cm"] = staged["ct"], staged["cn"], staged["cm"]
    out["pathological_t"], out["pathological_n"] = staged["pt"], staged["pn"]
    out["ypt"] = staged["pt"].where(neo).astype("str")
    out["ypn"] = staged["pn"].where(neo).astype("str")
    out["clinical_stage"] = staged["clinical_stage"]
    out["pathological_stage"] = staged["pathological_stage"]
    out["t_downstaged"] = _less(t_rank(staged["pt"]), t_rank(staged["ct"])).mask(~neo, pd.NA)
    out["n_downstaged"] = _less(n_rank(staged["pn"]), n_rank(staged["cn"])).mask(~neo, pd.NA)
    stage_down = _less(stage_rank(staged["pathological_stage"]), stage_rank(staged["clinical_stage"]))
    no_residual = neo & ypt0 & n_rank(staged["pn"]).eq(0).fillna(False) & staged["cm"].eq("M0").fillna(False) & staged["clinical_stage"].notna()
    out["stage_downstaged"] = stage_down.mask(no_residual, True).mask(~neo, pd.NA)

    all_problems = [p for p in [problems, *extra] if len(p)]
    probs = pd.concat(all_problems, ignore_index=True) if all_problems else pd.DataFrame(columns=PROBLEM_COLUMNS, dtype="str")
    return out.reset_index(drop=True), probs[PROBLEM_COLUMNS]


__all__ = [
    "MPR_THRESHOLD",
    "RESPONSE_CATEGORIES",
    "classify_pathological_response",
    "curative_specimen",
    "derive_pathological_response",
    "n_rank",
    "t_rank",
]
