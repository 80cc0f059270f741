"""Log-rank test that agrees with R's ``survival::survdiff`` (rho = 0).

For each stratum and distinct event time t with d deaths among n at risk (n_g in group g):
observed O_g = Σ d_g, expected E_g = Σ d n_g / n and
V_gh = Σ d (n − d) / (n − 1) · (n_g / n) (δ_gh − n_h / n), summed over strata.
The statistic is (O − E)ᵀ V⁻ (O − E) over the groups with E > 0, dropping the first (R's
``survdiff``), on (number of groups with E > 0) − 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2

from latc._compat import positional_deprecated

from ._errors import StatsInputError, survival_data
from ._test_result import TestResult

__all__ = ["logrank"]


def _levels(series: pd.Series) -> tuple[np.ndarray, list]:
    cat = pd.Categorical(series).remove_unused_categories()
    return np.asarray(cat.codes, dtype=np.int64), list(cat.categories)


def logrank_stratum(at_time: np.ndarray, deaths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and the variance matrix of one stratum from per-time, per-group counts
    (``at_time``: rows leaving the risk set at each ordered time — events and censorings; ``deaths``:
    events), hypergeometric variance as R ``survdiff``. Shared with the federated coordinator, which
    builds the same counts from the sites' messages on the pooled time grid."""
    n_g = np.cumsum(at_time[::-1], axis=0)[::-1]          # at risk by group
    n = n_g.sum(axis=1)
    d = deaths.sum(axis=1)
    keep = d > 0
    n_g, n, d, deaths = n_g[keep], n[keep], d[keep], deaths[keep]
    frac = n_g / n[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    return (deaths.sum(axis=0), (d[:, None] * frac).sum(axis=0),
            np.diag((kk[:, None] * frac).sum(axis=0)) - np.einsum("t,tg,th->gh", kk, frac, frac))


@positional_deprecated
def logrank(df: pd.DataFrame, time: str, event: str, group: str,
            *, strata: str | Sequence[str] | None = None, missing: str = "error", event_codes: tuple = (0, 1)) -> TestResult:
    """Log-rank test of ``group``, optionally stratified, like R
    ``survdiff(Surv(time, event) ~ group + strata(...))``.

    Returns a :class:`TestResult`: ``statistic`` (χ², R's ``chisq``), ``df``, ``p``, ``method``,
    and ``table`` with one row per group: group, n, observed, expected, ``oe2_e`` ((O−E)²/E),
    ``oe2_v`` ((O−E)²/V). It used to return those rows with chisq, df and p repeated on each, now
    ``.to_frame()``; the old DataFrame calls still work for one release, with a warning.
    ``event_codes``: (censored, event) codes; ``(1, 2)`` for R's status coding.
    """
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    data = survival_data(df, time, event, columns=[group, *strata_cols], missing=missing,
                         context="logrank", event_codes=event_codes)
    gcode, levels = _levels(data.frame[group])
    if len(levels) < 2:
        raise StatsInputError(f"logrank: column '{group}' has a single group ({levels[0]!r}); "
                              "the log-rank test needs at least two")
    if not data.event.any():
        raise StatsInputError(f"logrank: no events in '{event}'; the log-rank test is undefined")
    if strata_cols:
        scode = data.frame.groupby(strata_cols, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    else:
        scode = np.zeros(len(gcode), dtype=np.int64)
    k = len(levels)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    for s in np.unique(scode):
        sel = scode == s
        t, e, g = data.time[sel], data.event[sel], gcode[sel]
        ut, inv = np.unique(t, return_inverse=True)
        m = len(ut)
        at_time = np.zeros((m, k))
        np.add.at(at_time, (inv, g), 1.0)
        deaths = np.zeros((m, k))
        np.add.at(deaths, (inv[e], g[e]), 1.0)
        o, e_, v = logrank_stratum(at_time, deaths)
        obs += o
        exp += e_
        var += v
    method = "log-rank test (R survdiff, rho = 0)" + (f", stratified by {strata_cols}" if strata_cols else "")
    return logrank_result(levels, np.bincount(gcode, minlength=k), obs, exp, var, method=method,
                          singular=f"logrank: the variance matrix is singular (groups perfectly confounded with "
                                   f"strata of {strata_cols}?)")


def logrank_result(levels: list, n_by_group: np.ndarray, obs: np.ndarray, exp: np.ndarray, var: np.ndarray, *,
                   method: str, singular: str) -> TestResult:
    """The test from summed observed, expected and variance (survdiff: the groups with E > 0, the
    first dropped) and its per-group table; ``singular``: the message when V cannot be inverted.
    Shared by :func:`logrank` and the federated ``combine_logrank``."""
    used = exp > 0
    dof = int(used.sum()) - 1
    if dof < 1:
        chisq = 0.0
    else:
        diff = (obs - exp)[used][1:]
        try:
            chisq = float(diff @ np.linalg.solve(var[np.ix_(used, used)][1:, 1:], diff))
        except np.linalg.LinAlgError:
            raise StatsInputError(singular) from None
    p = float(chi2.sf(chisq, dof)) if dof >= 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame({
            "group": levels, "n": n_by_group, "observed": obs, "expected": exp,
            "oe2_e": (obs - exp) ** 2 / exp, "oe2_v": (obs - exp) ** 2 / np.diag(var)})
    return TestResult(statistic=chisq, df=dof, p=p, method=method, table=table)
