"""Confidence intervals for a proportion, and response-rate tables by subgroup.

Methods (Brown, Cai & DasGupta, Stat Sci 2001;16:101; Agresti & Coull, Am Stat 1998;52:119):

* ``"clopper-pearson"`` — exact interval from Beta quantiles, as R ``binom.test(x, n)$conf.int``:
  lower = Beta(α/2; x, n − x + 1) (0 when x = 0), upper = Beta(1 − α/2; x + 1, n − x) (1 when x = n);
* ``"wilson"`` — score interval, as R ``prop.test(x, n, correct = FALSE)$conf.int``;
* ``"agresti-coull"`` — Wald interval around (x + z²/2)/(n + z²) with n + z² trials, clipped to [0, 1];
* ``"jeffreys"`` — Beta(x + ½, n − x + ½) quantiles, with lower 0 when x = 0 and upper 1 when x = n.

Response rates (ORR, DCR, pCR ...) in oncology are reported with exact (Clopper–Pearson) intervals,
the default here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from scipy.stats import norm

from latc._compat import positional_deprecated

from ._errors import StatsInputError

__all__ = ["proportion_ci", "response_rates"]

_METHODS = ("clopper-pearson", "wilson", "agresti-coull", "jeffreys")


def _check_counts(successes, n) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    try:
        x, m = np.broadcast_arrays(x, m)
    except ValueError:
        raise StatsInputError(f"proportion_ci: successes (shape {x.shape}) and n (shape {m.shape}) "
                              "do not have matching lengths") from None
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise StatsInputError("proportion_ci: successes and n must be finite numbers (no missing values)")
    if (x != np.round(x)).any() or (m != np.round(m)).any():
        raise StatsInputError("proportion_ci: successes and n must be whole numbers")
    if (m < 1).any():
        raise StatsInputError("proportion_ci: n must be at least 1 (a rate over no patients is undefined)")
    if ((x < 0) | (x > m)).any():
        i = int(np.flatnonzero(((x < 0) | (x > m)).ravel())[0])
        raise StatsInputError(f"proportion_ci: successes must lie in 0..n; entry {i} has "
                              f"{x.ravel()[i]:g} of {m.ravel()[i]:g}")
    return x, m


@positional_deprecated
def proportion_ci(successes, n, *, method: str = "clopper-pearson",
                  conf_level: float = 0.95) -> pd.DataFrame:
    """Proportion with its confidence interval, vectorised over ``successes`` and ``n``.

    Parameters
    ----------
    successes, n : scalars or array-likes (broadcast together) of whole numbers, 0 ≤ successes ≤ n.
    method : "clopper-pearson" (exact, default), "wilson", "agresti-coull" or "jeffreys".
    conf_level : two-sided confidence level.

    Returns
    -------
    DataFrame with columns successes, n, proportion, lower, upper, method, conf_level (one row per
    element).
    """
    if method not in _METHODS:
        raise StatsInputError(f"proportion_ci: method must be one of {list(_METHODS)}, not {method!r}")
    if not (0 < conf_level < 1):
        raise StatsInputError(f"proportion_ci: conf_level must lie strictly between 0 and 1, not {conf_level!r}")
    x, m = _check_counts(successes, n)
    x, m = np.atleast_1d(x).ravel(), np.atleast_1d(m).ravel()
    alpha = 1 - conf_level
    z = float(norm.ppf(1 - alpha / 2))
    p = x / m
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "clopper-pearson":
            lower = np.where(x == 0, 0.0, beta_dist.ppf(alpha / 2, x, m - x + 1))
            upper = np.where(x == m, 1.0, beta_dist.ppf(1 - alpha / 2, x + 1, m - x))
        elif method == "wilson":
            centre = (x + z * z / 2) / (m + z * z)
            half = z * np.sqrt(m) / (m + z * z) * np.sqrt(p * (1 - p) + z * z / (4 * m))
            lower = np.maximum(0.0, centre - half)
            upper = np.minimum(1.0, centre + half)
        elif method == "agresti-coull":
            nt = m + z * z
            pt = (x + z * z / 2) / nt
            half = z * np.sqrt(pt * (1 - pt) / nt)
            lower = np.maximum(0.0, pt - half)
            upper = np.minimum(1.0, pt + half)
        else:  # jeffreys
            lower = np.where(x == 0, 0.0, beta_dist.ppf(alpha / 2, x + 0.5, m - x + 0.5))
            upper = np.where(x == m, 1.0, beta_dist.ppf(1 - alpha / 2, x + 0.5, m - x + 0.5))
    return pd.DataFrame({"successes": x.astype(np.int64), "n": m.astype(np.int64), "proportion": p,
                         "lower": lower, "upper": upper, "method": method, "conf_level": conf_level})


def _outcome_indicator(values: pd.Series, outcome: str) -> pd.Series:
    """0/1 (or boolean) outcome with missing values kept as NA."""
    if values.dtype == bool:
        return values.astype(float)
    try:
        num = pd.to_numeric(values)
    except (TypeError, ValueError):
        raise StatsInputError(f"response_rates: outcome column '{outcome}' must be 0/1 or True/False "
                              "(derive the responder flag first, e.g. ORR = CR or PR)") from None
    bad = num.notna() & ~num.isin([0, 1])
    if bad.any():
        first = values.index[np.flatnonzero(bad.to_numpy())[0]]
        raise StatsInputError(f"response_rates: outcome column '{outcome}' must be 0/1; row {first!r} "
                              f"has {values.loc[first]!r}")
    return num.astype(float)


@positional_deprecated
def response_rates(df: pd.DataFrame, outcome: str | Sequence[str], by: str | Sequence[str] | None = None,
                   *, method: str = "clopper-pearson", conf_level: float = 0.95) -> pd.DataFrame:
    """Rate table: responders / evaluable patients with a confidence interval, overall and by subgroup.

    Patients with a missing outcome are not evaluable: they are counted in ``not_evaluable`` and
    left out of the denominator (state this in the report; an intention-to-treat rate counts them
    as non-responders — recode them to 0 beforehand for that).

    Parameters
    ----------
    outcome : one or more 0/1 (or boolean) columns (e.g. ``objective_response``, ``disease_control``).
    by : optional grouping column(s); rows are produced for every combination present, plus an
        ``"All"`` row per outcome.
    method, conf_level : as :func:`proportion_ci` (default exact Clopper–Pearson).

    Returns
    -------
    DataFrame with outcome, the ``by`` columns, responders, n (evaluable), not_evaluable, rate,
    lower, upper, method. A group with no evaluable patient gets NA rate and a ``note``.
    """
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"response_rates: expected a pandas DataFrame, got {type(df).__name__}")
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    absent = [c for c in outcomes + by_cols if c not in df.columns]
    if absent:
        raise StatsInputError(f"response_rates: column(s) {absent} not found in the data")
    if method not in _METHODS:
        raise StatsInputError(f"response_rates: method must be one of {list(_METHODS)}, not {method!r}")
    parts = []
    for out in outcomes:
        y = _outcome_indicator(df[out], out)
        frame = pd.DataFrame({"_y": y, "_ok": y.notna()})
        for c in by_cols:
            frame[c] = df[c]
        frame["_y"] = frame["_y"].fillna(0.0)
        all_row: dict[str, object] = {c: "All" for c in by_cols}
        all_row.update({"responders": frame["_y"].sum(), "n": frame["_ok"].sum(), "total": len(frame)})
        agg = pd.DataFrame([all_row])
        if by_cols:
            g = frame.groupby(by_cols, observed=True, dropna=False, sort=True)
            groups = pd.DataFrame({"responders": g["_y"].sum(), "n": g["_ok"].sum(),
                                   "total": g["_y"].size()}).reset_index()
            agg = pd.concat([agg.astype({c: object for c in by_cols}),
                             groups.astype({c: object for c in by_cols})], ignore_index=True)
        agg.insert(0, "outcome", out)
        parts.append(agg)
    res = pd.concat(parts, ignore_index=True)
    res["responders"] = res["responders"].astype(np.int64)
    res["n"] = res["n"].astype(np.int64)
    res["not_evaluable"] = res.pop("total").astype(np.int64) - res["n"]
    return add_rate_columns(res, method=method, conf_level=conf_level)


def add_rate_columns(res: pd.DataFrame, *, method: str, conf_level: float) -> pd.DataFrame:
    """``rate``, ``lower``, ``upper`` (:func:`proportion_ci` of ``responders`` / ``n``), ``method`` and
    ``note`` on a response-rate table; rows with ``n`` = 0 get no rate and the note "no evaluable
    patient". Shared by :func:`response_rates` and the federated coordinator."""
    ok = res["n"].to_numpy() > 0
    rate = np.full(len(res), np.nan)
    lower = np.full(len(res), np.nan)
    upper = np.full(len(res), np.nan)
    if ok.any():
        ci = proportion_ci(res.loc[ok, "responders"], res.loc[ok, "n"], method=method, conf_level=conf_level)
        rate[ok], lower[ok], upper[ok] = ci["proportion"], ci["lower"], ci["upper"]
    res["rate"], res["lower"], res["upper"] = rate, lower, upper
    res["method"] = f"{method} {conf_level:.0%} CI"
    res["note"] = np.where(ok, "", "no evaluable patient")
    return res
