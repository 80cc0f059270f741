"""Discrimination of a survival risk score: Harrell's and Uno's C, time-dependent AUC, Brier score.

Agrees with R 4.2.2 (survival 3.5-3, riskRegression 2022.11.28); see docs/stats/prognostic.md.

* :func:`harrell_c` — ``concordance(Surv(time, status) ~ risk, reverse = TRUE)``: every pair
  where the shorter time is an event is comparable; a censored time tied with an event time counts
  as the longer one; pairs of events at the same time are not comparable (R's ``tied.y``); ties in
  the risk score count ½. The standard error is R's infinitesimal-jackknife one (``sqrt(var)``):
  the influence of each patient on Somers' d, from R's ``concordance3`` algorithm, computed here
  with a merge-sort tree in vectorised numpy.
* :func:`uno_c` — ``concordance(..., timewt = "n/G2", ymax = tau)``: each event at time t weighs
  1/G(t−)², G the Kaplan–Meier estimate of the censoring distribution with R's tie rule (events
  at a time leave the risk set before the censorings at that time) evaluated just *before* t.
  scikit-survival's ``concordance_index_ipcw`` uses G(t) instead (DESIGN.md "Known pitfalls"), so
  the two differ whenever a censoring is tied with an event time. Events after ``tau`` weigh 0.
  As in R, the variance treats the censoring weights as fixed.
* :func:`time_dependent_auc` — cumulative/dynamic AUC with inverse-probability-of-censoring
  weights (Uno et al. 2007; Blanche et al. 2013), as ``riskRegression::Score(list(risk), formula =
  Surv(time, status) ~ 1, metrics = "auc", times = ...)`` with its Kaplan–Meier censoring model:
  cases T ≤ t with an event weigh 1/G(T−); controls T > t weigh 1/G(t) (a constant that cancels).
* :func:`brier_score` — IPCW Brier score as ``Score(..., metrics = "brier")`` (Graf et al. 1999):
  ``mean(1{T ≤ t, event} (1 − F(t))² / G(T−) + 1{T > t} F(t)² / G(t))``.

A horizon at or beyond the last follow-up time (nobody left at risk after it — in particular when
the last time is censored, so G(t) = 0) has no controls: that row is NA with the reason in
``note`` rather than a silent NaN (scikit-survival raises there; DESIGN.md pitfalls: truncate).
Not ported: riskRegression's influence-function standard errors for AUC and Brier.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc._compat import positional_deprecated

from ._cox import _prefix_weight_below
from ._errors import StatsInputError, _as_event

__all__ = ["ConcordanceResult", "brier_score", "censoring_survival", "harrell_c",
           "time_dependent_auc", "uno_c"]


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _vector(values, name: str, context: str) -> np.ndarray:
    try:
        a = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel())), dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(f"{context}: '{name}' must be numeric") from None
    if np.isnan(a).any():
        i = int(np.flatnonzero(np.isnan(a))[0])
        raise StatsInputError(f"{context}: '{name}' has {int(np.isnan(a).sum())} missing value(s) "
                              f"(first at position {i}); drop or impute them first")
    if not np.isfinite(a).all():
        raise StatsInputError(f"{context}: '{name}' has infinite values")
    return a


def frame_form(func):
    """Let a discrimination function also take ``(df, "time", "event", "risk", …)``: a DataFrame
    and its column names (a list of names for a risk matrix, one column per horizon), as the
    survival functions do, beside the bare arrays. A column that is missing is named in the error."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if args and isinstance(args[0], pd.DataFrame):
            df, names = args[0], args[1:4]
            if len(names) < 3:
                raise StatsInputError(f"{func.__name__}: with a DataFrame, give the time, event and risk column names")
            cols = [c for n in names for c in (n if isinstance(n, (list, tuple)) else [n])]
            absent = [c for c in cols if c not in df.columns]
            if absent:
                raise StatsInputError(f"{func.__name__}: column(s) {absent} not found in the data")
            arrays = [df[list(n)].to_numpy(dtype=float) if isinstance(n, (list, tuple)) else df[n] for n in names]
            args = (*arrays, *args[4:])
        return func(*args, **kwargs)

    return wrapper


def _label(values, default: str) -> str:
    """A Series' own name (the column the user passed) for messages, else the parameter's."""
    name = getattr(values, "name", None)
    return str(name) if isinstance(name, str) and name else default


def survival_arrays(time, event, risk, context: str, risk_name: str = "risk", *, event_codes: tuple = (0, 1)):
    """Validated float time, bool event and float risk arrays of equal length (internal).
    ``event_codes``: (censored, event), as in the survival functions ((1, 2): R's status coding)."""
    t = _vector(time, _label(time, "time"), context)
    if (t < 0).any():
        raise StatsInputError(f"{context}: 'time' has a negative value at position "
                              f"{int(np.flatnonzero(t < 0)[0])}")
    e = _as_event(pd.Series(np.asarray(event).ravel()), _label(event, "event"), event_codes)
    r = np.asarray(risk, dtype=float) if np.ndim(risk) == 2 else _vector(risk, _label(risk, risk_name), context)
    if np.ndim(r) == 2 and np.isnan(r).any():
        raise StatsInputError(f"{context}: '{risk_name}' has missing values")
    if not (len(t) == len(e) == len(r)):
        raise StatsInputError(f"{context}: time, event and {risk_name} differ in length "
                              f"({len(t)}, {len(e)}, {len(r)})")
    if len(t) == 0:
        raise StatsInputError(f"{context}: no observations")
    if not e.any():
        raise StatsInputError(f"{context}: no events among {len(t)} observations; "
                              "discrimination is undefined")
    return t, e, r


# ----------------------------------------------------------------------------------------------
# the censoring distribution
# ----------------------------------------------------------------------------------------------
def censoring_survival(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier estimate G of the censoring distribution (the "reverse" KM).

    Returns the distinct times u and G(u) (right-continuous). At a time with both events and
    censorings the events leave the risk set first, so the factor is (n − d − c)/(n − d) with n the
    number with T ≥ u — the convention of R's ``concordance`` (``fastkm1``) and of
    ``prodlim(..., reverse = TRUE)`` used by riskRegression.
    """
    ut, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, event.astype(float), minlength=len(ut))
    c = np.bincount(inv, (~event).astype(float), minlength=len(ut))
    n = np.cumsum((d + c)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(c > 0, (n - d - c) / (n - d), 1.0)
    return ut, np.cumprod(factor)


def _g_at(ut: np.ndarray, g: np.ndarray, t: np.ndarray, left: bool) -> np.ndarray:
    """G(t) (``left=False``) or G(t−) (``left=True``) at the points t."""
    i = np.searchsorted(ut, t, side="left" if left else "right") - 1
    return np.where(i < 0, 1.0, g[np.maximum(i, 0)])


# ----------------------------------------------------------------------------------------------
# concordance with R's infinitesimal-jackknife variance
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConcordanceResult:
    """Concordance of a risk score (higher risk = earlier event) with its R-style standard error.

    ``concordant``/``discordant``/``tied_risk`` are (time-weighted) pair counts; ``comparable`` is
    their sum (R's ``npair``); ``tied_time`` counts event pairs at the same time (not comparable).
    ``dfbeta`` is each patient's infinitesimal-jackknife influence on C (R ``influence = 1``), so
    ``se = sqrt(sum(dfbeta**2))`` and two scores on the same patients have covariance
    ``sum(dfbeta1 * dfbeta2)`` (R ``concordance(fit1, fit2)``).
    """

    estimate: float
    se: float
    lower: float
    upper: float
    concordant: float
    discordant: float
    tied_risk: float
    tied_time: float
    comparable: float
    method: str
    tau: float | None = None
    conf_level: float = 0.95
    dfbeta: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame (metric, estimate, se, lower, upper, counts, method, tau)."""
        return pd.DataFrame([{
            "metric": "uno_c" if self.method.startswith("Uno") else "harrell_c",
            "estimate": self.estimate, "se": self.se, "lower": self.lower, "upper": self.upper,
            "concordant": self.concordant, "discordant": self.discordant,
            "tied_risk": self.tied_risk, "tied_time": self.tied_time,
            "comparable": self.comparable, "tau": self.tau, "method": self.method}])


def _concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, event_weight: np.ndarray,
                 want_se: bool = True) -> dict[str, Any]:
    """Weighted pair counts and (optionally) R's dfbeta; ``event_weight`` = time weight per row.

    Rows are sorted by time descending, censored before events at a tied time (R's sort.stop).
    An event's comparison set is every row before its (time, status) block. A row's influence is
    its pairs as the shorter member (events) plus its pairs as the longer member: the events after
    its own block, weighted by their time weights — R ``concordance3``'s two trees.
    """
    order = np.lexsort((event, -time))
    t, e, tw = time[order], event[order], event_weight[order]
    rank = np.unique(risk[order], return_inverse=True)[1].astype(np.int64)
    n = len(t)
    new = np.r_[True, (t[1:] != t[:-1]) | (e[1:] != e[:-1])]
    starts = np.flatnonzero(new)
    blk = np.cumsum(new) - 1
    blk_start = starts[blk]
    blk_end = np.r_[starts[1:], n][blk]          # first position after the block
    ev = np.flatnonzero(e)
    q, v = blk_start[ev], rank[ev]
    ones = np.ones(n)
    res = _prefix_weight_below(rank, ones, np.r_[q, q], np.r_[v, v + 1])
    m = len(ev)
    below, leq = res[:m], res[m:]
    total = q.astype(float)
    greater = total - leq
    tied = leq - below
    twe = tw[ev]
    # R's (non-reversed) orientation: "concordant" = higher score with longer time
    conc_r = float(twe @ greater)
    disc_r = float(twe @ below)
    tied_x = float(twe @ tied)
    # event pairs tied on time (R's tied.y + tied.xy), for reporting only
    d_blk = np.bincount(blk[ev], twe, minlength=len(starts))
    n_blk = np.bincount(blk[ev], minlength=len(starts))
    tied_y = float(np.sum(d_blk * (n_blk - 1) / 2.0))
    npair = conc_r + disc_r + tied_x
    out: dict[str, Any] = {"concordant": disc_r, "discordant": conc_r, "tied_risk": tied_x, "tied_time": tied_y,
           "comparable": npair,
           "estimate": (disc_r + tied_x / 2) / npair if npair > 0 else np.nan}
    if not want_se or npair <= 0:
        return out
    ew = np.where(e, tw, 0.0)
    cew = np.r_[0.0, np.cumsum(ew)]
    r2 = _prefix_weight_below(rank, ew, np.r_[np.full(n, n), blk_end, np.full(n, n), blk_end],
                              np.r_[rank, rank, rank + 1, rank + 1])
    suf_below = r2[:n] - r2[n:2 * n]
    suf_leq = r2[2 * n:3 * n] - r2[3 * n:]
    suf_total = cew[n] - cew[blk_end]
    i_conc = suf_below.copy()                      # R imat[, 1]: as the longer member, risk above
    i_disc = suf_total - suf_leq                   # R imat[, 2]
    i_tied = suf_leq - suf_below                   # R imat[, 3]
    i_conc[ev] += twe * greater
    i_disc[ev] += twe * below
    i_tied[ev] += twe * tied
    somer = (conc_r - disc_r) / npair
    dfbeta_r = (i_conc - i_disc) / npair - (somer / npair) * (i_conc + i_disc + i_tied)
    dfb = np.empty(n)
    dfb[order] = -dfbeta_r / 2.0                    # on the C scale, reversed (R influence = 1)
    out["dfbeta"] = dfb
    out["se"] = float(np.sqrt(np.sum(dfb ** 2)))
    return out


def _result(stats: dict, method: str, tau, conf_level: float, context: str) -> ConcordanceResult:
    if not stats["comparable"] > 0:
        raise StatsInputError(f"{context}: no comparable pairs (every event is tied in time with all "
                              "longer follow-up, or no event falls before tau)")
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    est, se = stats["estimate"], stats.get("se", np.nan)
    return ConcordanceResult(
        estimate=float(est), se=se, lower=float(est - z * se), upper=float(est + z * se),
        concordant=stats["concordant"], discordant=stats["discordant"],
        tied_risk=stats["tied_risk"], tied_time=stats["tied_time"],
        comparable=stats["comparable"], method=method, tau=tau, conf_level=conf_level,
        dfbeta=stats.get("dfbeta"))


def _check_not_constant(r: np.ndarray, context: str) -> None:
    if np.ptp(r) == 0:
        raise StatsInputError(f"{context}: the risk score is constant ({r[0]!r}); every comparable "
                              "pair is tied, so C = 0.5 carries no information")


@frame_form
@positional_deprecated
def harrell_c(time, event, risk, *, conf_level: float = 0.95, event_codes: tuple = (0, 1)) -> ConcordanceResult:
    """Harrell's C of a risk score (higher = worse prognosis) with R's standard error.

    R: ``concordance(Surv(time, status) ~ risk, reverse = TRUE)``; ``se`` is ``sqrt(fit$var)``.

    Parameters
    ----------
    time, event : follow-up time and event indicator (1/True = event, 0/False = censored).
    risk : the risk score, e.g. a Cox linear predictor or a predicted risk at a horizon.
    conf_level : level of the Wald interval ``estimate ± z·se``.
    """
    ctx = "harrell_c"
    t, e, r = survival_arrays(time, event, risk, ctx, event_codes=event_codes)
    _check_not_constant(r, ctx)
    stats = _concordance(t, e, r, np.ones(len(t)))
    return _result(stats, "Harrell's C (R concordance, reverse = TRUE)", None, conf_level, ctx)


def uno_weights(t: np.ndarray, e: np.ndarray, tau: float | None) -> np.ndarray:
    """Uno's time weights 1/G(T−)² per row (events after tau weigh 0), R ``timewt = "n/G2"``."""
    if e.sum() < 2:                 # R falls back to timewt = "n" with a single event
        tw = np.ones(len(t))
    else:
        ut, g = censoring_survival(t, e)
        tw = 1.0 / _g_at(ut, g, t, left=True) ** 2
    if tau is not None:
        tw = np.where(t > tau, 0.0, tw)
    return tw


@frame_form
@positional_deprecated
def uno_c(time, event, risk, *, tau: float | None = None, conf_level: float = 0.95,
          event_codes: tuple = (0, 1)) -> ConcordanceResult:
    """Uno's C (IPCW concordance up to ``tau``) with R's G(t−) convention and standard error.

    R: ``concordance(Surv(time, status) ~ risk, reverse = TRUE, timewt = "n/G2", ymax = tau)``.
    Each event at time t ≤ tau weighs 1/G(t−)² (see the module docstring); ``tau=None`` uses all
    events. The Wald interval uses R's infinitesimal-jackknife SE (censoring weights held fixed).
    """
    ctx = "uno_c"
    t, e, r = survival_arrays(time, event, risk, ctx, event_codes=event_codes)
    _check_not_constant(r, ctx)
    if tau is not None:
        tau = float(tau)
        if not (e & (t <= tau)).any():
            raise StatsInputError(f"uno_c: no event at or before tau = {tau:g} "
                                  f"(first event at {t[e].min():g}); choose a later tau")
    stats = _concordance(t, e, r, uno_weights(t, e, tau))
    return _result(stats, "Uno's C (R concordance, timewt = 'n/G2', G(t-))", tau, conf_level, ctx)


# ----------------------------------------------------------------------------------------------
# time-dependent AUC and Brier score
# ----------------------------------------------------------------------------------------------
def _as_times(times, context: str) -> np.ndarray:
    ts = np.atleast_1d(np.asarray(times, dtype=float))
    if ts.size == 0 or not np.isfinite(ts).all() or (ts < 0).any():
        raise StatsInputError(f"{context}: times must be finite non-negative numbers, got {times!r}")
    return ts


def _horizon_note(t: np.ndarray, e: np.ndarray, s: float) -> str:
    """Reason a horizon has no estimate ('' when it has one)."""
    if not (t > s).any():
        n_cens = int((~e & (t == t.max())).sum())
        return (f"no patient followed beyond t = {s:g} (last follow-up {t.max():g}, "
                f"{n_cens} censored there); "
                "the IPCW estimate is undefined there — use an earlier horizon")
    if not (e & (t <= s)).any():
        return f"no event at or before t = {s:g}"
    return ""


@frame_form
def time_dependent_auc(time, event, risk, times, *, event_codes: tuple = (0, 1)) -> pd.DataFrame:
    """Cumulative/dynamic AUC(t) with Kaplan–Meier IPCW, as ``riskRegression::Score``.

    R: ``Score(list(m = risk_matrix), formula = Surv(time, status) ~ 1, data, times = times,
    metrics = "auc")`` (the ranks of a score are all AUC uses, so a linear predictor or the
    predicted risk at t give the same AUC).

    Cases at t: event at T ≤ t, weight 1/G(T−); controls: T > t, weight 1/G(t) (constant, cancels).
    AUC(t) = Σ_cases Σ_controls w_i [1{risk_i > risk_j} + ½ 1{risk_i = risk_j}] / (Σ w_i · n_controls).

    Returns
    -------
    DataFrame: time, auc, cases, controls, note (the reason when ``auc`` is NA: a horizon with no
    controls — at or after the last follow-up time — or with no cases).
    """
    ctx = "time_dependent_auc"
    t, e, r = survival_arrays(time, event, risk, ctx, event_codes=event_codes)
    if r.ndim != 1:
        raise StatsInputError(f"{ctx}: risk must be one score per patient")
    ts = _as_times(times, ctx)
    ut, g = censoring_survival(t, e)
    w_case_all = 1.0 / _g_at(ut, g, t, left=True)
    rows = []
    for s in ts:                                   # a loop over horizons, not patients
        note = _horizon_note(t, e, s)
        case = e & (t <= s)
        ctrl = t > s
        auc = np.nan
        if not note:
            rc = np.sort(r[ctrl])
            lo = np.searchsorted(rc, r[case], side="left")
            hi = np.searchsorted(rc, r[case], side="right")
            wc = w_case_all[case]
            auc = float(wc @ (lo + (hi - lo) / 2.0) / (wc.sum() * len(rc)))
        rows.append({"time": s, "auc": auc, "cases": int(case.sum()), "controls": int(ctrl.sum()),
                     "note": note})
    out = pd.DataFrame(rows)
    out.attrs["method"] = ("cumulative/dynamic AUC, Kaplan-Meier IPCW (cases 1/G(T-), controls "
                           "1/G(t)); riskRegression::Score(metrics = 'auc')")
    return out


@frame_form
def brier_score(time, event, predicted_risk, times, *, event_codes: tuple = (0, 1)) -> pd.DataFrame:
    """IPCW Brier score of predicted event probabilities at ``times``, as ``riskRegression::Score``.

    ``predicted_risk``: predicted probability of the event by each time — an (n, len(times)) array,
    or one vector when a single time is given. R: ``Score(list(m = predicted_risk), formula =
    Surv(time, status) ~ 1, data, times, metrics = "brier", null.model = FALSE)``.

    BS(t) = 1/n Σ [1{T ≤ t, event} (1 − F(t))² / G(T−) + 1{T > t} F(t)² / G(t)]; patients censored
    at or before t contribute 0 (their weight is carried by the others through G).

    Returns
    -------
    DataFrame: time, brier, note (reason when NA: no patient followed beyond t).
    """
    ctx = "brier_score"
    ts = _as_times(times, ctx)
    p = np.asarray(predicted_risk, dtype=float)
    if p.ndim == 1:
        if len(ts) != 1:
            raise StatsInputError(f"{ctx}: give one column of predicted risk per time "
                                  f"({len(ts)} times, a single vector given)")
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] != len(ts):
        raise StatsInputError(f"{ctx}: predicted_risk must have one column per time "
                              f"(shape {p.shape}, {len(ts)} times)")
    t, e, p = survival_arrays(time, event, p, ctx, risk_name="predicted_risk", event_codes=event_codes)
    if ((p < 0) | (p > 1)).any():
        raise StatsInputError(f"{ctx}: predicted_risk must be probabilities in [0, 1]")
    ut, g = censoring_survival(t, e)
    g_minus = _g_at(ut, g, t, left=True)
    rows = []
    for k, s in enumerate(ts):
        note = _horizon_note(t, e, s)
        if note.startswith("no event"):
            note = ""                              # the Brier score is defined without events
        bs = np.nan
        if not note:
            f = p[:, k]
            case = e & (t <= s)
            ctrl = t > s
            gs = float(_g_at(ut, g, np.array([s]), left=False)[0])
            bs = float((np.sum((1 - f[case]) ** 2 / g_minus[case]) + np.sum(f[ctrl] ** 2) / gs) / len(t))
        rows.append({"time": s, "brier": bs, "note": note})
    out = pd.DataFrame(rows)
    out.attrs["method"] = ("IPCW Brier score, Kaplan-Meier censoring (1/G(T-) for events by t, 1/G(t) "
                           "for those still at risk); riskRegression::Score(metrics = 'brier')")
    return out
