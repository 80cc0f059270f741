"""Shared (gamma) frailty Cox model, as R's ``coxph(Surv(time, event) ~ x + frailty(center))``.

Each cluster (a center, a litter) multiplies the hazard of its patients by an unobserved frailty
exp(ω_g) drawn from a gamma distribution with mean 1 and variance θ. R (survival 3.5-3; Therneau &
Grambsch, *Modeling Survival Data*, 2000, ch. 9; Therneau, Grambsch & Pankratz, J Comput Graph Stat
2003;12:156) fits it as a penalized Cox model, and so does :func:`frailty_cox` — the algorithm of
``coxpenal.fit``, ``frailty.gamma``, ``frailty.controlgam``, ``frailty.brent`` and the C routines
``coxfit5_a/b`` ported here (re-derived as vectorised cumulative sums, no loop over patients):

* **inner loop** (θ fixed): Newton–Raphson on the penalized partial likelihood
  PL(β, ω) + (1/θ) Σ_g (ω_g − exp ω_g), with the frailties recentred at every step so that
  Σ exp ω_g = G (R's ``recenter``), R's step halving and its convergence rule
  (|1 − ℓ_old/ℓ_new| ≤ 1e-9 after a full step, at most 20 iterations);
* **sparse** (R's default with more than 5 clusters): the frailty block of the information matrix is
  replaced by its diagonal — which changes the Newton path and the variance, not the estimate — as
  ``coxfit5``; with ≤ 5 clusters the frailties are ordinary penalized columns with the full matrix;
* **outer loop** (R's default ``method = "em"``): θ = 0, 1, then 0.5 or 2, then Brent-type parabolic
  steps on √θ maximising the marginal (integrated) log-likelihood, the penalized log-likelihood
  plus the gamma correction of ``frailty.gammacon``; stops when it changes by less than 1e-5
  (relative); the estimates are those of the last θ fitted, as R;
* **variances**: ``var`` = H⁻¹ (R's ``se(coef)``) and ``var2`` = H⁻¹ I H⁻¹ (R's ``se2``), H the
  penalized and I the unpenalized information; the frailties' variances are the diagonal of H⁻¹'s
  frailty block (R's ``fvar``); degrees of freedom per term as ``coxpenal.df``.

Not ported: case weights, (start, stop] data, frailty distributions other than gamma
(``gaussian``, ``t``) and θ selection by AIC or degrees of freedom (``method = "aic"``/``"df"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc._compat import keyword_hint

from ._cox import RiskSets, _cum_within, _scatter, design_matrix
from ._errors import StatsInputError, survival_data

__all__ = ["FrailtyCoxResult", "frailty_cox"]

_EPS = 1e-9            # coxph.control(eps): inner convergence
_ITER_MAX = 20         # coxph.control(iter.max)
_OUTER_MAX = 10        # coxph.control(outer.max)
_EPS_OUTER = 1e-5      # frailty.gamma(eps): outer convergence of the marginal log-likelihood
_SPARSE_ABOVE = 5      # frailty.gamma(sparse = nclass > 5)


# ----------------------------------------------------------------------------------------------
# the penalized partial likelihood and its derivatives
# ----------------------------------------------------------------------------------------------
@dataclass
class _Derivs:
    """Partial likelihood (unpenalized), score and information blocks at (β, ω)."""

    pl: float
    ux: np.ndarray        # p
    uw: np.ndarray        # G
    hxx: np.ndarray       # p × p
    hxw: np.ndarray       # p × G
    hww: np.ndarray       # G (sparse: the diagonal only) or G × G


class _Model:
    """Sorted data, design matrix and cluster codes (what does not depend on β, ω)."""

    def __init__(self, risk: RiskSets, X: np.ndarray, cluster: np.ndarray, n_clusters: int, sparse: bool):
        self.risk, self.X, self.g, self.G, self.sparse = risk, X, cluster, n_clusters, sparse
        self.ev = risk.event
        if sparse:
            n = len(cluster)
            # rows by (stratum, cluster, time descending): Σ_k p_gk² as a sum over step functions
            self.order2 = np.lexsort((-np.arange(n), cluster, risk.strata))
            s2, g2 = risk.strata[self.order2], cluster[self.order2]
            self.block_start = np.r_[True, (s2[1:] != s2[:-1]) | (g2[1:] != g2[:-1])]
            self.keys = risk.tgroup * n_clusters + cluster    # (stratum, time, cluster)
            self.ukeys, self.kinv = np.unique(self.keys, return_inverse=True)
            self.efron = bool(np.any(risk.step_frac > 0))
        else:
            Z = np.zeros((len(cluster), n_clusters))
            Z[np.arange(len(cluster)), cluster] = 1.0
            self.XZ = np.hstack([X, Z])

    def _rowcum(self, c: np.ndarray) -> np.ndarray:
        """Per row, Σ of the per-step ``c`` over the steps it is at risk for (Efron: a death counts
        (1 − f) at its own time) — rows in sorted order."""
        risk = self.risk
        ng = risk.n_groups
        cg = _scatter(risk.step_group, c, ng)
        cgf = _scatter(risk.step_group, (risk.step_frac * c.T).T, ng)
        cum = _cum_within(cg, risk.gstrat_start)[risk.tgroup]
        own = cgf[risk.tgroup]
        ev = self.ev if c.ndim == 1 else self.ev[:, None]
        return cum - ev * own

    def derivs(self, beta: np.ndarray, w: np.ndarray) -> _Derivs:
        risk, X, g, G, ev = self.risk, self.X, self.g, self.G, self.ev
        p = X.shape[1]
        if not self.sparse:
            st = risk.steps(self.XZ, np.r_[beta, w])
            mw = risk.step_meanwt
            pl = float(st["eta"][ev].sum() - mw @ np.log(st["s0"]))
            u = self.XZ[ev].sum(axis=0) - (mw[:, None] * st["xbar"]).sum(axis=0)
            imat = risk.information(self.XZ, st)
            return _Derivs(pl, u[:p], u[p:], imat[:p, :p], imat[:p, p:], imat[p:, p:])
        st = risk.steps(X, beta, offset=w[g])
        mw, s0, xbar, wr = risk.step_meanwt, st["s0"], st["xbar"], st["wr"]
        pl = float(st["eta"][ev].sum() - mw @ np.log(s0))
        ux = X[ev].sum(axis=0) - (mw[:, None] * xbar).sum(axis=0)
        hxx = risk.information(X, st)
        rc = self._rowcum(mw / s0)
        uw = np.bincount(g[ev], minlength=G) - np.bincount(g, wr * rc, minlength=G)
        rcx = self._rowcum((mw / s0)[:, None] * xbar)
        hxw = np.vstack([np.bincount(g, wr * (rc * X[:, j] - rcx[:, j]), minlength=G) for j in range(p)])
        # diagonal of the frailty block: Σ_k p_gk (1 − p_gk), p_gk the share of cluster g in the
        # (Efron) risk set of step k — unweighted, as coxfit5 (it does not multiply by the mean
        # death weight; frailty_cox takes no case weights)
        sum_p = np.bincount(g, wr * self._rowcum(1.0 / s0), minlength=G)
        return _Derivs(pl, ux, uw, hxx, hxw, sum_p - self._sum_p2(s0, wr))

    def _sum_p2(self, s0: np.ndarray, wr: np.ndarray) -> np.ndarray:
        """Σ_k p_gk² per cluster without forming the steps × clusters matrix: the at-risk sum A_g(k)
        is a step function of time, constant between the cluster's own times."""
        risk, g, G = self.risk, self.g, self.G
        ng = risk.n_groups
        q = 1.0 / s0**2
        Qrow = _cum_within(np.bincount(risk.step_group, q, minlength=ng), risk.gstrat_start)[risk.tgroup]
        o = self.order2
        R = _cum_blocks(wr[o], self.block_start)                 # A_g at each row's time (desc order)
        Qo = Qrow[o]
        Qnext = np.r_[Qo[1:], 0.0]
        Qnext[np.r_[self.block_start[1:], True]] = 0.0
        total = np.bincount(g[o], R**2 * (Qo - Qnext), minlength=G)
        if self.efron:   # (A − f D)² − A² at the steps of the cluster's own tied deaths
            F1 = np.bincount(risk.step_group, risk.step_frac * q, minlength=ng)
            F2 = np.bincount(risk.step_group, risk.step_frac**2 * q, minlength=ng)
            Rrow = np.empty_like(R)
            Rrow[o] = R
            A = np.zeros(len(self.ukeys))
            np.maximum.at(A, self.kinv, Rrow)
            D = np.bincount(self.kinv[self.ev], wr[self.ev], minlength=len(self.ukeys))
            has = D > 0
            tg, gg = self.ukeys[has] // G, self.ukeys[has] % G
            total += np.bincount(gg, -2.0 * F1[tg] * A[has] * D[has] + F2[tg] * D[has]**2, minlength=G)
        return total


def _cum_blocks(a: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``a`` restarting where ``start`` is True."""
    c = np.cumsum(a)
    first = np.maximum.accumulate(np.where(start, np.arange(len(a)), 0))
    return c - np.r_[0.0, c][first]


# ----------------------------------------------------------------------------------------------
# the inner loop: penalized Newton–Raphson at fixed θ (R coxfit5_b)
# ----------------------------------------------------------------------------------------------
@dataclass
class _Inner:
    beta: np.ndarray
    w: np.ndarray
    plik: float          # penalized log-likelihood (R coxfit$loglik)
    d: _Derivs           # at (beta, w), unpenalized
    hww: np.ndarray      # penalized frailty block (diagonal or full)
    pen2: np.ndarray     # second derivative of the penalty (R coxlist$second)
    iterations: int
    converged: bool


def _penalty(w: np.ndarray, theta: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """frailty.gamma's ``pfun``: recentred ω, log-penalty (1/θ) Σ ω, its first and second derivative."""
    w = w - np.log(np.mean(np.exp(w)))
    nu = 1.0 / theta
    return w, float(nu * w.sum()), nu * (1.0 - np.exp(w)), nu * np.exp(w)


def _solve(d: _Derivs, hww: np.ndarray, ux: np.ndarray, uw: np.ndarray, sparse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Newton step from H (δx, δω) = (ux, uω); the sparse frailty block is diagonal."""
    if sparse:
        m = d.hxw / hww                                      # Hxω diag(1/hωω)
        dx = np.linalg.solve(d.hxx - m @ d.hxw.T, ux - m @ uw)
        return dx, (uw - d.hxw.T @ dx) / hww
    p = len(ux)
    H = np.block([[d.hxx, d.hxw], [d.hxw.T, hww]])
    step = np.linalg.solve(H, np.r_[ux, uw])
    return step[:p], step[p:]


def _inner(model: _Model, beta: np.ndarray, w: np.ndarray, theta: float) -> _Inner:
    beta, w = beta.copy(), w.copy()
    old_beta, old_w = beta.copy(), w.copy()
    G = model.G
    loglik = 0.0          # R passes loglik = 0 in: the first iteration never "converges"
    halving = False
    it = 0
    for it in range(_ITER_MAX + 1):
        if theta > 0:
            w, logpen, upen, ipen = _penalty(w, theta)
        d = model.derivs(beta, w)
        if theta > 0:
            newlk = d.pl + logpen
            uw = d.uw + upen
            hww = d.hww + (ipen if model.sparse else np.diag(ipen))
            pen2 = ipen
        else:   # θ = 0: the frailties are held at 0 (R's flag: zero score, unit diagonal)
            newlk, uw, pen2 = d.pl, np.zeros(G), np.zeros(G)
            d = _Derivs(d.pl, d.ux, d.uw, d.hxx, np.zeros_like(d.hxw), d.hww)
            hww = np.ones(G) if model.sparse else np.eye(G)
        if abs(newlk) < _EPS or (abs(1 - loglik / newlk) <= _EPS and not halving):
            return _Inner(beta, w, newlk, d, hww, pen2, it, True)
        if it == _ITER_MAX:
            break
        if it > 0 and newlk < loglik:     # step halving
            halving = True
            beta, w = (old_beta + beta) / 2, (old_w + w) / 2
        else:
            halving = False
            loglik = newlk
            dx, dw = _solve(d, hww, d.ux, uw, model.sparse)
            old_beta, old_w = beta, w
            beta, w = beta + dx, w + dw
    return _Inner(beta, w, newlk, d, hww, pen2, _ITER_MAX, False)


# ----------------------------------------------------------------------------------------------
# the outer loop: θ (R frailty.controlgam, frailty.brent, frailty.gammacon)
# ----------------------------------------------------------------------------------------------
def _gamma_correction(events: np.ndarray, theta: float) -> float:
    """frailty.gammacon: marginal (gamma-integrated) minus penalized log-likelihood, ν = 1/θ."""
    nu = 1.0 / theta
    d = events.astype(float)
    if nu > 1e7 * d.max():
        term1 = float(np.sum(d * d) / nu)
    else:
        term1 = float(np.sum(d + nu * np.log(nu / (nu + d))))
    # Σ_g Σ_{j<d_g} log((ν + j)/(ν + d_g)), term by term as R (lgamma differences lose digits for large ν)
    dd = d[d > 0].astype(np.int64)
    cl = np.repeat(np.arange(len(dd)), dd)
    j = np.arange(len(cl)) - np.repeat(np.cumsum(dd) - dd, dd)
    term2 = float(np.sum(np.log((nu + j) / (nu + dd[cl]))))
    return term1 + term2


def _brent(x: np.ndarray, y: np.ndarray, lower: float = 0.0) -> float:
    """frailty.brent: the next guess from a parabola through the best point and its neighbours."""
    n = len(x)
    if n < 3:
        return float(np.mean(x))
    o = np.argsort(x, kind="stable")
    xx, yy = x[o], y[o]
    best = np.flatnonzero(yy == y.max())
    if len(best) > 1:
        raise StatsInputError("frailty_cox: the marginal likelihood has tied maxima over theta (R stops: 'Ties for "
                              "max(y), I surrender'); give a fixed theta=")
    b = int(best[0])
    if b == 0:
        new = xx[0] - 3 * (xx[1] - xx[0])
        if new < lower:
            new = lower + (xx[xx > lower].min() - lower) / 10
        return float(new)
    if b == n - 1:
        return float(xx[-1] + 3 * (xx[-1] - xx[-2]))
    xx, yy = xx[b - 1:b + 2], yy[b - 1:b + 2]
    t1 = (xx[1] - xx[0])**2 * (yy[1] - yy[2]) - (xx[1] - xx[2])**2 * (yy[1] - yy[0])
    t2 = (xx[1] - xx[0]) * (yy[1] - yy[2]) - (xx[1] - xx[2]) * (yy[1] - yy[0])
    new = xx[1] - 0.5 * t1 / t2
    # (R compares with x[n] of the unsorted history, the latest guess)
    if new < xx[0] or new > xx[2] or (n > 4 and (new - x[n - 1]) > 0.5 * abs(x[n - 2] - x[n - 3])):
        if (xx[1] - xx[0]) > (xx[2] - xx[1]):
            return float(xx[1] - 0.38 * (xx[1] - xx[0]))
        return float(xx[1] + 0.32 * (xx[2] - xx[1]))
    return float(new)


def _next_theta(history: list[tuple[float, float, float]]) -> tuple[float, bool]:
    """frailty.controlgam (method "em"): the next θ and whether the previous fit is the answer."""
    it = len(history)
    if it == 1:
        return 1.0, False
    if it == 2:
        h0, h1 = history
        return ((h0[0] + h1[0]) / 2 if h1[2] < h0[2] + 1 else 2 * h1[0]), False
    done = abs(1 - history[-1][2] / history[-2][2]) < _EPS_OUTER
    x = np.array([h[0] for h in history])
    y = np.array([h[2] for h in history])
    if y[-1] == y.max() and x[-1] == x.max():
        return float(2 * x.max()), done
    return _brent(np.sqrt(x), y, lower=0.0) ** 2, done


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclass
class FrailtyCoxResult:
    """A fitted gamma-frailty Cox model (R ``coxph(... + frailty(cluster))``).

    ``summary`` (index = coefficient): coef, exp_coef, se (R ``se(coef)``, from H⁻¹), se2 (R ``se2``,
    from H⁻¹ I H⁻¹), chisq (coef²/se², R's ``Chisq``), p, lower, upper (CI of exp(coef) with ``se``,
    as R's ``summary``). ``frailty`` (index = cluster level): frailty (ω̂, log scale, recentred so
    that mean exp ω̂ = 1), exp_frailty (the cluster's hazard multiplier), se (√ of R's ``fvar``).
    ``frailty_test``: R's ``frailty(...)`` row — chisq, df, p. ``theta``: the frailty variance;
    ``theta_history``: the θ tried, the penalized and the marginal log-likelihood of each
    (R ``fit$history[[1]]$history``; one row for a fixed θ).
    """

    summary: pd.DataFrame
    frailty: pd.DataFrame
    frailty_test: dict
    theta: float
    theta_history: pd.DataFrame
    df: pd.Series
    loglik: tuple[float, float]
    penalized_loglik: float
    integrated_loglik: float
    penalty: float
    lr_test: dict
    coef: np.ndarray
    var: np.ndarray
    var2: np.ndarray
    names: list[str]
    terms: dict[str, list[int]]
    iterations: tuple[int, int]
    converged: bool
    sparse: bool
    method: str
    ties: str
    frailty_column: str
    strata: list[str]
    n: int
    events: int
    n_dropped: int = 0

    @property
    def hazard_ratios(self) -> pd.Series:
        return self.summary["exp_coef"]


@keyword_hint
def frailty_cox(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str], frailty: str,
                *, theta: float | None = None, sparse: bool | None = None, strata: str | Sequence[str] | None = None,
                ties: str = "efron", conf_level: float = 0.95, missing: str = "error",
                event_codes: tuple = (0, 1)) -> FrailtyCoxResult:
    """Cox model with a shared gamma frailty per ``frailty`` cluster (e.g. the center), agreeing with
    R ``coxph(Surv(time, event) ~ covariates + frailty(frailty) + strata(strata), ties = ties)``
    (survival 3.5; Therneau & Grambsch 2000, ch. 9).

    Parameters
    ----------
    covariates : column names (numeric, boolean or categorical — treatment contrasts), at least one.
    frailty : the cluster column (R ``frailty(center)``); one frailty per level (sorted values, or a
        Categorical's order).
    theta : a fixed frailty variance (R ``frailty(center, theta = )``); None (default) estimates it
        as R's default ``method = "em"`` (maximum of the marginal likelihood).
    sparse : R's ``sparse`` — the frailty block of the information matrix replaced by its diagonal;
        None = R's default, sparse with more than 5 clusters. It changes the variances (slightly).
    strata : separate baseline hazards (R ``strata()``).
    ties : ``"efron"`` (R's default) or ``"breslow"``.
    missing : ``"error"`` (default) or ``"drop"`` (complete cases with a warning, R's na.omit).
    event_codes : (censored, event) codes of ``event``; ``(1, 2)`` for R's status coding.

    Raises
    ------
    StatsInputError for no events, a single cluster, a constant or collinear covariate, missing
    values (unless ``missing="drop"``), a θ that is not positive.
    """
    if ties not in ("efron", "breslow"):
        raise StatsInputError(f"frailty_cox: ties must be 'efron' or 'breslow', not {ties!r}")
    if theta is not None and not (np.isfinite(theta) and theta > 0):
        raise StatsInputError(f"frailty_cox: theta must be a positive number (the frailty variance), not {theta!r}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise StatsInputError("frailty_cox: give at least one covariate")
    if frailty in covariates:
        raise StatsInputError(f"frailty_cox: '{frailty}' is both a covariate and the frailty column")
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    data = survival_data(df, time, event, columns=covariates + strata_cols + [frailty], missing=missing,
                         context="frailty_cox", event_codes=event_codes)
    if not data.event.any():
        raise StatsInputError(f"frailty_cox: no events in '{event}' among {len(data.time)} rows; the model is undefined")
    col = data.frame[frailty]
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    cat = pd.Categorical(cat).remove_unused_categories()
    levels = list(cat.categories)
    if len(levels) < 2:
        raise StatsInputError(f"frailty_cox: frailty column '{frailty}' has a single level ({levels[0]!r}); "
                              "a shared frailty needs at least two clusters")
    gcode = np.asarray(cat.codes, dtype=np.int64)
    G = len(levels)
    sparse = G > _SPARSE_ABOVE if sparse is None else bool(sparse)
    try:
        X, names, terms = design_matrix(data.frame, covariates)
    except StatsInputError as exc:
        raise StatsInputError(str(exc).replace("cox:", "frailty_cox:", 1)) from None
    p = X.shape[1]
    if strata_cols:
        scode = data.frame.groupby(strata_cols, sort=True, observed=True).ngroup().to_numpy()
    else:
        scode = np.zeros(len(data.time), dtype=np.int64)
    risk = RiskSets(data.time, data.event, data.weights, scode, ties)
    Xs = (X - X.mean(axis=0))[risk.order]
    model = _Model(risk, Xs, gcode[risk.order], G, sparse)
    events = np.bincount(gcode[data.event], minlength=G)

    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        loglik0 = model.derivs(np.zeros(p), np.zeros(G)).pl
        fit, theta_used, history, outer, newton, failed, done = _outer(model, p, events, theta)
    if failed:
        warnings.warn(f"frailty_cox: the inner Newton–Raphson did not converge in {_ITER_MAX} iterations at outer "
                      f"iteration(s) {failed} (R warns: 'Inner loop failed to coverge')", UserWarning, stacklevel=3)
    if not done:
        warnings.warn(f"frailty_cox: theta did not converge in {_OUTER_MAX} outer iterations (R stops there "
                      "silently); the fit is at the last theta tried", UserWarning, stacklevel=3)

    var, var2, fvar, fblock, df_terms, df_frail = _variances(fit, sparse, terms)
    beta, w = fit.beta, fit.w
    se, se2 = np.sqrt(np.diag(var)), np.sqrt(np.diag(var2))
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    cs = beta**2 / np.diag(var)
    summ = pd.DataFrame({"coef": beta, "exp_coef": np.exp(beta), "se": se, "se2": se2, "chisq": cs,
                         "p": chi2.sf(cs, 1), "lower": np.exp(beta - zq * se), "upper": np.exp(beta + zq * se)},
                        index=pd.Index(names, name="term"))
    summ.attrs["conf_level"] = conf_level
    fr = pd.DataFrame({"frailty": w, "exp_frailty": np.exp(w), "se": np.sqrt(fvar), "events": events},
                      index=pd.Index(levels, name=frailty))
    # R's frailty(...) row: Σ ω²/fvar (sparse), ωᵀ (H⁻¹)_ωω⁻¹ ω (not sparse); df as coxpenal.df
    ftest = float(np.sum(w**2 / fvar)) if fblock is None else float(w @ np.linalg.solve(fblock, w))
    frailty_test = {"chisq": ftest, "df": df_frail, "p": float(chi2.sf(ftest, max(df_frail, 0.5)))}
    df_series = pd.Series({**df_terms, f"frailty({frailty})": df_frail}, name="df")
    correction = _gamma_correction(events, theta_used) if theta_used > 0 else 0.0
    pl = fit.d.pl
    lr = 2 * (pl - loglik0)
    df_total = float(df_series.sum())
    hist = pd.DataFrame(history, columns=["theta", "loglik", "c_loglik"])
    return FrailtyCoxResult(
        summary=summ, frailty=fr, frailty_test=frailty_test, theta=float(theta_used), theta_history=hist,
        df=df_series, loglik=(float(loglik0), float(pl)), penalized_loglik=float(fit.plik),
        integrated_loglik=float(fit.plik + correction), penalty=float(pl - fit.plik),
        lr_test={"chisq": float(lr), "df": df_total, "p": float(chi2.sf(lr, df_total))}, coef=beta, var=var,
        var2=var2, names=names, terms=terms, iterations=(outer, newton), converged=not failed and done,
        sparse=sparse, method="fixed" if theta is not None else "em", ties=ties, frailty_column=frailty,
        strata=strata_cols, n=len(data.time), events=int(data.event.sum()), n_dropped=data.n_dropped)


def _outer(model: _Model, p: int, events: np.ndarray, theta: float | None):
    """coxpenal.fit's outer loop over θ; returns the last inner fit, its θ, the history, the outer
    and total Newton iteration counts, the outer iterations whose inner loop failed, and done."""
    fixed = theta is not None
    th = 0.0 if theta is None else float(theta)
    init_b, init_w = np.zeros(p), np.zeros(model.G)
    history: list[tuple[float, float, float]] = []
    thetasave = [th]
    coefsave: list[np.ndarray] = []
    fsave: list[np.ndarray] = []
    newton, failed, done = 0, [], False
    fit = None
    outer = 0
    theta_fit = th
    for outer in range(1, _OUTER_MAX + 1):
        theta_fit = th
        fit = _inner(model, init_b, init_w, th)
        newton += fit.iterations
        if not fit.converged:
            failed.append(outer)
        correct = _gamma_correction(events, th) if th > 0 else 0.0
        history.append((th, fit.plik, fit.plik + correct))
        if fixed:
            done = True
            break
        new, done = _next_theta(history)
        if done:
            break
        coefsave.append(fit.beta)
        fsave.append(fit.w)
        if outer == 1:
            init_b, init_w = fit.beta, fit.w
        else:
            which = int(np.argmin([(t - new) ** 2 for t in thetasave]))
            init_b, init_w = coefsave[which], fsave[which]
        thetasave.append(new)
        th = new
    assert fit is not None
    return fit, theta_fit, history, outer, newton, failed, done


def _variances(fit: _Inner, sparse: bool, terms: dict[str, list[int]]):
    """coxpenal.df: var = H⁻¹ and var2 = H⁻¹ I H⁻¹ of the fixed effects, the frailties' variances (and
    H⁻¹'s frailty block when not sparse), the degrees of freedom of each fixed term and of the frailty
    term."""
    d = fit.d
    pen = fit.pen2
    if sparse:
        hw = fit.hww                                           # diagonal
        m = d.hxw / hw                                         # p × G
        C = np.linalg.inv(d.hxx - m @ d.hxw.T)                 # H⁻¹, fixed-effect block
        B = -(m.T @ C)                                         # H⁻¹, frailty × fixed block (G × p)
        fvar = 1.0 / hw + np.einsum("gp,pq,gq->g", m.T, C, m.T)
        var, var2 = C, C - B.T @ (pen[:, None] * B)
        df_frail = float(len(hw) - np.sum(fvar * pen))
        fblock = None
    else:
        p = d.hxx.shape[0]
        H = np.block([[d.hxx, d.hxw], [d.hxw.T, fit.hww]])
        Hinv = np.linalg.inv(H)
        imat = H - np.diag(np.r_[np.zeros(p), pen])
        full2 = Hinv @ imat @ Hinv
        var, var2 = Hinv[:p, :p], full2[:p, :p]
        fvar = np.diag(Hinv)[p:]
        fblock = Hinv[p:, p:]
        df_frail = float(np.trace(np.linalg.solve(Hinv[p:, p:], full2[p:, p:])))
    df_terms = {t: float(np.trace(np.linalg.solve(var[np.ix_(j, j)], var2[np.ix_(j, j)]))) for t, j in terms.items()}
    return var, var2, fvar, fblock, df_terms, df_frail
