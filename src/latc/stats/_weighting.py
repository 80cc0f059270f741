"""Propensity-score weights: IPTW (ATE), ATT (odds) and overlap (ATO) weights.

Formulas as R's WeightIt (``weightit(method = "glm")``, ``get_w_from_ps``), with e = P(treated | X):

=========  ==================  ====================
estimand   treated             control
=========  ==================  ====================
ATE        1 / e               1 / (1 - e)
ATT        1                   e / (1 - e)
ATO        1 - e               e
=========  ==================  ====================

``stabilize=True`` multiplies each weight by the proportion of patients in the patient's own group
(WeightIt's ``stabilize = TRUE``; Robins, Hernán & Brumback 2000), so stabilized ATE weights
average about 1 and the weighted sample keeps the original size.

``trim`` excludes patients outside the region of common support (weight 0; they stay in the
returned Series so rows line up):

* a float ``q`` in (0, 0.5): **asymmetric trimming by PS quantiles** (Stürmer et al., Am J
  Epidemiol 2010;172:843): exclude patients whose PS is below the ``q`` quantile of the treated
  patients' PS or above the ``1 - q`` quantile of the controls' PS (R ``quantile`` type 7);
* a pair ``(low, high)``: **fixed bounds** (Crump et al., Biometrika 2009 use (0.1, 0.9)):
  exclude patients with PS < low or PS > high.

Trimming changes the target population; report it with the estimate.

``truncate`` winsorizes large weights instead (Cole & Hernán, Am J Epidemiol 2008;168:656; R
WeightIt ``trim(w, at = q)``, whose name says "trim" for this operation): every weight above the
``q`` quantile (R ``quantile`` type 3) of the weights that can vary — all patients for the ATE and
ATO, the controls for the ATT (treated weights are all 1) — is set to that quantile. Nobody is
excluded; the target population is kept at the price of some bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc._compat import positional_deprecated
from latc.stats._errors import StatsInputError
from latc.stats._propensity import _check_frame, propensity_values, treatment_indicator

__all__ = ["weights"]

_ESTIMANDS = ("ATE", "ATT", "ATO")


@positional_deprecated
def weights(df: pd.DataFrame, treatment: str, covariates: Sequence[str] | None = None,
            *, ps: str | pd.Series | np.ndarray | None = None, estimand: str = "ATE",
            stabilize: bool = False, trim: float | tuple[float, float] | None = None, truncate: float | None = None, treated: object | None = None) -> pd.Series:
    """Propensity-score weights for the ATE (IPTW), ATT or ATO (overlap weights).

    Parameters
    ----------
    df, treatment, covariates : as :func:`latc.stats.propensity` (or give ``ps``).
    ps : propensity scores (probabilities): column name, Series aligned on ``df`` or array.
    estimand : "ATE", "ATT" or "ATO".
    stabilize : multiply by the proportion of the patient's group (WeightIt ``stabilize = TRUE``).
    trim : None, a quantile ``q`` (Stürmer asymmetric trimming) or fixed PS bounds ``(low, high)``;
        excluded patients get weight 0.
    truncate : None or a quantile ``q`` in (0.5, 1): weights above their ``q`` quantile are set to
        it (WeightIt ``trim(at = q)``; see the module docstring). Not combined with ``trim``.

    Returns
    -------
    pd.Series named ``weights`` indexed like ``df``.

    Raises
    ------
    StatsInputError : one treatment group, missing values, perfect separation, PS of 0 or 1, no
        overlap between the groups' PS ranges, or trimming that leaves a group empty.
    """
    context = f"{estimand} weights"
    estimand = str(estimand).upper()
    if estimand not in _ESTIMANDS:
        raise StatsInputError(f"weights: estimand must be one of {_ESTIMANDS}, not {estimand!r}")
    _check_frame(df, [treatment], context)
    z = treatment_indicator(df[treatment], treatment, treated, context)
    e = propensity_values(df, treatment, covariates, ps, treated, context)
    t = z == 1
    if e[t].max() <= e[~t].min() or e[~t].max() <= e[t].min():
        raise StatsInputError(f"{context}: the propensity score ranges of treated "
                              f"[{e[t].min():.3g}, {e[t].max():.3g}] and control "
                              f"[{e[~t].min():.3g}, {e[~t].max():.3g}] patients do not overlap")
    if estimand == "ATE":
        w = np.where(t, 1 / e, 1 / (1 - e))
    elif estimand == "ATT":
        w = np.where(t, 1.0, e / (1 - e))
    else:
        w = np.where(t, 1 - e, e)
    if stabilize:
        p1 = t.mean()
        w = w * np.where(t, p1, 1 - p1)
    if trim is not None:
        if isinstance(trim, (tuple, list)) and len(trim) == 2:
            low, high = float(trim[0]), float(trim[1])
            if not 0 <= low < high <= 1:
                raise StatsInputError(f"{context}: trim bounds must satisfy 0 <= low < high <= 1, got {trim}")
        elif np.isscalar(trim) and 0 < float(trim) < 0.5:
            q = float(trim)
            low = float(np.quantile(e[t], q))          # numpy "linear" = R quantile type 7
            high = float(np.quantile(e[~t], 1 - q))
        else:
            raise StatsInputError(f"{context}: trim must be a quantile in (0, 0.5) or a pair "
                                  f"(low, high), not {trim!r}")
        out = (e < low) | (e > high)
        w = np.where(out, 0.0, w)
        for group, mask in (("treated", t), ("control", ~t)):
            if not (w[mask] > 0).any():
                raise StatsInputError(f"{context}: trimming at PS [{low:.3g}, {high:.3g}] leaves no "
                                      f"{group} patient")
    if truncate is not None:
        if trim is not None:
            raise StatsInputError(f"{context}: give trim (exclude patients) or truncate (cap weights), not both")
        if not (np.isscalar(truncate) and 0.5 < float(truncate) < 1):
            raise StatsInputError(f"{context}: truncate must be a quantile in (0.5, 1), not {truncate!r}")
        vary = ~t if estimand == "ATT" else np.ones(len(w), dtype=bool)
        cap = float(np.quantile(w[vary], float(truncate), method="closest_observation"))  # R type 3
        w = np.where(vary & (w > cap), cap, w)
    return pd.Series(w, index=df.index, name="weights")
