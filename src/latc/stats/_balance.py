"""Covariate balance before and after matching or weighting, as R's cobalt ``bal.tab``.

Conventions (cobalt >= 4 defaults, the same as MatchIt's ``summary()`` where they overlap):

* a categorical covariate is split into one indicator row per level (``race_black``, ...); a
  logical or two-valued covariate is **binary**, any other numeric covariate **continuous**;
* means are (weighted) group means;
* difference: continuous → standardized mean difference (SMD); binary → by default the **raw
  difference in proportions** (cobalt ``binary = "raw"``); ``binary="std"`` standardizes it too
  (as MatchIt's summary does);
* the SMD denominator comes from the *unadjusted* sample (so before/after are comparable):
  ``s_d_denom`` "treated" (default for ATT), "control" (ATC) or "pooled" = sqrt((s1² + s0²)/2)
  (default for ATE and ATO). Sample SD for continuous variables (n − 1), sqrt(p(1 − p)) for binary;
* variance ratio (continuous only) = treated / control (weighted) variance, the weighted variance
  being sum w (x − m)² / (sum w − sum w² / sum w) (cobalt ``col_w_var``);
* KS statistic = max |F1(x) − F0(x)| of the (weighted) empirical CDFs; for a binary variable
  the absolute difference in proportions;
* effective sample size per group (Kish): (sum w)² / sum w².

``love_data`` returns the long table a Love plot draws, with the usual 0.1 threshold
(Austin, Stat Med 2009;28:3083).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc._compat import positional_deprecated
from latc.stats._errors import StatsInputError
from latc.stats._matching import MatchResult
from latc.stats._propensity import _check_frame, _levels, treatment_indicator

__all__ = ["balance", "love_data", "effective_sample_size"]

_DENOM_DEFAULT = {"ATT": "treated", "ATC": "control", "ATE": "pooled", "ATO": "pooled"}


def _expand(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Covariates → {row name: values}, {row name: "Binary"/"Contin."} (cobalt's splitting)."""
    cols: dict[str, np.ndarray] = {}
    kind: dict[str, str] = {}
    for c in covariates:
        x = df[c]
        if x.nunique() < 2:
            raise StatsInputError(f"balance: covariate '{c}' is constant; its balance is undefined — drop it")
        numeric = (pd.api.types.is_numeric_dtype(x) and not isinstance(x.dtype, pd.CategoricalDtype))
        if x.dtype == bool:
            cols[c], kind[c] = x.to_numpy(dtype=float), "Binary"
        elif numeric:
            v = x.to_numpy(dtype=float)
            u = np.unique(v)
            if len(u) == 2:
                cols[c], kind[c] = (v == u[1]).astype(float), "Binary"
            else:
                cols[c], kind[c] = v, "Contin."
        else:
            levels = _levels(x)
            use = levels[1:] if len(levels) == 2 else levels
            for lev in use:
                name = f"{c}_{lev}"
                cols[name], kind[name] = (x == lev).to_numpy(dtype=float), "Binary"
    return cols, kind


def _wmean(x, w):
    return float(np.sum(w * x) / np.sum(w))


def _wvar(x, w, binary: bool):
    m = _wmean(x, w)
    if binary:
        return m * (1 - m)
    sw = np.sum(w)
    return float(np.sum(w * (x - m) ** 2) / (sw - np.sum(w * w) / sw))


def _ks(x, w, t) -> float:
    w1 = np.where(t, w, 0.0)
    w0 = np.where(~t, w, 0.0)
    o = np.argsort(x, kind="stable")
    xs = x[o]
    f1 = np.cumsum(w1[o]) / w1.sum()
    f0 = np.cumsum(w0[o]) / w0.sum()
    last = np.r_[xs[1:] != xs[:-1], True]          # ECDF at each distinct value
    return float(np.max(np.abs(f1[last] - f0[last])))


def _resolve_weights(df: pd.DataFrame, weights) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, MatchResult):
        w = weights.weights
        if not w.index.equals(df.index):
            raise StatsInputError("balance: the MatchResult was computed on other rows than df")
        w = w.to_numpy(dtype=float)
    elif isinstance(weights, str):
        _check_frame(df, [weights], "balance")
        w = pd.to_numeric(df[weights]).to_numpy(dtype=float)
    elif isinstance(weights, pd.Series):
        if not weights.index.equals(df.index):
            raise StatsInputError("balance: weights must be indexed like df")
        w = weights.to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(df),):
            raise StatsInputError(f"balance: {w.size} weights for {len(df)} rows")
    if not np.isfinite(w).all() or (w < 0).any():
        raise StatsInputError("balance: weights must be finite and non-negative")
    return w


@positional_deprecated
def effective_sample_size(df: pd.DataFrame, treatment: str, *, weights=None,
                          treated: object | None = None) -> pd.DataFrame:
    """Kish effective sample size (sum w)² / sum w² per group; rows All (unweighted n) and
    Adjusted (weighted ESS), columns control / treated (cobalt's "Effective sample sizes")."""
    _check_frame(df, [treatment], "effective sample size")
    t = treatment_indicator(df[treatment], treatment, treated, "effective sample size") == 1
    w = _resolve_weights(df, weights)
    rows = {"All": [float((~t).sum()), float(t.sum())]}
    if w is not None:
        ess = []
        for mask in (~t, t):
            s = w[mask].sum()
            ess.append(float(s * s / np.sum(w[mask] ** 2)) if s > 0 else 0.0)
        rows["Adjusted"] = ess
    return pd.DataFrame.from_dict(rows, orient="index", columns=["control", "treated"])


@positional_deprecated
def balance(df: pd.DataFrame, treatment: str, covariates: Sequence[str], *, weights=None,
            estimand: str | None = None, s_d_denom: str | None = None, binary: str = "raw",
            treated: object | None = None) -> pd.DataFrame:
    """cobalt-style balance table.

    Parameters
    ----------
    df, treatment, covariates : the data, its treatment column and the covariates to check.
    weights : None (unadjusted only), a column name, a Series/array aligned on ``df``, or a
        :class:`MatchResult` (its matching weights; the estimand then defaults to ATT).
    estimand : "ATE" (default), "ATT", "ATC" or "ATO" — chooses the default ``s_d_denom``.
    s_d_denom : "treated", "control" or "pooled" (see module notes).
    binary : "raw" (cobalt default: difference in proportions) or "std" (standardized).

    Returns
    -------
    DataFrame indexed by ``variable`` with ``type``, ``diff_measure`` and, per sample ``_un``
    (unadjusted) and ``_adj`` (weighted; only when weights are given): ``mean_treated``,
    ``mean_control``, ``diff``, ``variance_ratio``, ``ks``; ``attrs["method"]`` the conventions
    used. The sample sizes (cobalt's "Effective sample sizes") are :func:`effective_sample_size`
    (until December 2026 also in ``attrs["observations"]``: a DataFrame in ``attrs`` breaks
    pandas' concat and comparison of such tables).
    """
    if binary not in ("raw", "std"):
        raise StatsInputError(f"balance: binary must be 'raw' or 'std', not {binary!r}")
    if estimand is None:
        estimand = "ATT" if isinstance(weights, MatchResult) else "ATE"
    estimand = str(estimand).upper()
    if estimand not in _DENOM_DEFAULT:
        raise StatsInputError(f"balance: estimand must be one of {list(_DENOM_DEFAULT)}, not {estimand!r}")
    s_d_denom = s_d_denom or _DENOM_DEFAULT[estimand]
    if s_d_denom not in ("treated", "control", "pooled"):
        raise StatsInputError(f"balance: s_d_denom must be 'treated', 'control' or 'pooled', not {s_d_denom!r}")
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("balance: give at least one covariate")
    _check_frame(df, [treatment, *covariates], "balance")
    t = treatment_indicator(df[treatment], treatment, treated, "balance") == 1
    w = _resolve_weights(df, weights)
    if w is not None:
        for group, mask in (("treated", t), ("control", ~t)):
            if not (w[mask] > 0).any():
                raise StatsInputError(f"balance: every {group} patient has weight 0")
    cols, kind = _expand(df, covariates)
    ones = np.ones(len(df))
    samples = [("un", ones)] + ([("adj", w)] if w is not None else [])
    records = []
    for name, x in cols.items():
        is_bin = kind[name] == "Binary"
        v1 = _wvar(x[t], ones[t], is_bin)
        v0 = _wvar(x[~t], ones[~t], is_bin)
        sd = {"treated": np.sqrt(v1), "control": np.sqrt(v0), "pooled": np.sqrt((v1 + v0) / 2)}[s_d_denom]
        standardize = not is_bin or binary == "std"
        rec: dict[str, object] = {"variable": name, "type": kind[name],
               "diff_measure": "standardized mean difference" if standardize else "raw difference in proportions"}
        for tag, ww in samples:
            m1, m0 = _wmean(x[t], ww[t]), _wmean(x[~t], ww[~t])
            if standardize and sd == 0:
                raise StatsInputError(f"balance: '{name}' has zero standard deviation in the "
                                      f"{s_d_denom} group; its standardized difference is undefined")
            rec[f"mean_treated_{tag}"] = m1
            rec[f"mean_control_{tag}"] = m0
            rec[f"diff_{tag}"] = (m1 - m0) / sd if standardize else m1 - m0
            if is_bin:
                rec[f"variance_ratio_{tag}"] = np.nan
            else:
                vt, vc = _wvar(x[t], ww[t], False), _wvar(x[~t], ww[~t], False)
                rec[f"variance_ratio_{tag}"] = vt / vc if vc > 0 else np.inf
            rec[f"ks_{tag}"] = abs(m1 - m0) if is_bin else _ks(x, ww, t)
        records.append(rec)
    out = pd.DataFrame.from_records(records).set_index("variable")
    out.attrs["method"] = (f"cobalt bal.tab conventions: estimand {estimand}, SD denominator "
                           f"{s_d_denom} (unadjusted sample), binary {binary}, continuous std")
    return out


def love_data(before: pd.DataFrame, after: pd.DataFrame | None = None, *,
              threshold: float = 0.1) -> pd.DataFrame:
    """Long table for a Love plot: one row per variable and sample.

    ``before`` is a :func:`balance` table; its adjusted columns are used as the "Adjusted" sample
    when ``after`` is None, else ``after``'s (adjusted if present, otherwise unadjusted) columns.
    Columns: variable, sample ("Unadjusted"/"Adjusted"), smd (the table's difference: SMD, or
    raw difference for binary variables under cobalt's default), abs_smd, measure, threshold,
    balanced (|smd| <= threshold).
    """
    def pick(tab: pd.DataFrame, tag: str, label: str) -> pd.DataFrame:
        return pd.DataFrame({"variable": tab.index, "sample": label,
                             "smd": tab[f"diff_{tag}"].to_numpy(),
                             "measure": tab["diff_measure"].to_numpy()})
    parts = [pick(before, "un", "Unadjusted")]
    if after is not None:
        parts.append(pick(after, "adj" if "diff_adj" in after else "un", "Adjusted"))
    elif "diff_adj" in before:
        parts.append(pick(before, "adj", "Adjusted"))
    out = pd.concat(parts, ignore_index=True)
    out["abs_smd"] = out["smd"].abs()
    out["threshold"] = threshold
    out["balanced"] = out["abs_smd"] <= threshold
    return out[["variable", "sample", "smd", "abs_smd", "measure", "threshold", "balanced"]]
