"""Restricted mean survival time (RMST): the area under the Kaplan–Meier curve up to ``tau``.

The RMST is the mean event-free time over the first ``tau`` time units; unlike the hazard ratio it
needs no proportional hazards and reads as "months gained". Per group, as R's
``print(survfit(Surv(time, event) ~ group), rmean = tau)`` (survival's ``survmean``):

* RMST(τ) = ∫₀^τ S(u) du, S the Kaplan–Meier step function (1 before the first time; the last value
  carried to τ when τ lies beyond the last time);
* Var = Σ_{t_j ≤ τ} A_j² · d_j / (n_j (n_j − d_j)), A_j = ∫_{t_j}^τ S(u) du (the Greenwood-type
  variance of Klein & Moeschberger, *Survival Analysis*, 2nd ed., §4.5; a term with n_j = d_j is 0);
* the confidence interval is RMST ± z·SE. A τ beyond a curve's last time is computed as R does
  (the last value carried on) but warned about: that part of the area is an extrapolation.

Between groups (:func:`rmst_difference`), as R's survRM2 ``rmst2`` (Uno et al., J Clin Oncol
2014;32:2380-5): the difference with SE √(se₁² + se₀²) and a Wald test, and the ratio with a CI
on the log scale, SE √(se₁²/μ₁² + se₀²/μ₀²). Like ``rmst2``, τ must not exceed the last
follow-up time of any group (beyond it the curve is extrapolated, not estimated).

Unweighted curves only: for IPTW-weighted curves the variance would need the weights' influence
(R's survfit ``robust``), which is not ported.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc._compat import keyword_hint

from ._errors import StatsInputError
from ._km import kaplan_meier

__all__ = ["rmst", "rmst_difference"]

RMST_COLUMNS = ["group", "n", "events", "tau", "rmst", "se", "lower", "upper"]


def _one_curve(time: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray, surv: np.ndarray,
               tau: float) -> tuple[float, float]:
    """(RMST, SE) of one KM curve given at its distinct times (sorted)."""
    keep = time <= tau
    t, s = time[keep], surv[keep]
    n, d = n_risk[keep], n_event[keep]
    # S is 1 on [0, t_1), S(t_j) on [t_j, t_{j+1}), S(t_k) on [t_k, tau]
    edges = np.r_[0.0, t, tau]
    heights = np.r_[1.0, s]
    areas = np.diff(edges) * heights
    # A_j: area from t_j to tau = the sum of the areas after t_j's left edge
    after = np.cumsum(areas[::-1])[::-1][1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(n - d > 0, d / (n * (n - d)), 0.0)
    return float(areas.sum()), float(np.sqrt(np.sum(after**2 * h)))


def _per_group(df: pd.DataFrame, time: str, event: str, group: str | None, tau, conf_level: float,
               missing: str, event_codes: tuple) -> tuple[pd.DataFrame, pd.Series]:
    """The RMST table and each group's last follow-up time (from the same Kaplan–Meier fit)."""
    if isinstance(tau, bool) or not isinstance(tau, Real) or not np.isfinite(float(tau)) or tau <= 0:
        raise StatsInputError(f"rmst: tau must be a positive number (a time in the unit of '{time}'), not {tau!r}")
    if not 0 < conf_level < 1:
        raise StatsInputError(f"rmst: conf_level must be between 0 and 1, not {conf_level!r}")
    try:
        km = kaplan_meier(df, time, event, group, conf_level=conf_level, missing=missing, event_codes=event_codes)
    except StatsInputError as exc:  # the data problem, named for the function the user called
        raise StatsInputError(str(exc).replace("kaplan_meier", "rmst", 1)) from None
    z = norm.ppf(0.5 + conf_level / 2)
    rows = []
    tab = km.table
    for g, m in zip(km.groups, km.medians.itertuples(index=False)):
        cur = tab[tab["group"] == g]
        est, se = _one_curve(cur["time"].to_numpy(float), cur["n_risk"].to_numpy(float),
                             cur["n_event"].to_numpy(float), cur["survival"].to_numpy(float), float(tau))
        rows.append({"group": g, "n": int(m.n), "events": int(m.events), "tau": float(tau), "rmst": est, "se": se,
                     "lower": est - z * se, "upper": est + z * se})
    return pd.DataFrame(rows, columns=RMST_COLUMNS), tab.groupby("group", sort=False)["time"].max()


@keyword_hint
def rmst(df: pd.DataFrame, time: str, event: str, group: str | None = None, *, tau: float,
         conf_level: float = 0.95, missing: str = "error", event_codes: tuple = (0, 1)) -> pd.DataFrame:
    """Restricted mean survival time up to ``tau`` per group, agreeing with R's
    ``print(survfit(Surv(time, event) ~ group), rmean = tau)`` (``*rmean``, ``*se(rmean)``).

    Returns a DataFrame ``group, n, events, tau, rmst, se, lower, upper`` (group ``"all"``
    without ``group``). ``tau`` is required: it is part of the question (e.g. 36 months) and must
    be fixed before looking at the curves.
    """
    per, last = _per_group(df, time, event, group, tau, conf_level, missing, event_codes)
    beyond = [f"{g} (last time {t:g})" for g, t in last.items() if t < tau]
    if beyond:
        warnings.warn(f"rmst: tau = {tau:g} is beyond the last follow-up time of {', '.join(beyond)}; the curve is "
                      "carried on flat there (as R does), so the RMST is an extrapolation — choose tau within "
                      "follow-up", UserWarning, stacklevel=2)
    return per


@keyword_hint
def rmst_difference(df: pd.DataFrame, time: str, event: str, group: str, *, tau: float,
                    reference=None, conf_level: float = 0.95, missing: str = "error",
                    event_codes: tuple = (0, 1)) -> pd.DataFrame:
    """Each group's RMST against the reference group's (difference and ratio), as survRM2's
    ``rmst2(time, status, arm, tau)`` "unadjusted" table.

    ``reference``: the comparison group (default: the first level, as R's factor order).
    Returns one row per other group: ``group, reference, tau, rmst, rmst_reference, difference,
    se, lower, upper, p, ratio, ratio_lower, ratio_upper``.
    """
    per, last = _per_group(df, time, event, group, tau, conf_level, missing, event_codes)
    if len(per) < 2:
        raise StatsInputError(f"rmst_difference needs at least two groups in {group!r}")
    short = [g for g, t in last.items() if t < tau]
    if short:  # refused, as survRM2's rmst2 does (rmst() only warns)
        raise StatsInputError(f"tau = {tau:g} is beyond the last follow-up time of group(s) "
                              f"{', '.join(map(str, short))} (last: {', '.join(f'{last[g]:g}' for g in short)}); "
                              "choose tau within every group's follow-up")
    ref = per.iloc[0] if reference is None else per[per["group"] == reference]
    if isinstance(ref, pd.DataFrame):
        if not len(ref):
            raise StatsInputError(f"reference {reference!r} is not a level of {group!r}: {per['group'].tolist()}")
        ref = ref.iloc[0]
    z = norm.ppf(0.5 + conf_level / 2)
    out = []
    for r in per.itertuples(index=False):
        if r.group == ref["group"]:
            continue
        diff = r.rmst - ref["rmst"]
        se = float(np.hypot(r.se, ref["se"]))
        ratio = r.rmst / ref["rmst"]
        se_log = float(np.sqrt((r.se / r.rmst) ** 2 + (ref["se"] / ref["rmst"]) ** 2))
        out.append({"group": r.group, "reference": ref["group"], "tau": float(tau), "rmst": r.rmst,
                    "rmst_reference": float(ref["rmst"]), "difference": diff, "se": se,
                    "lower": diff - z * se, "upper": diff + z * se,
                    "p": float(2 * norm.sf(abs(diff / se))) if se > 0 else np.nan,
                    "ratio": ratio, "ratio_lower": ratio * np.exp(-z * se_log), "ratio_upper": ratio * np.exp(z * se_log)})
    return pd.DataFrame(out)
