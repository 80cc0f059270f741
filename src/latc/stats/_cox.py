"""Cox proportional-hazards regression that agrees with R's ``survival::coxph``.

The partial likelihood is implemented here in vectorised numpy (no wrapper: statsmodels' PHReg
ignores case weights and lifelines has Efron ties only — DESIGN.md "Known pitfalls").

* ties: Efron (R's default) or Breslow; with case weights, each of the d Efron sub-steps at a tied
  time carries the mean weight of the d deaths, as in R's ``coxfit6``;
* strata: separate baseline hazards, risk sets within stratum;
* Newton–Raphson from β = 0 with R's stopping rule (|1 − ℓ_old/ℓ_new| ≤ 1e−9, at most 20
  iterations, step halving when the likelihood falls), so iterates match R's;
* variance: inverse information; ``robust`` adds the sandwich from dfbeta residuals summed by
  ``cluster`` (each row its own cluster without one), as ``coxph(..., robust = TRUE)`` /
  ``cluster = id``; R turns ``robust`` on by itself with a cluster or non-integer weights, and so
  does :func:`cox` with ``robust=None``;
* tests: likelihood ratio, Wald (robust variance when robust, as R), score (at β = 0);
* concordance: Harrell's C as R's ``concordance(fit)`` (pairs within strata, a censored time tied
  with an event time counts as longer, ties in the linear predictor count ½, pair weight wᵢwⱼ).

Covariates may be numeric, boolean (0/1) or categorical (pandas categorical → its category order;
strings → sorted levels); categorical ones get treatment contrasts with the first level as
reference, like R's default ``contr.treatment``. Coefficients are named ``column[level]``.
Counting-process (start, stop] data: ``cox(..., start=)``. Not ported: ``tt()`` terms, R's ``timefix``
rounding of near-equal times. Shared frailty (R's ``+ frailty(center)``) is :func:`latc.stats.frailty_cox`
(``_frailty.py``, a penalized fit on these risk sets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc._compat import keyword_hint, positional_deprecated

from ._errors import StatsInputError, survival_data

__all__ = ["CoxResult", "cox"]

_EPS = 1e-9                 # R coxph.control(eps)
_ITER_MAX = 20              # R coxph.control(iter.max)
_TOLER_INF = np.sqrt(_EPS)  # R coxph.control(toler.inf)


# ----------------------------------------------------------------------------------------------
# design matrix
# ----------------------------------------------------------------------------------------------
def _contrast_categorical(s: pd.Series) -> pd.Categorical | None:
    """A covariate coded by treatment contrasts (categorical, or neither numeric nor boolean) as a
    Categorical of the levels present (category order; sorted for text), reference first; None
    for a numeric or boolean covariate (one model column)."""
    if isinstance(s.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        cat = s if isinstance(s.dtype, pd.CategoricalDtype) else pd.Categorical(s)
        return pd.Categorical(cat).remove_unused_categories()
    return None


def design_matrix(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], dict[str, list[int]]]:
    """Model matrix with treatment contrasts; returns (X, column names, term → column indices)."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    terms: dict[str, list[int]] = {}
    for cov in covariates:
        s = frame[cov]
        cat = _contrast_categorical(s)
        if cat is not None:
            levels = list(cat.categories)
            if len(levels) < 2:
                raise StatsInputError(f"cox: covariate '{cov}' has a single level ({levels[0]!r}) "
                                      "in the analysed rows; it cannot be estimated")
            codes = np.asarray(cat.codes)
            idx = []
            for j, lev in enumerate(levels[1:], start=1):
                idx.append(len(names))
                cols.append((codes == j).astype(float))
                names.append(f"{cov}[{lev}]")
            terms[cov] = idx
        else:
            v = s.to_numpy(dtype=float)
            if np.ptp(v) == 0:
                raise StatsInputError(f"cox: covariate '{cov}' is constant ({v[0]!r}) in the analysed "
                                      "rows; its coefficient is not estimable")
            terms[cov] = [len(names)]
            cols.append(v)
            names.append(cov)
    X = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    # aliased columns (R gives NA coefficients): refuse, naming them
    Xc = X - X.mean(axis=0)
    if X.shape[1] <= 1 or np.linalg.matrix_rank(Xc) == X.shape[1]:
        return X, names, terms
    for j in range(1, X.shape[1]):
        if np.linalg.matrix_rank(Xc[:, : j + 1]) <= j and np.linalg.matrix_rank(Xc[:, :j]) == j:
            raise StatsInputError(f"cox: covariate column '{names[j]}' is a linear combination of "
                                  f"{names[:j]} (collinear); remove one of them")
    return X, names, terms


# ----------------------------------------------------------------------------------------------
# risk sets: everything that depends on the data but not on β
# ----------------------------------------------------------------------------------------------
class RiskSets:
    """Sorted data, tied-time groups within strata and the Efron/Breslow sub-steps (internal)."""

    def __init__(self, time: np.ndarray, event: np.ndarray, weights: np.ndarray,
                 strata: np.ndarray, ties: str, entry: np.ndarray | None = None) -> None:
        self.order = np.lexsort((time, strata))                  # stratum, then time ascending
        t, e, w, s = time[self.order], event[self.order], weights[self.order], strata[self.order]
        self.time, self.event, self.weights, self.strata = t, e, w, s
        new = np.r_[True, (t[1:] != t[:-1]) | (s[1:] != s[:-1])]
        self.tgroup = np.cumsum(new) - 1                          # row → (stratum, time) group
        self.gstart = np.flatnonzero(new)
        ng = len(self.gstart)
        self.gstrat = s[self.gstart]
        self.gtime = t[self.gstart]
        # last group of each stratum (for reverse cumulative sums within stratum)
        slast = np.r_[self.gstrat[1:] != self.gstrat[:-1], True]
        self.gstrat_end = np.minimum.accumulate(np.where(slast, np.arange(ng), ng)[::-1])[::-1]
        sfirst = np.r_[True, self.gstrat[1:] != self.gstrat[:-1]]
        self.gstrat_start = np.maximum.accumulate(np.where(sfirst, np.arange(ng), 0))
        d = np.bincount(self.tgroup, e.astype(float), minlength=ng).astype(np.int64)
        self.deaths = d
        self.dweight = np.bincount(self.tgroup, w * e, minlength=ng)
        # sub-steps: d per group with deaths
        self.step_group = np.repeat(np.arange(ng), d)
        k = np.arange(len(self.step_group)) - np.repeat(np.cumsum(d) - d, d)
        self.step_frac = k / np.repeat(d, d) if ties == "efron" else np.zeros(len(k))
        self.step_meanwt = np.repeat(np.where(d > 0, self.dweight / np.maximum(d, 1), 0.0), d)
        self.n_groups = ng
        # counting-process (start, stop] data: a row is at risk at t when start < t ≤ stop. The sums
        # over "stop ≥ t" then lose the rows with start ≥ t: each row is taken out of every group
        # up to the last one (of its stratum) whose time is ≤ its start (``entry_group``; -1: none)
        self.entry_group = None
        if entry is not None:
            st = entry[self.order]
            eg = np.full(len(st), -1, dtype=np.int64)
            firsts = np.flatnonzero(np.r_[True, self.gstrat[1:] != self.gstrat[:-1]])
            for a, b in zip(firsts, np.r_[firsts[1:], ng]):
                rows = s == self.gstrat[a]
                k = a + np.searchsorted(self.gtime[a:b], st[rows], side="right") - 1
                eg[rows] = np.where(k >= a, k, -1)
            self.entry_group = eg

    def _rev_cumsum(self, a: np.ndarray) -> np.ndarray:
        """Σ over groups g' ≥ g within the same stratum (a indexed by group in the first axis)."""
        c = np.cumsum(a[::-1], axis=0)[::-1]
        nxt = self.gstrat_end + 1
        tail = np.concatenate([c, np.zeros((1,) + a.shape[1:])], axis=0)[nxt]
        return c - tail

    def steps(self, X: np.ndarray, beta: np.ndarray, offset: np.ndarray | None = None) -> dict:
        """Per-step S0 and x̄ (Efron-reduced risk sets), the linear predictor and risk weights.

        ``offset`` (rows in sorted order) is added to Xβ — e.g. the cluster frailties of
        :func:`latc.stats.frailty_cox`."""
        eta = X @ beta if offset is None else X @ beta + offset
        eta = eta - eta.max() if len(eta) else eta      # the likelihood is invariant to the shift
        r = np.exp(eta)
        wr = self.weights * r
        ng = self.n_groups
        ev = self.event
        a0 = np.bincount(self.tgroup, wr, minlength=ng)
        d0 = np.bincount(self.tgroup, wr * ev, minlength=ng)
        wrx = wr[:, None] * X
        a1 = _group_sum(wrx, self.gstart)
        d1 = _group_sum(wrx * ev[:, None], self.gstart)
        S0 = self._rev_cumsum(a0)
        S1 = self._rev_cumsum(a1)
        if self.entry_group is not None:  # (start, stop]: take out the rows not yet entered
            eg = self.entry_group
            has = eg >= 0
            S0 = S0 - self._rev_cumsum(np.bincount(eg[has], wr[has], minlength=ng))
            S1 = S1 - self._rev_cumsum(_scatter(eg[has], wrx[has], ng))
        sg, fr = self.step_group, self.step_frac
        s0 = S0[sg] - fr * d0[sg]
        s1 = S1[sg] - fr[:, None] * d1[sg]
        xbar = s1 / s0[:, None]
        return {"eta": eta, "r": r, "wr": wr, "s0": s0, "xbar": xbar}

    def information(self, X: np.ndarray, st: dict, factor: np.ndarray | None = None) -> np.ndarray:
        """Σ_steps meanwt · f · V_step, V the weighted covariance of x in the (Efron) risk set.

        Computed as Xᵀ diag(wr·c) X − Σ meanwt·f·x̄x̄ᵀ, with c_i the cumulative Σ meanwt·f/S0 over
        the steps row i is at risk for (deaths at their own time down-weighted by the Efron
        fraction), so no n × p × p array is formed. ``factor`` f defaults to 1 (cox.zph uses g, g²).
        """
        mw = self.step_meanwt if factor is None else self.step_meanwt * factor
        c = mw / st["s0"]
        ng = self.n_groups
        cg = np.bincount(self.step_group, c, minlength=ng)
        cgf = np.bincount(self.step_group, c * self.step_frac, minlength=ng)
        C = _cum_within(cg, self.gstrat_start)
        g = self.tgroup
        row_w = st["wr"] * (C[g] - self._before_entry(C) - self.event * cgf[g])
        xbar = st["xbar"]
        return (X * row_w[:, None]).T @ X - (xbar * mw[:, None]).T @ xbar

    def _before_entry(self, cum: np.ndarray) -> np.ndarray | float:
        """Per row, the cumulative sum (over groups, within stratum) up to its entry group — the
        part of ``cum`` at times it was not yet at risk; 0 without (start, stop] data."""
        if self.entry_group is None:
            return 0.0
        eg = self.entry_group
        out = np.zeros((len(eg),) + cum.shape[1:])
        has = eg >= 0
        out[has] = cum[eg[has]]
        return out

    def loglik_score_info(self, X: np.ndarray, beta: np.ndarray):
        st = self.steps(X, beta)
        w, ev, mw = self.weights, self.event, self.step_meanwt
        loglik = float(np.sum((w * st["eta"])[ev]) - np.sum(mw * np.log(st["s0"])))
        u = (w[ev, None] * X[ev]).sum(axis=0) - (mw[:, None] * st["xbar"]).sum(axis=0)
        imat = self.information(X, st)
        return loglik, u, imat, st

    def score_residuals(self, X: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Per-row score residuals (unit weight), in the original row order (R ``coxscore``)."""
        st = self.steps(X, beta)
        ng = self.n_groups
        h = self.step_meanwt / st["s0"]
        hx = h[:, None] * st["xbar"]
        sg, fr = self.step_group, self.step_frac
        H = np.bincount(sg, h, minlength=ng)
        HX = _scatter(sg, hx, ng)
        Hf = np.bincount(sg, fr * h, minlength=ng)
        HXf = _scatter(sg, fr[:, None] * hx, ng)
        dcount = np.maximum(self.deaths, 1)
        XB = _scatter(sg, st["xbar"], ng) / dcount[:, None]
        # cumulative over groups within stratum, time ascending
        cH = _cum_within(H, self.gstrat_start)
        cHX = _cum_within(HX, self.gstrat_start)
        cH = cH[self.tgroup] - self._before_entry(cH)
        cHX = cHX[self.tgroup] - self._before_entry(cHX)
        g = self.tgroup
        ev = self.event.astype(float)[:, None]
        r = st["r"][:, None]
        resid = (ev * (X - XB[g]) - r * (X * cH[:, None] - cHX)
                 + ev * r * (X * Hf[g][:, None] - HXf[g]))
        out = np.empty_like(resid)
        out[self.order] = resid
        return out


def _group_sum(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if a.shape[0] == 0 or (a.ndim > 1 and a.shape[1] == 0):
        return np.zeros((len(starts),) + a.shape[1:])
    return np.add.reduceat(a, starts, axis=0)


def _scatter(idx: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + vals.shape[1:])
    np.add.at(out, idx, vals)
    return out


def _cum_within(a: np.ndarray, gstart: np.ndarray) -> np.ndarray:
    """Cumulative sum over groups restarting at each stratum (gstart: first group of the stratum)."""
    c = np.cumsum(a, axis=0)
    before = np.concatenate([np.zeros((1,) + a.shape[1:]), c], axis=0)[gstart]
    return c - before


# ----------------------------------------------------------------------------------------------
# concordance
# ----------------------------------------------------------------------------------------------
def _prefix_weight_below(vals: np.ndarray, w: np.ndarray, q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """For each query (q, v): Σ w_j over positions j < q with vals_j < v (merge-sort tree, vectorised)."""
    n = len(vals)
    res = np.zeros(len(q))
    if n == 0:
        return res
    m = int(vals.max()) + 2
    pos = np.arange(n)
    o = pos
    for k in range(int(np.ceil(np.log2(max(n, 2)))) + 1):
        key = (pos >> k) * m + vals
        # the previous level's order is made of sorted runs: timsort merges them in ~linear time
        o = o[np.argsort(key[o], kind="stable")]
        has = ((q >> k) & 1) == 1
        if not has.any():
            continue
        ks = key[o]
        cw = np.r_[0.0, np.cumsum(w[o])]
        qb = (q[has] >> (k + 1)) << 1
        lo = np.searchsorted(ks, qb * m, side="left")
        hi = np.searchsorted(ks, qb * m + v[has], side="left")
        res[has] += cw[hi] - cw[lo]
    return res


def concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, strata: np.ndarray,
                weights: np.ndarray) -> dict[str, float]:
    """Harrell's C of a risk score (higher = earlier event), R ``concordance(fit)`` conventions."""
    # sort: stratum, time descending, censored before events at a tied time
    order = np.lexsort((event.astype(int), -time, strata))
    t, e, s, w = time[order], event[order], strata[order], weights[order]
    rank = np.unique(risk[order], return_inverse=True)[1].astype(np.int64)
    n = len(t)
    pos = np.arange(n)
    sfirst = np.r_[True, s[1:] != s[:-1]]
    s_start = np.maximum.accumulate(np.where(sfirst, pos, 0))
    # first event row of each (stratum, time) block among events
    blk_new = np.r_[True, (t[1:] != t[:-1]) | (s[1:] != s[:-1]) | (e[1:] != e[:-1])]
    blk_start = np.maximum.accumulate(np.where(blk_new, pos, 0))
    ev = np.flatnonzero(e)
    q = blk_start[ev]
    st = s_start[ev]
    v = rank[ev]
    m = len(ev)
    res = _prefix_weight_below(rank, w, np.r_[q, st, q, st], np.r_[v, v, v + 1, v + 1])
    less = res[:m] - res[m:2 * m]
    leq = res[2 * m:3 * m] - res[3 * m:]
    cw = np.r_[0.0, np.cumsum(w)]
    total = cw[q] - cw[st]
    we = w[ev]
    conc = float(we @ less)
    tied = float(we @ (leq - less))
    disc = float(we @ (total - leq))
    denom = conc + disc + tied
    c = (conc + tied / 2) / denom if denom > 0 else np.nan
    return {"concordant": conc, "discordant": disc, "tied_x": tied, "concordance": c}


# ----------------------------------------------------------------------------------------------
# the fit
# ----------------------------------------------------------------------------------------------
@dataclass
class CoxResult:
    """A fitted Cox model. ``summary`` is indexed by coefficient name."""

    summary: pd.DataFrame
    loglik: tuple[float, float]
    lr_test: dict
    wald_test: dict
    score_test: dict
    concordance: float
    concordance_counts: dict
    n: int
    events: int
    coef: np.ndarray
    var: np.ndarray
    naive_var: np.ndarray
    robust: bool
    ties: str
    iterations: int
    terms: dict[str, list[int]]
    names: list[str]
    strata: list[str]
    # what cox_zph needs (model matrix, sorted risk sets, fitted linear predictor); cox() sets them all
    _X: np.ndarray = field(repr=False)
    _risk: RiskSets = field(repr=False)
    _time: np.ndarray = field(repr=False)
    _event: np.ndarray = field(repr=False)
    # what predict() needs: the covariates, each categorical's levels (reference first) and the
    # model matrix's column means (R's fit$means: the linear predictor is centred on them)
    _covariates: list = field(repr=False)
    _levels: dict = field(repr=False)
    _means: np.ndarray = field(repr=False)
    _center: np.ndarray = field(repr=False)   # the centring of _X (plain column means)
    n_dropped: int = 0
    counting_process: bool = False
    _weighted: bool = field(default=False, repr=False)

    @property
    def hazard_ratios(self) -> pd.Series:
        return self.summary["exp_coef"]

    @property
    def concordance_se(self) -> float:
        """Standard error of :attr:`concordance`, as R prints it after a fit ("Concordance= 0.64
        (se = 0.025)", ``fit$concordance["std"]``): the infinitesimal-jackknife SE of Harrell's C of
        the linear predictor (:func:`latc.stats.harrell_c`). For unstratified, unweighted,
        right-censored fits; NaN otherwise (R's stratified and weighted variance is not ported)."""
        if self.strata or self._weighted or self.counting_process or self._X is None:
            return float("nan")
        from ._discrimination import harrell_c  # (imports this module)

        order = self._risk.order  # _X holds the model matrix in risk-set order
        return float(harrell_c(self._time[order], self._event[order], self._X @ self.coef).se)

    @keyword_hint
    def predict(self, newdata: pd.DataFrame, *, type: str = "lp", times=None) -> pd.Series | pd.DataFrame:
        """Predictions for the rows of ``newdata``, as R's ``predict.coxph`` / ``survfit.coxph``.

        ``type="lp"``: the linear predictor (x − x̄)·β̂, centred like R's ``predict(fit, newdata,
        type = "lp")`` on R's ``fit$means`` (the weighted mean of a numeric covariate, 0 for the
        indicator columns of a categorical or boolean one); ``"risk"``: exp(lp) (R ``type = "risk"``);
        ``"survival"``: S(t | x) at ``times`` — the baseline cumulative hazard of the fit (Efron or
        Breslow increments, as the fit's ties, R's ``survfit(fit, newdata)``) times exp(lp); a
        DataFrame with one row per ``newdata`` row and one column per time. Categorical covariates
        are coded with the fit's levels (a level the fit did not see is refused). Unstratified,
        right-censored fits only for ``"survival"``.
        """
        if type not in ("lp", "risk", "survival"):
            raise StatsInputError(f"predict: type must be 'lp', 'risk' or 'survival', not {type!r}")
        X = _encode(newdata, self._covariates, self._levels)
        lp = pd.Series((X - self._means) @ self.coef, index=newdata.index, name="lp")
        if type == "lp":
            return lp
        if type == "risk":
            return np.exp(lp).rename("risk")
        if self.strata or self.counting_process:
            raise StatsInputError("predict(type='survival'): stratified and (start, stop] fits are not supported yet")
        if times is None:
            raise StatsInputError("predict(type='survival') needs times=, e.g. [12, 24, 36]")
        t = np.atleast_1d(np.asarray(times, dtype=float))
        risk = self._risk
        eta = self._X @ self.coef
        st = risk.steps(self._X, self.coef)
        # S0 at the reference point x̄ (R's means): steps() centred X on _center and shifted eta by its max
        s0 = st["s0"] * np.exp(eta.max() + (self._center - self._means) @ self.coef)
        step_time = risk.gtime[risk.step_group]
        cum = np.cumsum(risk.step_meanwt / s0)
        k = np.searchsorted(step_time, t, side="right")
        H0 = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
        surv = np.exp(-np.outer(np.exp(lp.to_numpy()), H0))
        return pd.DataFrame(surv, index=newdata.index, columns=pd.Index(t, name="time"))


def _fit_levels(frame: pd.DataFrame, covariates: Sequence[str]) -> dict[str, list]:
    """The levels (reference first) design_matrix gave each categorical covariate."""
    cats = {cov: _contrast_categorical(frame[cov]) for cov in covariates}
    return {cov: list(cat.categories) for cov, cat in cats.items() if cat is not None}


def _r_means(frame: pd.DataFrame, covariates: Sequence[str], levels: dict, terms: dict, X: np.ndarray,
             w: np.ndarray) -> np.ndarray:
    """R's coxph ``fit$means``: the weighted mean of each numeric column, 0 for the indicator
    columns of categorical (``levels``) and boolean covariates."""
    m = np.zeros(X.shape[1])
    for cov in covariates:
        if cov in levels or pd.api.types.is_bool_dtype(frame[cov]):
            continue
        j = terms[cov][0]
        m[j] = np.average(X[:, j], weights=w)
    return m


def _encode(newdata: pd.DataFrame, covariates: Sequence[str], levels: dict[str, list]) -> np.ndarray:
    """New rows coded as the fit's model matrix (treatment contrasts on the fit's levels)."""
    if not isinstance(newdata, pd.DataFrame):
        raise StatsInputError(f"predict: newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    absent = [c for c in covariates if c not in newdata.columns]
    if absent:
        raise StatsInputError(f"predict: newdata lacks the covariate(s) {absent}")
    cols = []
    for cov in covariates:
        s = newdata[cov]
        if s.isna().any():
            raise StatsInputError(f"predict: covariate '{cov}' is missing in row {s.index[s.isna().to_numpy()][0]!r}")
        if cov in levels:
            lev = levels[cov]
            txt = s.astype(object).to_numpy()
            known = {v: i for i, v in enumerate(lev)}
            codes = np.array([known.get(v, -1) for v in txt])
            if (codes < 0).any():
                bad = txt[codes < 0][0]
                raise StatsInputError(f"predict: covariate '{cov}' has level {bad!r}, which the fit did not see "
                                      f"(levels {lev})")
            cols += [(codes == j).astype(float) for j in range(1, len(lev))]
        else:
            cols.append(pd.to_numeric(s).to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.empty((len(newdata), 0))


def _entry_times(data, start: str, time: str) -> np.ndarray:
    """The ``start`` column as floats, each before its row's stop time (R: "Stop time must be > start
    time")."""
    col = data.frame[start]
    entry = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(entry))
    if len(bad):
        raise StatsInputError(f"cox: start column '{start}' must hold finite numbers; row {col.index[bad[0]]} "
                              f"holds {col.iloc[bad[0]]!r}")
    bad = np.flatnonzero(entry >= data.time)
    if len(bad):
        i = bad[0]
        raise StatsInputError(f"cox: each row's start must be before its stop ('{start}' < '{time}'); row "
                              f"{col.index[i]} has {entry[i]:g} ≥ {data.time[i]:g} ({len(bad)} such row(s))")
    return entry


def _test(stat: float, dof: int) -> dict:
    return {"chisq": float(stat), "df": int(dof), "p": float(chi2.sf(stat, dof))}


@dataclass(frozen=True)
class NewtonFit:
    """Result of :func:`coxfit_newton`: β̂ and ℓ(β̂), ℓ(0), score U and information I at β̂, the score
    test statistic at 0, whether it converged and the iterations used."""

    beta: np.ndarray
    loglik: float
    loglik0: float
    score: np.ndarray
    information: np.ndarray
    score_stat: float
    converged: bool
    iterations: int


def coxfit_newton(evaluate, p: int, *, singular_start=None) -> NewtonFit:
    """R ``coxfit6``'s Newton–Raphson with step-halving on ``evaluate(beta) -> (ℓ, U, I)``, from β = 0.

    Converged when |1 − ℓ_old/ℓ_new| ≤ 1e-9 after a full (not halved) step; a non-finite or lower
    ℓ halves the step. Shared by :func:`cox` and the federated coordinator (``latc.federated``),
    whose ``evaluate`` sums the sites' (ℓ, U, I). A singular information at 0 raises
    ``singular_start()`` when given (the caller's worded error), else ``np.linalg.LinAlgError``."""
    beta = np.zeros(p)
    loglik0, u, imat = evaluate(beta)
    try:
        step = np.linalg.solve(imat, u)
    except np.linalg.LinAlgError:
        if singular_start is None:
            raise
        raise singular_start() from None
    score_stat = float(u @ step)
    loglik = loglik0
    newbeta = beta + step
    halving = converged = False
    it = 0
    for it in range(1, _ITER_MAX + 1):
        newlk, u, imat = evaluate(newbeta)
        if abs(1 - loglik / newlk) <= _EPS and not halving:
            converged = True
            break
        if it == _ITER_MAX:
            break
        if not np.isfinite(newlk) or newlk < loglik:
            halving = True
            newbeta = (newbeta + beta) / 2
        else:
            halving = False
            loglik = newlk
            beta = newbeta
            newbeta = newbeta + np.linalg.solve(imat, u)
    return NewtonFit(newbeta, float(newlk), float(loglik0), u, imat, score_stat, converged, it)


def _newton(X: np.ndarray, names: list[str], risk: RiskSets) -> tuple[np.ndarray, NewtonFit, np.ndarray]:
    """R coxfit6 on the model matrix ``X`` and risk sets ``risk``: the centred matrix in risk-set
    order, the Newton fit and the model-based variance I⁻¹; :class:`StatsInputError` for a singular
    information, no convergence or an infinite coefficient (shared by :func:`cox` and
    :func:`cox_coef`, so both give the same bits)."""
    p = X.shape[1]
    Xs = (X - X.mean(axis=0))[risk.order]      # centring changes nothing but the rounding
    # a diverging step (overflow of exp(eta), an empty weighted risk set) gives a non-finite
    # log-likelihood that step-halving handles, as R's coxfit6 does silently; non-convergence is
    # reported below as a StatsInputError, so numpy's floating-point warnings are only noise here
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fit = coxfit_newton(lambda b: risk.loglik_score_info(Xs, b)[:3], p, singular_start=lambda: StatsInputError(
            f"cox: information matrix singular at start; check covariates {names}"))
    beta, u = fit.beta, fit.score
    try:
        var = np.linalg.inv(fit.information)
    except np.linalg.LinAlgError:
        raise StatsInputError(f"cox: information matrix singular at the estimate; check covariates {names}") from None
    infs = np.abs(u @ var)
    if not fit.converged:
        bad = [names[j] for j in np.flatnonzero(~np.isfinite(infs) | (infs > _EPS))]
        raise StatsInputError(f"cox: Newton–Raphson did not converge in {_ITER_MAX} iterations; "
                              f"coefficient(s) {bad or names} may be infinite (monotone likelihood)")
    infinite = ~np.isfinite(u) | ((infs > _EPS) & (infs > _TOLER_INF * np.abs(beta)))
    if infinite.any():
        bad = [names[j] for j in np.flatnonzero(infinite)]
        raise StatsInputError(
            f"cox: the likelihood converged before coefficient(s) {bad}: the estimate is infinite "
            "(monotone likelihood — e.g. no events in one level, or perfect separation); "
            "collapse levels or drop the covariate")
    return Xs, fit, var


def cox_coef(time: np.ndarray, event: np.ndarray, X: np.ndarray, names: list[str], *,
             ties: str = "efron") -> np.ndarray:
    """β̂ of an unweighted, unstratified Cox model on a numeric model matrix ``X`` — the same bits as
    ``cox(df, time, event, names).coef`` when ``X`` holds ``df``'s numeric covariate columns, without
    the summary, variance, concordance and data checks (for resampling: bootstrap refits and
    calibration slopes, ~8× faster). ``event`` is boolean. Raises :class:`StatsInputError` as
    :func:`cox` does for a model that cannot be estimated."""
    if not event.any():
        raise StatsInputError("cox: no events; the model is undefined")
    risk = RiskSets(time, event, np.ones(len(time)), np.zeros(len(time), dtype=np.int64), ties)
    return _newton(X, names, risk)[1].beta


@positional_deprecated
def cox(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
        *, strata: str | Sequence[str] | None = None, weights: str | None = None,
        cluster: str | None = None, robust: bool | None = None, ties: str = "efron",
        conf_level: float = 0.95, missing: str = "error", start: str | None = None,
        event_codes: tuple = (0, 1)) -> CoxResult:
    """Fit a Cox model, agreeing with R ``coxph(Surv(time, event) ~ covariates + strata(...),
    weights = , cluster = , robust = , ties = )``, or with ``start`` R's counting-process form
    ``coxph(Surv(start, time, event) ~ …)``.

    Parameters
    ----------
    covariates : column names (numeric, boolean or categorical — treatment contrasts).
    strata : column(s) defining separate baseline hazards (R ``strata()``).
    weights : case-weight column (e.g. IPTW or overlap weights).
    cluster : cluster column (e.g. ``center_id``) for the cluster-robust sandwich variance.
    robust : sandwich variance on/off; ``None`` = R's default (on with a cluster or non-integer
        weights).
    ties : ``"efron"`` (R's default) or ``"breslow"``.
    missing : ``"error"`` (default) or ``"drop"`` (complete cases, with a warning, like R's na.omit).
    start : counting-process data: the column of each row's entry time; the row is at risk on
        (start, time] — several rows per patient carry time-varying covariates (e.g. surgery as an
        exposure that starts when it happens, not at enrollment: no immortal time), or a delayed
        entry (left truncation). Give ``cluster`` = the patient id for a robust SE per patient, as R's
        ``cluster(id)``. The concordance is not computed for such fits (NaN).
    event_codes : (censored, event) codes of ``event``; default (0, 1), ``(1, 2)`` for R's status.

    Raises
    ------
    StatsInputError for no events, a constant or collinear covariate, a monotone likelihood (an
    infinite coefficient, e.g. perfect separation), missing values (unless ``missing="drop"``).
    """
    if ties not in ("efron", "breslow"):
        raise StatsInputError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("cox: give at least one covariate")
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    extra = covariates + strata_cols + ([cluster] if cluster else []) + ([start] if start else [])
    data = survival_data(df, time, event, columns=extra, weights=weights, missing=missing,
                         context="cox", event_codes=event_codes)
    entry = None if start is None else _entry_times(data, start, time)
    w = data.weights
    if robust is None:
        robust = cluster is not None or bool(np.any(w != np.floor(w)))
    if cluster is not None and not robust:
        raise StatsInputError("cox: cluster given with robust=False; the cluster is only used by "
                              "the robust variance")
    if not data.event.any():
        raise StatsInputError(f"cox: no events in '{event}' among {len(w)} rows; the model is undefined")
    X, names, terms = design_matrix(data.frame, covariates)
    p = X.shape[1]
    if strata_cols:
        scode = data.frame.groupby(strata_cols, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    else:
        scode = np.zeros(len(w), dtype=np.int64)
    risk = RiskSets(data.time, data.event, w, scode, ties, entry=entry)
    Xs, fit, var = _newton(X, names, risk)
    beta, loglik, loglik0 = fit.beta, fit.loglik, fit.loglik0
    score_stat, it = fit.score_stat, fit.iterations

    naive_var = var
    if robust:
        resid = risk.score_residuals(Xs, beta)            # original row order
        dfbeta = (w[:, None] * resid) @ var
        if cluster is not None:
            cl = pd.factorize(data.frame[cluster])[0]
            agg = np.zeros((cl.max() + 1, p))
            np.add.at(agg, cl, dfbeta)
            dfbeta = agg
        var = dfbeta.T @ dfbeta

    se_naive = np.sqrt(np.diag(naive_var))
    se = np.sqrt(np.diag(var))
    zval = beta / se
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    with np.errstate(over="ignore"):  # a finite coefficient beyond ±709 (e.g. a slope on a near-constant
        # linear predictor in a bootstrap resample) has a hazard ratio beyond float range: inf, said as such
        summ = pd.DataFrame({"coef": beta, "exp_coef": np.exp(beta), "se": se_naive},
                            index=pd.Index(names, name="term"))
        if robust:
            summ["robust_se"] = se
        summ["z"] = zval
        summ["p"] = 2 * norm.sf(np.abs(zval))
        summ["lower"] = np.exp(beta - zq * se)
        summ["upper"] = np.exp(beta + zq * se)
    summ.attrs["conf_level"] = conf_level

    lr = 2 * (loglik - loglik0)
    wald = float(beta @ np.linalg.solve(var, beta))
    eta_orig = X @ beta
    levels = _fit_levels(data.frame, covariates)
    if entry is None:
        conc = concordance(data.time, data.event, eta_orig, scode, w)
    else:  # R's concordance for (start, stop] data (risk sets at each event time) is not ported
        conc = {"concordant": np.nan, "discordant": np.nan, "tied_x": np.nan, "concordance": np.nan}
    return CoxResult(
        summary=summ, loglik=(float(loglik0), float(loglik)), lr_test=_test(lr, p),
        wald_test=_test(wald, p), score_test=_test(score_stat, p),
        concordance=conc["concordance"], concordance_counts=conc, n=len(w),
        events=int(data.event.sum()), coef=beta, var=var, naive_var=naive_var, robust=bool(robust),
        ties=ties, iterations=it, terms=terms, names=names, strata=strata_cols,
        n_dropped=data.n_dropped, _X=Xs, _risk=risk, _time=data.time, _event=data.event,
        counting_process=entry is not None, _covariates=covariates, _levels=levels,
        _means=_r_means(data.frame, covariates, levels, terms, X, w), _center=X.mean(axis=0),
        _weighted=weights is not None)
