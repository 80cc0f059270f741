"""E-values for unmeasured confounding (VanderWeele & Ding, Ann Intern Med 2017;167:268-274).

The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder would need with both treatment and outcome to explain away the observed association:

    E = RR + sqrt(RR × (RR − 1))   for RR ≥ 1;   for a protective RR < 1 use 1/RR first.

For the confidence interval, the E-value is computed for the limit closest to 1; it is 1 when the
interval includes 1. Against a non-null true value t (``true=``), every ratio x is read as x / t:
the E-value to shift the estimate to t, the CI limit on the estimate's side of t, 1 when the
interval includes t (EValue's ``true`` argument). Other measures are first converted to an (approximate) risk ratio, as in the
paper's Table 2 and R's EValue package (``evalues.OR``, ``evalues.HR``):

* OR, rare outcome (< 15 % at the end of follow-up): RR ≈ OR; common outcome: RR ≈ sqrt(OR);
* HR, rare outcome: RR ≈ HR; common outcome: RR ≈ (1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR)).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from latc._compat import positional_deprecated
from latc.stats._errors import StatsInputError

__all__ = ["evalue"]

_MEASURES = ("RR", "HR", "OR")


def _to_rr(x: float, measure: str, rare: bool) -> float:
    if measure == "RR" or rare:
        return x
    if measure == "OR":
        return math.sqrt(x)
    return (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))


def _e(rr: float) -> float:
    if rr < 1:
        rr = 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


@positional_deprecated
def evalue(estimate: float, lower: float | None = None, upper: float | None = None,
           *, measure: str = "RR", rare: bool = True, true: float = 1.0) -> pd.DataFrame:
    """E-values for a ratio estimate and its confidence interval.

    Parameters
    ----------
    estimate : the observed RR, HR or OR (> 0).
    lower, upper : confidence limits (optional; either may be given alone).
    measure : "RR", "HR" or "OR".
    rare : whether the outcome is rare (< 15 %) — decides the OR/HR → RR conversion.
    true : the true value to shift the estimate to (EValue's ``true=``; default 1, the null): how
        strong a confounder would have to be to move the estimate to ``true`` — e.g. the smallest
        clinically meaningful effect. Converted to the RR scale like the estimate.

    Returns
    -------
    DataFrame with rows ``RR`` (the estimate and limits on the risk-ratio scale) and ``E-value``,
    columns ``point``, ``lower``, ``upper`` — the layout of EValue's ``evalues.XX()``: the CI
    E-value sits in the column of the limit closest to 1, the other is NaN.
    """
    given, measure = measure, str(measure).upper()
    if measure not in _MEASURES:
        raise StatsInputError(f"evalue: measure must be one of {_MEASURES}, not {given!r}")
    vals = {"point": estimate, "lower": lower, "upper": upper}
    for name, v in {**vals, "true": true}.items():
        if v is None:
            continue
        if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
            raise StatsInputError(f"evalue: the {name} value must be a positive finite ratio, got {v!r}")
    if lower is not None and lower > estimate:
        raise StatsInputError(f"evalue: lower limit {lower} is above the estimate {estimate}")
    if upper is not None and upper < estimate:
        raise StatsInputError(f"evalue: upper limit {upper} is below the estimate {estimate}")
    rr = {k: (np.nan if v is None else _to_rr(float(v), measure, rare)) for k, v in vals.items()}
    t = _to_rr(float(true), measure, rare)
    # E-value of a ratio x against the true value t: that of x / t (VanderWeele & Ding 2017,
    # eAppendix; EValue's evalues.RR(est, lo, hi, true)); 1 when x = t
    ev = {"point": _e(rr["point"] / t), "lower": np.nan, "upper": np.nan}
    lo, hi = rr["lower"], rr["upper"]
    if (not np.isnan(lo) and lo <= t <= (hi if not np.isnan(hi) else np.inf)) or \
       (not np.isnan(hi) and (lo if not np.isnan(lo) else 0) <= t <= hi):
        side = "lower" if rr["point"] >= t else "upper"
        if not np.isnan(rr[side]):
            ev[side] = 1.0
        else:
            ev["lower" if side == "upper" else "upper"] = 1.0
    elif rr["point"] >= t and not np.isnan(lo):
        ev["lower"] = _e(lo / t)
    elif rr["point"] < t and not np.isnan(hi):
        ev["upper"] = _e(hi / t)
    out = pd.DataFrame([rr, ev], index=["RR", "E-value"], columns=["point", "lower", "upper"])
    out.attrs["method"] = (f"E-value (VanderWeele & Ding 2017) for a {measure}"
                           + ("" if measure == "RR" else f", {'rare' if rare else 'common'} outcome")
                           + ("" if true == 1 else f", against the true value {true:g}"))
    return out
