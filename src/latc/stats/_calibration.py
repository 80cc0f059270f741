"""Calibration of predicted event risks at a horizon (observed Kaplan–Meier vs mean predicted).

Three views, each on the probability scale of "event by time ``at``" (docs/stats/prognostic.md):

* **by risk group** — patients cut into ``groups`` quantile groups of predicted risk (R
  ``cut(p, quantile(p, seq(0, 1, length = groups + 1)), include.lowest = TRUE)``, i.e. type-7
  quantiles, right-closed; duplicate cut points merge groups); per group the Kaplan–Meier observed
  risk 1 − S(at) with its log-transformed CI (R ``survfit`` default) against the mean predicted
  risk — the points of a calibration plot;
* **calibration slope** — the coefficient of a Cox model of the outcome on the complementary
  log-log of the predicted risk, log(−log(1 − p)), which for a Cox model is its linear predictor up
  to a constant (Van Houwelingen 2000; Steyerberg, *Clinical Prediction Models*, 2nd ed., §15.3):
  1 is ideal, < 1 means predictions too extreme (overfitting). On the development data a Cox
  model's slope is exactly 1; it is informative on new data or after bootstrap/cross-validation;
* **calibration-in-the-large** at the horizon — observed/expected ratio O/E with O = 1 − KM(at)
  over everyone and E = mean predicted risk; its CI is exp(log(O/E) ± z·SE(O)/O) with the
  Greenwood SE of the KM (Debray et al., BMJ 2017, for the survival O/E at a time point); the
  difference O − E is reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc._compat import positional_deprecated

from ._cox import cox
from ._discrimination import _vector, frame_form, survival_arrays
from ._errors import StatsInputError
from ._km import kaplan_meier

__all__ = ["CalibrationResult", "calibration"]


@dataclass
class CalibrationResult:
    """``table``: one row per risk group (plot points); ``summary``: slope, O/E, O − E."""

    table: pd.DataFrame
    summary: pd.DataFrame
    at: float


def _risk_groups(p: np.ndarray, groups: int) -> np.ndarray:
    """Quantile groups 1..G (R cut at type-7 quantiles, include.lowest); equal cut points merge."""
    codes = pd.qcut(p, groups, labels=False, duplicates="drop")
    return np.asarray(codes, dtype=np.int64) + 1


@frame_form
@positional_deprecated
def calibration(time, event, predicted_risk, at: float, *, groups: int = 10,
                linear_predictor=None, conf_level: float = 0.95, event_codes: tuple = (0, 1)) -> CalibrationResult:
    """Calibration of predicted risks of an event by time ``at``.

    Parameters
    ----------
    time, event : follow-up time and event indicator (1/True = event).
    predicted_risk : predicted probability of the event by ``at`` (e.g. 1 − S(at | x) of a Cox model).
    at : the horizon (same unit as ``time``); someone must be followed beyond it.
    groups : number of quantile risk groups (10 = deciles).
    linear_predictor : optional Cox linear predictor of the same model; the slope is then fitted on
        it (identical to log(−log(1 − p)) up to a constant, but finite when a predicted risk rounds
        to exactly 0 or 1 in floating point).

    Returns
    -------
    CalibrationResult with ``table`` (group, n, events (by ``at``), mean_predicted, observed,
    observed_lower, observed_upper, predicted_min, predicted_max, note) and ``summary`` (metric,
    estimate, se, lower, upper, note) for ``calibration_slope``, ``observed_expected_ratio`` and
    ``observed_minus_expected``.
    """
    ctx = "calibration"
    t, e, p = survival_arrays(time, event, predicted_risk, ctx, risk_name="predicted_risk", event_codes=event_codes)
    if ((p < 0) | (p > 1)).any():
        raise StatsInputError(f"{ctx}: predicted_risk must be probabilities in [0, 1]")
    at = float(at)
    if not (t > at).any():
        raise StatsInputError(f"{ctx}: nobody is followed beyond the horizon at = {at:g} (last "
                              f"follow-up {t.max():g}); the observed risk there is not estimable")
    if not isinstance(groups, (int, np.integer)) or groups < 2:
        raise StatsInputError(f"{ctx}: groups must be an integer ≥ 2, not {groups!r}")
    if np.ptp(p) == 0:
        raise StatsInputError(f"{ctx}: predicted_risk is constant ({p[0]!r}); there are no risk "
                              "groups and no slope to estimate")
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    g = _risk_groups(p, groups)
    frame = pd.DataFrame({"time": t, "event": e.astype(int), "group": g})
    km = kaplan_meier(frame, "time", "event", group="group", conf_level=conf_level).at([at])
    km = km.set_index("group")
    grp = pd.DataFrame({"p": p, "group": g, "ev": e & (t <= at)}).groupby("group", sort=True)
    table = pd.DataFrame({
        "n": grp.size(), "events": grp["ev"].sum().astype(int), "mean_predicted": grp["p"].mean(),
        "predicted_min": grp["p"].min(), "predicted_max": grp["p"].max()})
    table["observed"] = 1 - km.loc[table.index, "survival"].to_numpy()
    table["observed_lower"] = 1 - km.loc[table.index, "upper"].to_numpy()
    table["observed_upper"] = 1 - km.loc[table.index, "lower"].to_numpy()
    table["note"] = np.where(table["observed"].isna(),
                             f"follow-up of this group ends before {at:g}", "")
    table = table.reset_index()[["group", "n", "events", "mean_predicted", "observed",
                                 "observed_lower", "observed_upper", "predicted_min",
                                 "predicted_max", "note"]]
    table.attrs["groups_requested"] = groups

    rows = []
    # calibration slope: Cox on the complementary log-log of the predicted risk
    inside = (p > 0) & (p < 1)
    if linear_predictor is not None:
        lp = _vector(linear_predictor, "linear_predictor", ctx)
        if len(lp) != len(p):
            raise StatsInputError(f"{ctx}: linear_predictor and predicted_risk differ in length")
        inside[:] = True
    if inside.all():
        if linear_predictor is None:
            lp = np.log(-np.log1p(-p))
        fit = cox(pd.DataFrame({"t": t, "e": e, "lp": lp}), "t", "e", ["lp"])
        b, se = float(fit.coef[0]), float(fit.summary["se"].iloc[0])
        rows.append({"metric": "calibration_slope", "estimate": b, "se": se,
                     "lower": b - z * se, "upper": b + z * se, "note": ""})
    else:
        rows.append({"metric": "calibration_slope", "estimate": np.nan, "se": np.nan,
                     "lower": np.nan, "upper": np.nan,
                     "note": f"{int((~inside).sum())} predicted risk(s) are exactly 0 or 1; "
                             "the complementary log-log is infinite"})
    # calibration-in-the-large at the horizon
    overall = kaplan_meier(frame, "time", "event", conf_level=conf_level).at([at]).iloc[0]
    observed = 1 - float(overall["survival"])
    se_obs = float(overall["std_err"])
    expected = float(p.mean())
    if observed > 0 and expected > 0:
        ratio = observed / expected
        se_log = se_obs / observed
        rows.append({"metric": "observed_expected_ratio", "estimate": ratio, "se": se_log,
                     "lower": ratio * np.exp(-z * se_log), "upper": ratio * np.exp(z * se_log),
                     "note": "se on the log scale"})
    else:
        rows.append({"metric": "observed_expected_ratio", "estimate": np.nan, "se": np.nan,
                     "lower": np.nan, "upper": np.nan,
                     "note": f"observed ({observed:g}) or expected ({expected:g}) risk is 0"})
    rows.append({"metric": "observed_minus_expected", "estimate": observed - expected, "se": se_obs,
                 "lower": observed - expected - z * se_obs, "upper": observed - expected + z * se_obs,
                 "note": f"observed {observed:.6g} (1 - KM), expected {expected:.6g} (mean predicted)"})
    summary = pd.DataFrame(rows)
    summary.insert(1, "horizon", at)
    return CalibrationResult(table=table, summary=summary, at=at)
