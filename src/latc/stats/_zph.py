"""Test of proportional hazards, a port of R's ``cox.zph`` (survival ≥ 3.0).

The current R test is a score test: the model is augmented by the time-dependent covariates
x·g(t), with g the transformed event time centred on its mean over the events, and the score of
the extra coefficients is tested at (β̂, 0). Per term (a categorical covariate is one term with
k − 1 df) and GLOBAL, the statistic is uᵀ I⁻¹ u on the block information
[[Σ V, Σ g V], [Σ g V, Σ g² V]] (V: weighted covariance of x in the risk set, Efron or Breslow as
the fit). lifelines' ``proportional_hazard_test`` is the pre-3.0 approximation R dropped
(DESIGN.md "Known pitfalls"), so it is not used.

Transforms: ``"km"`` (R's default: 1 − KM(t−) of all rows, unweighted), ``"rank"`` (rank of the
times, ties averaged), ``"identity"`` (the time itself), ``"log"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from latc._compat import positional_deprecated

from ._cox import CoxResult
from ._errors import StatsInputError

__all__ = ["cox_zph"]


def _transformed_times(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    if transform == "identity":
        return time.astype(float)
    if transform == "rank":
        return rankdata(time)
    if transform == "log":
        if (time <= 0).any():
            raise StatsInputError("cox_zph: transform='log' needs positive times")
        return np.log(time)
    if transform == "km":
        ut, inv = np.unique(time, return_inverse=True)
        d = np.bincount(inv, event.astype(float), minlength=len(ut))
        tot = np.bincount(inv, minlength=len(ut)).astype(float)
        n = np.cumsum(tot[::-1])[::-1]
        surv = np.cumprod(1 - d / n)
        before = np.r_[1.0, surv][inv]          # KM just before each time, S(t−)
        return 1 - before
    raise StatsInputError(f"cox_zph: transform must be 'km', 'rank', 'identity' or 'log', not {transform!r}")


@positional_deprecated
def cox_zph(fit: CoxResult, *, transform: str = "km", global_test: bool = True) -> pd.DataFrame:
    """Score test of proportional hazards per term and GLOBAL, as R ``cox.zph(fit, transform)``.

    Returns a DataFrame indexed by term (the covariate names, then ``GLOBAL``) with ``chisq``,
    ``df``, ``p``. Uses the model's ties method, strata and case weights (the robust variance
    plays no part, as in R).
    """
    if not isinstance(fit, CoxResult) or fit._risk is None:
        raise StatsInputError("cox_zph needs a fit returned by latc.stats.cox")
    if fit.counting_process:
        raise StatsInputError("cox_zph: not available for (start, stop] fits yet (R's cox.zph uses the "
                              "counting-process survival curve for the time transform; not ported)")
    risk = fit._risk
    X = fit._X
    p = X.shape[1]
    ttimes = _transformed_times(fit._time, fit._event, transform)
    gtime = ttimes - ttimes[fit._event].mean()
    g_group = gtime[risk.order][risk.gstart]          # every row of a tied-time group shares it
    st = risk.steps(X, fit.coef)
    mw = risk.step_meanwt
    gs = g_group[risk.step_group]
    i11 = risk.information(X, st)
    i12 = risk.information(X, st, gs)
    i22 = risk.information(X, st, gs**2)
    imat = np.block([[i11, i12], [i12, i22]])
    ev = risk.event
    wg = (risk.weights * g_group[risk.tgroup])[ev]
    u2 = (wg[:, None] * X[ev]).sum(axis=0) - ((mw * gs)[:, None] * st["xbar"]).sum(axis=0)
    u = np.r_[np.zeros(p), u2]

    rows = []
    for term, cols in fit.terms.items():
        kk = list(range(p)) + [p + j for j in cols]
        uk = u[kk]
        stat = float(uk @ np.linalg.solve(imat[np.ix_(kk, kk)], uk))
        rows.append((term, stat, len(cols)))
    if global_test:
        rows.append(("GLOBAL", float(u @ np.linalg.solve(imat, u)), p))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"]).set_index("term")
    out["p"] = chi2.sf(out["chisq"], out["df"])
    out.attrs["method"] = f"cox.zph score test (R survival >= 3.0), transform = {transform!r}"
    return out
