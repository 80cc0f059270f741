"""Association of per-sample omics features with response and recurrence-free survival.

Shared by the omics commands (spatial, bulk, flow, imaging): one test battery, one BH-FDR, so the
association tables of every modality read the same way.

:func:`associate` tests each feature against each endpoint **within a timepoint** (one value per
patient and timepoint: samples of the same patient, timepoint and tissue are averaged, so there is
no pseudo-replication):

* binary response (e.g. objective response, MPR, pCR): two-sided Mann–Whitney U (Wilcoxon
  rank-sum) test; effect = AUC = U / (n₁·n₀) (probability that a responder's value exceeds a
  non-responder's), and the difference in medians;
* RFS: Cox model (:func:`latc.stats.cox`, Efron ties) on the feature standardised to SD 1; effect =
  hazard ratio per SD with Wald 95 % CI and p.

Benjamini–Hochberg FDR over all tests in the table (``q_value``, :func:`latc.stats.p_adjust`;
``significant`` = q < ``fdr``). Tests with fewer than ``min_group`` (3) samples per group / events,
or a constant feature, are listed with a ``note`` and no p-value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError
from latc.stats import p_adjust

__all__ = ["ASSOCIATION_COLUMNS", "RESPONSE_CANDIDATES", "RFS_EVENT_CANDIDATES", "RFS_TIME_CANDIDATES", "as_binary",
           "associate"]

RESPONSE_CANDIDATES = ["objective_response", "objective_response_latent", "mpr", "pcr",
                       "major_pathological_response", "pathological_complete_response"]
RFS_TIME_CANDIDATES = ["rfs_time_months", "rfs_months", "rfs_time", "rfs_time_days"]
RFS_EVENT_CANDIDATES = ["rfs_event"]
ASSOCIATION_COLUMNS = ["endpoint", "timepoint", "tissue", "feature", "test", "n", "n_positive", "effect_name",
                       "effect", "ci_low", "ci_high", "median_positive", "median_negative", "p_value", "q_value",
                       "significant", "note"]

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def as_binary(s: pd.Series) -> pd.Series:
    """A response column as nullable boolean (bool, 0/1, yes/no, true/false; else missing)."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        v = pd.to_numeric(s, errors="coerce")
        return v.map({1: True, 0: False}).astype("boolean")
    t = s.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[t.isin(_TRUE).fillna(False).to_numpy()] = True
    out[t.isin(_FALSE).fillna(False).to_numpy()] = False
    return out


def _per_patient(features: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    g = features.groupby(["patient_id", "timepoint", "tissue"], sort=True, observed=True)
    return g[cols].mean().reset_index()


def _bh(p: pd.Series) -> pd.Series:
    return p_adjust(p.astype(float), method="BH")


def associate(features: pd.DataFrame, subject: pd.DataFrame, *, responses: Sequence[str] | None = None,
              rfs: tuple[str, str] | None = None, feature_columns: Sequence[str] | None = None,
              fdr: float = 0.05, min_group: int = 3) -> pd.DataFrame:
    """Association of every feature with every endpoint, per timepoint and tissue (module docstring).

    Parameters
    ----------
    features : one row per sample with ``patient_id, timepoint, tissue`` and numeric feature
        columns (spatial features, bulk scores, flow population percentages, imaging features).
    subject : one row per patient: ``patient_id`` + endpoint columns.
    responses : binary response columns; default those of :data:`RESPONSE_CANDIDATES` present.
    rfs : ``(time, event)`` columns; default the first of :data:`RFS_TIME_CANDIDATES` /
        ``rfs_event`` present.
    feature_columns : the features to test; default every numeric column of ``features`` that is
        not a sample key (:data:`latc.omics.SAMPLE_KEYS`).
    fdr : the BH-FDR level for ``significant``.
    min_group : fewest samples per response group (events for RFS) for a test.
    """
    if "patient_id" not in subject.columns:
        raise OmicsInputError("subject table has no patient_id column")
    if subject["patient_id"].duplicated().any():
        dup = subject.loc[subject["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise OmicsInputError(f"subject table has more than one row for patient {dup}")
    feats = (list(feature_columns) if feature_columns is not None else
             [c for c in features.columns if c not in SAMPLE_KEYS and pd.api.types.is_numeric_dtype(features[c])])
    responses = list(responses) if responses is not None else [c for c in RESPONSE_CANDIDATES if c in subject]
    missing = [c for c in responses if c not in subject]
    if missing:
        raise OmicsInputError(f"subject table lacks response column(s) {', '.join(missing)}")
    if rfs is None:
        t = next((c for c in RFS_TIME_CANDIDATES if c in subject), None)
        e = next((c for c in RFS_EVENT_CANDIDATES if c in subject), None)
        rfs = (t, e) if t and e else None
    if not responses and rfs is None:
        raise OmicsInputError("subject table has no endpoint column (give responses=[...] or rfs=(time, event); "
                              f"looked for {', '.join(RESPONSE_CANDIDATES + RFS_TIME_CANDIDATES)})")
    pp = _per_patient(features, feats).merge(subject, on="patient_id", how="inner")
    rows: list[dict] = []
    for (tp, tissue), d in pp.groupby(["timepoint", "tissue"], sort=True):
        for ep in responses:
            y = as_binary(d[ep])
            for f in feats:
                x = pd.to_numeric(d[f], errors="coerce")
                ok = x.notna() & y.notna()
                xp, xn = x[ok & y.fillna(False)], x[ok & ~y.fillna(True)]
                row = {"endpoint": ep, "timepoint": tp, "tissue": tissue, "feature": f, "test": "mann_whitney_u",
                       "n": int(ok.sum()), "n_positive": int(len(xp)), "effect_name": "auc",
                       "median_positive": float(xp.median()) if len(xp) else np.nan,
                       "median_negative": float(xn.median()) if len(xn) else np.nan}
                if len(xp) < min_group or len(xn) < min_group:
                    row["note"] = f"fewer than {min_group} samples in a group"
                elif x[ok].nunique() < 2:
                    row["note"] = "constant feature"
                else:
                    u, p = mannwhitneyu(xp, xn, alternative="two-sided")
                    row.update(effect=float(u) / (len(xp) * len(xn)), p_value=float(p))
                rows.append(row)
        if rfs is not None:
            rows.extend(_cox_rows(d, feats, rfs, tp, tissue, min_group))
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    out["q_value"] = _bh(out["p_value"])
    out["significant"] = (out["q_value"] < fdr).fillna(False).astype(bool)
    return out


def _cox_rows(d: pd.DataFrame, feats: list[str], rfs: tuple[str, str], tp, tissue, min_group: int) -> list[dict]:
    from latc.stats import StatsInputError, cox

    tcol, ecol = rfs
    rows = []
    for f in feats:
        x = pd.to_numeric(d[f], errors="coerce")
        t = pd.to_numeric(d[tcol], errors="coerce")
        e = pd.to_numeric(d[ecol], errors="coerce")
        ok = x.notna() & t.notna() & e.notna()
        row = {"endpoint": f"rfs ({tcol}, {ecol})", "timepoint": tp, "tissue": tissue, "feature": f, "test": "cox_wald",
               "n": int(ok.sum()), "n_positive": int(e[ok].sum()), "effect_name": "hr_per_sd"}
        sd = x[ok].std()
        if int(e[ok].sum()) < min_group:
            row["note"] = f"fewer than {min_group} events"
        elif not sd > 0:
            row["note"] = "constant feature"
        else:
            frame = pd.DataFrame({"time": t[ok].to_numpy(float), "event": e[ok].to_numpy(int), "z": ((x[ok] - x[ok].mean()) / sd).to_numpy()})
            try:
                fit = cox(frame, "time", "event", ["z"])
                s = fit.summary.iloc[0]
                row.update(effect=float(s["exp_coef"]), ci_low=float(s["lower"]), ci_high=float(s["upper"]),
                           p_value=float(s["p"]))
            except StatsInputError as exc:
                row["note"] = str(exc)
        rows.append(row)
    return rows
