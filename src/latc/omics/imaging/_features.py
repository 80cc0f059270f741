"""Imaging feature tables joined to the patient, and univariate association with response.

Feature tables have one row per sample: the sample keys (``sample_id, patient_id, center_id,
timepoint, tissue``), descriptive columns, then feature columns (radiomics: ``morph_*`` in mm,
MIRP's IBSI names ``stat_*``, ``ih_*``, ``cm_*``, ``rlm_*``, ``szm_*``, ``dzm_*``, ``ngt_*``,
``ngl_*`` with the discretisation in the suffix, e.g. ``_fbn_n32``; histology: see
:func:`latc.omics.imaging.histology_features`). :func:`join_subject` adds the per-patient outcome
columns of a ``subject``-like table (``patient_id`` + outcomes).

:func:`univariate_association` screens every feature against a binary outcome within each
timepoint: two-sided Mann–Whitney U test, effect size AUC = U/(n₁n₀) (probability a responder's
value exceeds a non-responder's), Benjamini–Hochberg FDR (Benjamini & Hochberg, JRSS-B 1995)
across the features of a timepoint.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError

#: Descriptive (non-feature) columns of the imaging tables.
DESCRIPTIVE = set(SAMPLE_KEYS) | {"spacing_mm", "spacing_source", "n_pixels_roi", "microns_per_pixel", "mpp_source",
                                   "n_tiles", "n_tiles_qc_pass", "lesion_id", "qc_pass"}
ASSOCIATION_COLUMNS = ["timepoint", "tissue", "feature", "outcome", "n_positive", "n_negative", "median_positive",
                       "median_negative", "auc", "p_value", "q_value"]


def feature_columns(table: pd.DataFrame, exclude: set[str] | None = None) -> list[str]:
    """Numeric feature columns (everything numeric that is not descriptive or excluded)."""
    skip = DESCRIPTIVE | (exclude or set())
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def join_subject(features: pd.DataFrame, subject: pd.DataFrame, outcomes: list[str] | None = None) -> pd.DataFrame:
    """Feature rows with the patient's outcome columns appended (left join on ``patient_id``).
    ``subject`` must have one row per patient."""
    if "patient_id" not in subject.columns:
        raise OmicsInputError("the subject table has no patient_id column")
    if subject["patient_id"].duplicated().any():
        raise OmicsInputError(f"the subject table has several rows for patient "
                              f"{subject.loc[subject['patient_id'].duplicated(), 'patient_id'].iloc[0]}")
    cols = outcomes or [c for c in subject.columns if c != "patient_id" and c not in features.columns]
    missing = [c for c in cols if c not in subject.columns]
    if missing:
        raise OmicsInputError(f"the subject table lacks outcome column(s) {', '.join(missing)}")
    s = subject[["patient_id", *cols]].copy()
    s["patient_id"] = s["patient_id"].astype(str)
    f = features.copy()
    f["patient_id"] = f["patient_id"].astype(str)
    return f.merge(s, on="patient_id", how="left", validate="many_to_one")


def _binary(y: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(y):
        return y.astype("boolean")
    v = pd.to_numeric(y.astype("string").str.strip().str.lower().replace({"true": "1", "false": "0", "yes": "1", "no": "0"}),
                      errors="coerce")
    bad = v.notna() & ~v.isin([0, 1])
    if bad.any():
        raise OmicsInputError(f"outcome {name} must be binary (0/1, true/false); found {y[bad].iloc[0]!r}")
    return v.map({1: True, 0: False}).astype("boolean")


def univariate_association(table: pd.DataFrame, outcome: str, features: list[str] | None = None,
                           by: list[str] | None = None, min_per_group: int = 3) -> pd.DataFrame:
    """Mann–Whitney screen of each feature against a binary ``outcome`` within each group of the
    ``by`` columns (default: ``timepoint`` and ``tissue`` where present), with BH-FDR ``q_value``
    per group (:data:`ASSOCIATION_COLUMNS`). Groups with fewer than ``min_per_group`` positives or
    negatives are skipped."""
    from scipy.stats import mannwhitneyu
    from latc.stats import p_adjust

    if outcome not in table.columns:
        raise OmicsInputError(f"outcome column {outcome!r} not in the feature table; join the subject table first")
    features = features or feature_columns(table, exclude={outcome})
    y_all = _binary(table[outcome], outcome)
    if by is None:
        by = [c for c in ("timepoint", "tissue") if c in table.columns]
    groups = table.groupby(by, sort=True) if by else [((), table)]
    out = []
    for key, g in groups:
        y = y_all.loc[g.index]
        ok = y.notna().to_numpy()
        y = y[ok].to_numpy(dtype=bool)
        n1, n0 = int(y.sum()), int((~y).sum())
        if n1 < min_per_group or n0 < min_per_group or not features:
            continue
        x = g.loc[ok, features].to_numpy(dtype=float)
        keep = np.isfinite(x).all(axis=0) & (np.nanstd(x, axis=0) > 0)
        x, names = x[:, keep], [f for f, k in zip(features, keep) if k]
        if not names:
            continue
        res = mannwhitneyu(x[y], x[~y], axis=0, alternative="two-sided")
        q = p_adjust(np.asarray(res.pvalue, dtype=float), method="BH")
        key = key if isinstance(key, tuple) else (key,)
        out.append(pd.DataFrame({
            **dict(zip(by, key)), "feature": names, "outcome": outcome,
            "n_positive": n1, "n_negative": n0, "median_positive": np.median(x[y], axis=0),
            "median_negative": np.median(x[~y], axis=0), "auc": res.statistic / (n1 * n0),
            "p_value": res.pvalue, "q_value": q}))
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in ASSOCIATION_COLUMNS})
    res = pd.concat(out, ignore_index=True)
    return res.sort_values([*by, "p_value"], kind="stable").reset_index(drop=True)
