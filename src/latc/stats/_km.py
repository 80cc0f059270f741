"""Kaplan–Meier survival curves that agree with R's ``survival::survfit``.

Rules ported from survival 3.5 (R functions ``survfitKM``, ``survfit_confint``, ``survmean``,
``summary.survfit``):

* the table has one row per distinct time (event or censoring) and group, like
  ``summary(survfit(...), censored = TRUE)``; ``std_err`` is the standard error of S(t);
* the variance is Greenwood's (with case weights: weighted counts) unless ``robust`` — then it is the
  infinitesimal-jackknife (sandwich) variance of S(t), summed over ``cluster`` (each row its own
  cluster when no cluster is given), as ``survfit(..., weights = w, robust = TRUE)`` or
  ``survfit(..., cluster = id)``. R turns ``robust`` on by itself for non-integer weights or a
  cluster; so does :func:`kaplan_meier` when ``robust=None``. lifelines' weighted KM uses the
  Greenwood formula on weighted counts, which is far too narrow for IPTW (DESIGN.md pitfalls);
* confidence intervals: ``conf_type="log"`` (R's default), ``"log-log"`` (lifelines' and SAS's
  default) or ``"plain"``; the upper limit of log and plain is capped at 1;
* the median and its CI follow ``print(survfit)``: the first time the curve (or the CI band) is at or
  below 0.5; when the curve sits exactly at 0.5 until a later drop, the midpoint of the two times; NA
  when the curve never reaches 0.5 (a CI limit that never reaches 0.5 is NA, not the last time).

Not ported: counting-process (start, stop] data and R's ``timefix`` rounding of near-equal times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc._compat import positional_deprecated

from ._errors import StatsInputError, survival_data

__all__ = ["KMResult", "kaplan_meier"]

_CONF_TYPES = ("log", "log-log", "plain")
_TOL = np.sqrt(np.finfo(float).eps)  # R: .Machine$double.eps^0.5


@dataclass
class KMResult:
    """A fitted Kaplan–Meier estimate (one curve per group).

    ``table``: group, time, n_risk, n_event, n_censor, survival, std_err, lower, upper.
    ``medians``: group, n, events, median, lower, upper (R's ``print(survfit)`` rules).
    """

    table: pd.DataFrame
    medians: pd.DataFrame
    conf_type: str
    conf_level: float
    robust: bool
    n_dropped: int = 0
    groups: list = field(default_factory=list)
    landmarks: pd.DataFrame | None = None   # ``at(landmarks)`` when landmarks were given

    @classmethod
    def from_table(cls, table: pd.DataFrame, medians: pd.DataFrame | None = None, *, conf_type: str = "log",
                   conf_level: float = 0.95, robust: bool = False) -> "KMResult":
        """A result rebuilt from its written tables (``table`` and ``medians`` as :func:`kaplan_meier`
        makes them, e.g. read back from ``latc analyze``'s ``km_curves.csv`` / ``km_medians.csv``),
        so a figure draws exactly the curve the analysis estimated without refitting it.

        Columns beyond the result's own (tags such as ``endpoint``) are dropped; groups keep the
        order of their first row.
        """
        need = ["group", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise StatsInputError(f"a Kaplan–Meier table needs the column(s) {', '.join(missing)}")
        tab = table[need].reset_index(drop=True)
        groups = list(pd.unique(tab["group"]))
        if medians is None:
            medians = pd.DataFrame({"group": groups, "n": np.nan, "events": np.nan, "median": np.nan,
                                    "lower": np.nan, "upper": np.nan})
        keep = [c for c in ("group", "n", "events", "median", "lower", "upper") if c in medians.columns]
        return cls(table=tab, medians=medians[keep].reset_index(drop=True), conf_type=conf_type,
                   conf_level=conf_level, robust=robust, groups=groups)

    def at(self, times: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Survival at landmark ``times`` per group, like ``summary(fit, times = times)``.

        The survival (and its SE and CI) is that of the last time ≤ t (1 before the first time);
        ``n_risk`` is the number at risk at t (first tabulated time ≥ t). A landmark after the last
        follow-up time of a group, which R drops, is kept with NaN survival and ``n_risk`` 0.
        """
        times = np.sort(np.asarray(times, dtype=float))
        rows = []
        for g, tab in self.table.groupby("group", sort=False, observed=True):
            t = tab["time"].to_numpy()
            i1 = np.searchsorted(t, times, side="right") - 1      # last row with time <= landmark
            i2 = np.searchsorted(t, times, side="left")           # first row with time >= landmark
            before = i1 < 0
            beyond = times > t[-1]
            out = pd.DataFrame({"group": g, "time": times})
            nr = np.append(tab["n_risk"].to_numpy(), 0.0)
            out["n_risk"] = nr[np.minimum(i2, len(t))]
            for col, start in (("survival", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0)):
                v = tab[col].to_numpy()[np.maximum(i1, 0)]
                v = np.where(before, start, v)
                out[col] = np.where(beyond, np.nan, v)
            rows.append(out)
        return pd.concat(rows, ignore_index=True)

    def risk_table(self, times: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Numbers at risk (and cumulative events) at ``times`` per group, for a plot's risk table."""
        times = np.sort(np.asarray(times, dtype=float))
        rows = []
        for g, tab in self.table.groupby("group", sort=False, observed=True):
            t = tab["time"].to_numpy()
            nr = np.append(tab["n_risk"].to_numpy(), 0.0)
            i2 = np.searchsorted(t, times, side="left")
            cum_events = np.concatenate([[0.0], np.cumsum(tab["n_event"].to_numpy())])
            i1 = np.searchsorted(t, times, side="right")
            rows.append(pd.DataFrame({"group": g, "time": times, "n_risk": nr[i2],
                                      "n_event_cumulative": cum_events[i1]}))
        return pd.concat(rows, ignore_index=True)


def _confint(surv: np.ndarray, se_surv: np.ndarray, conf_type: str, z: float):
    """R ``survfit_confint`` with ``logse = FALSE`` (se of S given) and the usual lower limit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(se_surv == 0, 0.0, se_surv / surv)     # se of log S
        if conf_type == "plain":
            half = se * surv * z
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * se), np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        se2 = z * se / np.log(xx)
        lll = np.log(-np.log(xx))
        return np.exp(-np.exp(lll - se2)), np.exp(-np.exp(lll + se2))


def _first_below_half(y: np.ndarray, x: np.ndarray) -> float:
    """R ``survmean``'s ``minmin``: median time of a curve, with the midpoint rule."""
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return np.nan
    x, y = x[keep], y[keep]
    if abs(y[0] - 0.5) < _TOL:
        lower = np.flatnonzero(y < y[0])
        if len(lower):
            return (x[0] + x[lower[0]]) / 2.0
    return float(x[0])


def _robust_var(time: np.ndarray, event: np.ndarray, w: np.ndarray, cluster: np.ndarray,
                ut: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """Infinitesimal-jackknife variance of log S(t) summed by cluster, at the unique times ``ut``.

    dlogS(t)/dw_i = -Σ_{s≤t} [dN_i(s) − Y_i(s) d(s)/n(s)] / (n(s) − d(s)). A cluster's influence is
    A_c(t) = G(t)·R_c(t) + B_c(t), with G(t) = Σ_{s≤t} d/(n(n−d)), R_c(t) the weight of the cluster
    still at risk after t and B_c(t) = Σ_{members i out by t} w_i [G(T_i) − δ_i/(n(T_i) − d(T_i))].
    Σ_c A_c² is accumulated in time order without a loop over patients.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        g_inc = np.where((n_event > 0) & (n_risk > n_event), n_event / (n_risk * (n_risk - n_event)), 0.0)
        # when everyone left at risk dies, S = 0 there and its influence is 0 (R reports se 0)
        inv_nd = np.where(n_risk > n_event, 1.0 / (n_risk - n_event), 0.0)
    G = np.cumsum(g_inc)
    pos = np.searchsorted(ut, time)                                  # row → its unique time
    b = w * (G[pos] - np.where(event, inv_nd[pos], 0.0))
    # per cluster, rows in time order: cluster values just after each exit
    order = np.lexsort((time, cluster))
    cl, wt, bt, pt = cluster[order], w[order], b[order], pos[order]
    first = np.r_[True, cl[1:] != cl[:-1]]
    start = np.flatnonzero(first)
    seg = np.cumsum(first) - 1
    cw = np.cumsum(wt)
    cb = np.cumsum(bt)
    base_w = np.r_[0.0, cw][start][seg]
    base_b = np.r_[0.0, cb][start][seg]
    total_w = np.add.reduceat(wt, start)[seg]
    r_after = total_w - (cw - base_w)
    b_after = cb - base_b
    r_before = np.where(first, total_w, np.r_[0.0, r_after[:-1]])
    b_before = np.where(first, 0.0, np.r_[0.0, b_after[:-1]])
    m = len(ut)
    d_rr = np.bincount(pt, r_after**2 - r_before**2, minlength=m)
    d_rb = np.bincount(pt, r_after * b_after - r_before * b_before, minlength=m)
    d_bb = np.bincount(pt, b_after**2 - b_before**2, minlength=m)
    rr = np.add.reduceat(wt, start) @ np.add.reduceat(wt, start) + np.cumsum(d_rr)
    rb = np.cumsum(d_rb)
    bb = np.cumsum(d_bb)
    var = G**2 * rr + 2 * G * rb + bb        # Σ_c (G R_c + B_c)²
    return np.maximum(var, 0.0)


@positional_deprecated
def kaplan_meier(df: pd.DataFrame, time: str, event: str, group: str | None = None,
                 *, conf_type: str = "log", conf_level: float = 0.95, weights: str | None = None,
                 cluster: str | None = None, landmarks: Sequence[float] | None = None,
                 robust: bool | None = None, missing: str = "error", event_codes: tuple = (0, 1)) -> KMResult:
    """Kaplan–Meier estimate by group, agreeing with R ``survfit(Surv(time, event) ~ group)``.

    Parameters
    ----------
    df : one row per patient.
    time, event : follow-up time and event indicator (1/True = event, 0/False = censored).
    group : optional column; one curve per level (categorical order if categorical, else sorted).
    conf_type : ``"log"`` (R's default), ``"log-log"`` or ``"plain"``.
    conf_level : confidence level of the pointwise intervals and the median CI.
    weights : optional case-weight column (e.g. IPTW). Non-integer weights switch ``robust`` on.
    cluster : optional cluster column (e.g. patient id with repeated rows, or center) for the
        robust variance; implies ``robust``.
    landmarks : optional times; the survival there is stored as ``result.landmarks``.
    robust : force the infinitesimal-jackknife variance on/off; ``None`` = R's default (on with a
        cluster or non-integer weights).
    missing : ``"error"`` (default) or ``"drop"`` (complete cases with a warning).
    event_codes : (censored, event) codes of ``event``; default (0, 1), ``(1, 2)`` for R's status.

    Returns
    -------
    KMResult with ``table``, ``medians``, ``at(times)``, ``risk_table(times)``.
    """
    if conf_type not in _CONF_TYPES:
        raise StatsInputError(f"conf_type must be one of {_CONF_TYPES}, not {conf_type!r}")
    if not 0 < conf_level < 1:
        raise StatsInputError(f"conf_level must be between 0 and 1, not {conf_level!r}")
    cols = [c for c in (group, cluster) if c is not None]
    data = survival_data(df, time, event, columns=cols, weights=weights, missing=missing,
                         context="kaplan_meier", event_codes=event_codes)
    w = data.weights
    if robust is None:
        robust = cluster is not None or bool(np.any(w != np.floor(w)))
    if cluster is not None and not robust:
        raise StatsInputError("cluster given with robust=False; the cluster is only used by the robust variance")
    if group is None:
        gcodes = np.zeros(len(w), dtype=np.int64)
        levels = ["all"]
    else:
        gser = data.frame[group]
        cat = gser if isinstance(gser.dtype, pd.CategoricalDtype) else pd.Categorical(gser)
        cat = pd.Categorical(cat)
        cat = cat.remove_unused_categories()
        gcodes = np.asarray(cat.codes, dtype=np.int64)
        levels = list(cat.categories)
    if robust:
        if cluster is None:
            ccodes = np.arange(len(w))
        else:
            ccodes = pd.factorize(data.frame[cluster])[0]
    z = float(norm.ppf(1 - (1 - conf_level) / 2))

    tables, medians = [], []
    for gi, level in enumerate(levels):
        sel = gcodes == gi
        t, e, wi = data.time[sel], data.event[sel], w[sel]
        ut, inv = np.unique(t, return_inverse=True)
        d = np.bincount(inv, wi * e, minlength=len(ut))
        c = np.bincount(inv, wi * ~e, minlength=len(ut))
        n = np.cumsum((d + c)[::-1])[::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(np.where(d > 0, 1.0 - d / n, 1.0))
            if robust:
                var_log = _robust_var(t, e, wi, ccodes[sel], ut, n, d)
                se_surv = surv * np.sqrt(var_log)
            else:
                inc = np.where(d > 0, d / (n * (n - d)), 0.0)
                se_surv = surv * np.sqrt(np.cumsum(inc))
        lower, upper = _confint(surv, se_surv, conf_type, z)
        tables.append(pd.DataFrame({"group": level, "time": ut, "n_risk": n, "n_event": d,
                                    "n_censor": c, "survival": surv, "std_err": se_surv,
                                    "lower": lower, "upper": upper}))
        medians.append({"group": level, "n": int(sel.sum()), "events": float(d.sum()),
                        "median": _first_below_half(surv, ut),
                        "lower": _first_below_half(lower, ut),
                        "upper": _first_below_half(upper, ut)})
    table = pd.concat(tables, ignore_index=True)
    result = KMResult(table=table, medians=pd.DataFrame(medians), conf_type=conf_type,
                      conf_level=conf_level, robust=bool(robust), n_dropped=data.n_dropped,
                      groups=levels)
    if landmarks is not None:
        result.landmarks = result.at(landmarks)
    return result
