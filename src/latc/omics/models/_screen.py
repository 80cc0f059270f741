"""Univariate biomarker screens with Benjamini–Hochberg FDR.

A screen answers "which single features differ by outcome?" — discovery, not prediction; its
q-values control the expected false-discovery proportion among the features called significant
(Benjamini & Hochberg, *JRSS B* 1995;57:289). One row per patient (use the patient × feature
matrix, not sample rows: samples of one patient are not independent).

* Binary outcome (response): two-sided Mann–Whitney U test per feature (``scipy.stats.
  mannwhitneyu``, asymptotic with tie correction) with the AUC = U / (n₁n₀) as effect size, plus
  the odds ratio per SD from a per-feature logistic regression (vectorised Newton–Raphson on the
  z-scored feature; Wald p), and the difference in medians. Missing values are dropped per
  feature.
* Time to event (RFS): Cox model per feature with :func:`latc.stats.cox` (Efron ties, as R
  ``coxph``) on the z-scored feature: hazard ratio per SD, Wald CI and p. A feature whose model
  cannot be fitted (constant, no events among the observed) gets NaN and a ``note``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, norm

from latc.stats import p_adjust

from latc.omics._manifest import OmicsInputError


def bh_fdr(p) -> np.ndarray:
    """Benjamini–Hochberg q-values; NaN p-values stay NaN and do not count as tests
    (:func:`latc.stats.p_adjust`, the one implementation)."""
    return np.asarray(p_adjust(np.asarray(p, dtype=float), method="BH"))


def _logistic_per_feature(Z: np.ndarray, y: np.ndarray, max_iter: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope, SE and convergence flag of ``logit P(y) = a + b·z`` for every column of Z
    (missing entries get zero weight). Newton–Raphson on all columns at once."""
    W = np.isfinite(Z).astype(float)
    X = np.where(W > 0, Z, 0.0)
    Y = y[:, None] * W
    a, b = np.zeros(Z.shape[1]), np.zeros(Z.shape[1])
    converged = np.zeros(Z.shape[1], dtype=bool)
    for _ in range(max_iter):
        eta = np.clip(a + b * X, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        v = mu * (1 - mu) * W
        r = Y - mu * W
        ua, ub = r.sum(0), (r * X).sum(0)
        iaa, iab, ibb = v.sum(0), (v * X).sum(0), (v * X * X).sum(0)
        det = iaa * ibb - iab ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            da, db = (ibb * ua - iab * ub) / det, (iaa * ub - iab * ua) / det
        da, db = np.nan_to_num(da), np.nan_to_num(db)
        a, b = a + da, b + db
        converged = np.abs(db) < 1e-8
        if converged.all():
            break
    eta = np.clip(a + b * X, -30, 30)
    mu = 1 / (1 + np.exp(-eta))
    v = mu * (1 - mu) * W
    iaa, iab, ibb = v.sum(0), (v * X).sum(0), (v * X * X).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(iaa / (iaa * ibb - iab ** 2))
    return b, se, converged & (np.abs(b) < 15)


def screen_binary(X: pd.DataFrame, y, *, min_per_group: int = 3) -> pd.DataFrame:
    """Per feature: Mann–Whitney p, AUC, logistic odds ratio per SD (Wald CI and p), medians by
    group, and BH q-values of the Mann–Whitney p (``q_value``) — sorted by p.

    ``X`` rows are patients; ``y`` 0/1 aligned with the rows (NaN rows dropped). A feature with
    fewer than ``min_per_group`` observed values in a group gets NaN statistics.
    """
    y = np.asarray(pd.Series(np.asarray(y, dtype=float)), dtype=float)
    if len(y) != len(X):
        raise OmicsInputError(f"screen_binary: outcome has {len(y)} values for {len(X)} rows")
    ok = ~np.isnan(y)
    A = np.array(X.to_numpy(dtype="float64", na_value=np.nan)[ok], copy=True)
    A[~np.isfinite(A)] = np.nan
    yy = y[ok]
    if not np.isin(yy, (0, 1)).all():
        raise OmicsInputError("screen_binary: the outcome must be binary 0/1")
    g1, g0 = A[yy == 1], A[yy == 0]
    n1, n0 = np.isfinite(g1).sum(0), np.isfinite(g0).sum(0)
    enough = (n1 >= min_per_group) & (n0 >= min_per_group)
    with np.errstate(all="ignore"):
        u, p = mannwhitneyu(g1, g0, axis=0, alternative="two-sided", method="asymptotic", nan_policy="omit")
    u, p = np.asarray(u, float), np.asarray(p, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = u / (n1 * n0)
        Z = (A - np.nanmean(A, 0)) / np.nanstd(A, 0)
    b, se, conv = _logistic_per_feature(Z, yy)
    p_wald = 2 * norm.sf(np.abs(b / se))
    res = pd.DataFrame({
        "feature": [str(c) for c in X.columns], "n_responders": n1, "n_non_responders": n0,
        "median_responders": np.nanmedian(np.where(np.isfinite(g1), g1, np.nan), 0) if len(g1) else np.nan,
        "median_non_responders": np.nanmedian(np.where(np.isfinite(g0), g0, np.nan), 0) if len(g0) else np.nan,
        "auc": auc, "p_value": p,
        "odds_ratio_per_sd": np.exp(b), "or_lower": np.exp(b - 1.959963984540054 * se),
        "or_upper": np.exp(b + 1.959963984540054 * se), "p_logistic": p_wald, "logistic_converged": conv})
    stat_cols = ["auc", "p_value", "odds_ratio_per_sd", "or_lower", "or_upper", "p_logistic"]
    res.loc[~enough, stat_cols] = np.nan
    res["effect"] = np.log2(res["odds_ratio_per_sd"])
    res["q_value"] = bh_fdr(res["p_value"])
    return res.sort_values("p_value", na_position="last").reset_index(drop=True)


def screen_survival(X: pd.DataFrame, time, event, *, min_events: int = 3) -> pd.DataFrame:
    """Per feature: Cox hazard ratio per SD (:func:`latc.stats.cox`, Efron ties), Wald CI and p,
    and BH q-values — sorted by p. Rows are patients; rows missing time/event are dropped, and
    each feature's model uses the patients with that feature observed."""
    from latc.stats import StatsInputError, cox

    t = np.asarray(pd.to_numeric(pd.Series(np.asarray(time)), errors="coerce"), dtype=float)
    e = np.asarray(pd.to_numeric(pd.Series(np.asarray(event, dtype=object)), errors="coerce"), dtype=float)
    if len(t) != len(X) or len(e) != len(X):
        raise OmicsInputError(f"screen_survival: time/event lengths differ from the {len(X)} rows")
    ok = np.isfinite(t) & np.isfinite(e)
    A = np.array(X.to_numpy(dtype="float64", na_value=np.nan)[ok], copy=True)
    A[~np.isfinite(A)] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = (A - np.nanmean(A, 0)) / np.nanstd(A, 0)
    tt, ee = t[ok], e[ok].astype(int)
    rows = []
    for j, name in enumerate(X.columns):
        obs = np.isfinite(Z[:, j])
        rec = {"feature": str(name), "n": int(obs.sum()), "events": int(ee[obs].sum()),
               "hazard_ratio_per_sd": np.nan, "hr_lower": np.nan, "hr_upper": np.nan, "p_value": np.nan, "note": ""}
        if rec["events"] < min_events:
            rec["note"] = f"fewer than {min_events} events among patients with the feature"
        else:
            df = pd.DataFrame({"time": tt[obs], "event": ee[obs], "z": Z[obs, j]})
            try:
                fit = cox(df, "time", "event", ["z"])
                s = fit.summary.loc["z"]
                rec.update(hazard_ratio_per_sd=float(s["exp_coef"]), hr_lower=float(s["lower"]),
                           hr_upper=float(s["upper"]), p_value=float(s["p"]))
            except StatsInputError as exc:
                rec["note"] = str(exc).split(";")[0]
        rows.append(rec)
    res = pd.DataFrame(rows)
    res["effect"] = np.log2(res["hazard_ratio_per_sd"])
    res["q_value"] = bh_fdr(res["p_value"])
    return res.sort_values("p_value", na_position="last").reset_index(drop=True)
