"""Cox regression, federated: site-stratified (exact decomposition) and unstratified (WebDISCO).

Both reproduce :func:`latc.stats.cox` on the pooled rows — coefficients, model-based and robust
(sandwich) SEs, log partial likelihoods — because the coordinator runs the same Newton–Raphson
(R ``coxfit6``: start at β = 0, stop when |1 − ℓ_old/ℓ_new| ≤ 1e−9, at most 20 iterations, step
halving when the likelihood falls) on exactly the pooled log-likelihood, score and information.

* **Stratified by site** (``strata = center``): the partial likelihood is a product over strata, so
  the pooled ℓ, score U and information I are sums of the sites' own Efron/Breslow ℓ, U, I at the
  coordinator's β (``site_cox_stratified_step``). Nothing per time leaves the site.
* **Unstratified** (WebDISCO, Lu et al., J Am Med Inform Assoc 2015;22:1212): the risk set at a time
  spans sites, so per distinct event time t of the pooled grid each site sends its risk-set sums
  Σ_{T≥t} w e^{xβ}, Σ w e^{xβ} x, Σ w e^{xβ} xxᵀ, the same sums over its deaths at t (Efron's tied-
  event terms), its death count and death weight at t, and once Σ_{deaths} w x. The coordinator forms
  Efron's sub-steps s0 = A0 − (k/d) D0 … exactly as ``RiskSets`` does on pooled rows.
* **Robust variance**: V·(Σ_c r_c r_cᵀ)·V with r_c the weighted score (dfbeta) residuals summed over
  cluster c (each patient its own cluster by default). Stratified: the residuals are site-local.
  Unstratified: they need the pooled per-time terms (hazard increments, x̄), which the coordinator
  broadcasts (``combine_cox_webdisco_step(...)["broadcast"]``); each site then sends only its p × p
  sum. Exact when clusters do not cross sites (patients, or centers).

Disclosure: the stratified messages are sums over a whole site (cells: patients, events). The
WebDISCO per-time sums identify a patient who leaves the site's risk set alone between two grid times
(difference two consecutive sums); the site therefore counts, per grid interval, the patients leaving
its risk set and the deaths, and suppresses the message when one is 1..min_cell−1. Exact results on
the fine grid thus need the site's explicit ``min_cell_by_analysis={"cox_webdisco": 1}``; coarsening
the times (``coarsen=``) makes the cells larger (then exact against the pooled fit of the coarsened
times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc.stats._cox import _ITER_MAX, RiskSets, coxfit_newton

from ._design import site_design
from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import site_rows
from ._survival import _grid_index, _surv_columns, coarsen_times, weight_values

__all__ = ["site_cox_stratified_step", "combine_cox_step", "site_cox_stratified_robust",
           "site_cox_webdisco_step", "combine_cox_webdisco_step", "site_cox_webdisco_robust",
           "combine_cox_robust", "newton_cox", "cox_summary"]

_DEFAULT = DisclosurePolicy()


def _site_cox_data(df, time, event, covariates, levels, weights, site, policy, analysis, coarsen=None):
    site_rows(df, site, policy, analysis, [time, event, weights, *covariates])
    t, e = _surv_columns(df, time, event, site, analysis)
    t = coarsen_times(t, coarsen)
    X, names = site_design(df, covariates, levels, style="cox", site=site)
    return t, e, X, weight_values(df, weights, site), names


# ------------------------------------------------------------------ stratified (site = stratum)
def site_cox_stratified_step(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                             levels: dict, beta: Sequence[float], *, site: str, weights: str | None = None,
                             ties: str = "efron", policy: DisclosurePolicy = _DEFAULT) -> Message:
    """The site stratum's partial log-likelihood, score and information at ``beta``.

    Payload: names, loglik, score[p], information[p][p], n, events. Cells: patients, events."""
    t, e, X, w, names = _site_cox_data(df, time, event, covariates, levels, weights, site, policy,
                                       "cox_stratified")
    beta = np.asarray(beta, dtype=float)
    bad = policy.small_cells("cox_stratified", {"patients": len(t), "events": int(e.sum())})
    if bad:
        return Message("cox_stratified", site, "cox_step", {"names": names}, bad)
    risk = RiskSets(t, e, w, np.zeros(len(t), dtype=np.int64), ties)
    Xs = (X - X.mean(axis=0))[risk.order]       # centring within a stratum changes nothing but rounding
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        loglik, u, imat, _ = risk.loglik_score_info(Xs, beta)
    return Message("cox_stratified", site, "cox_step", {"names": names, "loglik": loglik, "score": u,
                                                        "information": imat, "n": len(t), "events": int(e.sum())})


def combine_cox_step(messages: Sequence[Message]) -> tuple[float, np.ndarray, np.ndarray]:
    """Σ over sites of (ℓ, U, I) — the pooled stratified values."""
    msgs = check_messages(messages, "cox_stratified")
    loglik = float(sum(m.payload["loglik"] for m in msgs))
    u = np.sum([m.array("score") for m in msgs], axis=0)
    imat = np.sum([m.array("information") for m in msgs], axis=0)
    return loglik, u, imat


def _cluster_meat(resid_w: np.ndarray, df: pd.DataFrame, cluster: str | None) -> tuple[np.ndarray, int]:
    if cluster is None:
        return resid_w.T @ resid_w, len(resid_w)
    cl = pd.factorize(df[cluster])[0]
    agg = np.zeros((cl.max() + 1, resid_w.shape[1]))
    np.add.at(agg, cl, resid_w)
    return agg.T @ agg, len(agg)


def site_cox_stratified_robust(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                               levels: dict, beta: Sequence[float], *, site: str, weights: str | None = None,
                               cluster: str | None = None, ties: str = "efron",
                               policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Σ_c r_c r_cᵀ of the site's weighted score residuals at the final ``beta`` (clusters within the
    site). Payload: meat[p][p], n_clusters. Cells: patients (the meat is a sum over the site, so
    a single cluster — the site itself, cluster = center — is no row-level release)."""
    t, e, X, w, names = _site_cox_data(df, time, event, covariates, levels, weights, site, policy,
                                       "cox_stratified")
    risk = RiskSets(t, e, w, np.zeros(len(t), dtype=np.int64), ties)
    Xs = (X - X.mean(axis=0))[risk.order]
    resid = risk.score_residuals(Xs, np.asarray(beta, dtype=float))
    meat, ncl = _cluster_meat(w[:, None] * resid, df, cluster)
    bad = policy.small_cells("cox_stratified", {"patients": len(t)})
    if bad:
        return Message("cox_stratified", site, "cox_robust", {}, bad)
    return Message("cox_stratified", site, "cox_robust", {"meat": meat, "n_clusters": ncl})


def combine_cox_robust(messages: Sequence[Message], var: np.ndarray) -> np.ndarray:
    """Robust variance V (Σ_sites meat) V."""
    msgs = check_messages(messages)
    meat = np.sum([m.array("meat") for m in msgs], axis=0)
    return var @ meat @ var


# ------------------------------------------------------------------ unstratified (WebDISCO)
def site_cox_webdisco_step(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                           levels: dict, beta: Sequence[float], grid: Sequence[float], *, site: str,
                           weights: str | None = None, coarsen: float | None = None,
                           policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Per pooled event time (``grid``, from ``site_km_times(events_only=True)``): risk-set sums
    A0, A1, A2 (rows with T ≥ t), tied-death sums D0, D1, D2, deaths d and death weight; and
    S = Σ_deaths w x. Payload: names, grid_size, A0, A1, A2, D0, D1, D2, d, dweight, S, n, events.
    Cells: per grid interval the patients leaving the site's risk set, and the deaths per time."""
    t, e, X, w, names = _site_cox_data(df, time, event, covariates, levels, weights, site, policy,
                                       "cox_webdisco", coarsen)
    grid = np.asarray(grid, dtype=float)
    G = len(grid)
    beta = np.asarray(beta, dtype=float)
    pos = np.searchsorted(grid, t, side="right") - 1             # last grid time ≤ T (−1: none)
    idx = _grid_index(t[e], grid, site)
    cells = {"patients": len(t), "events": int(e.sum())}
    leave = np.bincount(pos[pos >= 0], minlength=G)
    dcount = np.bincount(idx, minlength=G)
    cells.update({f"patients leaving the risk set after grid time {grid[g]:g}": leave[g] for g in range(G)})
    cells.update({f"deaths at grid time {grid[g]:g}": dcount[g] for g in range(G)})
    bad = policy.small_cells("cox_webdisco", cells)
    if bad:
        return Message("cox_webdisco", site, "webdisco_step", {"names": names}, bad)
    with np.errstate(over="ignore"):
        wr = w * np.exp(X @ beta)
    XX = X[:, :, None] * X[:, None, :]
    ok = pos >= 0

    def by_grid(rows, vals):               # Σ of vals per grid index (one bincount)
        v = vals.reshape(len(rows), -1)
        k = v.shape[1]
        flat = (rows[:, None] * k + np.arange(k)).ravel()
        return np.bincount(flat, v.ravel(), minlength=G * k).reshape((G,) + vals.shape[1:])

    def rev(a):
        return np.cumsum(a[::-1], axis=0)[::-1]

    A0 = rev(by_grid(pos[ok], wr[ok]))
    A1 = rev(by_grid(pos[ok], wr[ok, None] * X[ok]))
    A2 = rev(by_grid(pos[ok], wr[ok, None, None] * XX[ok]))
    D0 = by_grid(idx, wr[e])
    D1 = by_grid(idx, wr[e, None] * X[e])
    D2 = by_grid(idx, wr[e, None, None] * XX[e])
    dweight = by_grid(idx, w[e])
    S = (w[e, None] * X[e]).sum(axis=0)
    return Message("cox_webdisco", site, "webdisco_step", {
        "names": names, "grid_size": G, "A0": A0, "A1": A1, "A2": A2, "D0": D0, "D1": D1, "D2": D2,
        "d": dcount, "dweight": dweight, "S": S, "n": len(t), "events": int(e.sum())})


def combine_cox_webdisco_step(messages: Sequence[Message], beta: Sequence[float], ties: str = "efron") -> dict:
    """Pooled ℓ, U, I at ``beta`` from the sites' risk-set sums (Efron or Breslow), and the
    per-grid-time ``broadcast`` (H, HX, Hf, HXf, XB) the sites need for robust residuals."""
    msgs = check_messages(messages, "cox_webdisco")
    beta = np.asarray(beta, dtype=float)
    tot = {k: np.sum([m.array(k) for m in msgs], axis=0) for k in ("A0", "A1", "A2", "D0", "D1", "D2",
                                                                  "d", "dweight", "S")}
    d = tot["d"].astype(np.int64)
    G = len(d)
    sg = np.repeat(np.arange(G), d)
    k = np.arange(len(sg)) - np.repeat(np.cumsum(d) - d, d)
    f = k / np.repeat(d, d) if ties == "efron" else np.zeros(len(k))
    mw = np.repeat(np.where(d > 0, tot["dweight"] / np.maximum(d, 1), 0.0), d)
    s0 = tot["A0"][sg] - f * tot["D0"][sg]
    s1 = tot["A1"][sg] - f[:, None] * tot["D1"][sg]
    s2 = tot["A2"][sg] - f[:, None, None] * tot["D2"][sg]
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = s1 / s0[:, None]
        loglik = float(tot["S"] @ beta - np.sum(mw * np.log(s0)))
        u = tot["S"] - (mw[:, None] * xbar).sum(axis=0)
        imat = (mw[:, None, None] * (s2 / s0[:, None, None] - xbar[:, :, None] * xbar[:, None, :])).sum(axis=0)
        h = mw / s0

    def scat(vals):
        out = np.zeros((G,) + vals.shape[1:])
        np.add.at(out, sg, vals)
        return out

    broadcast = {"H": scat(h), "HX": scat(h[:, None] * xbar), "Hf": scat(f * h),
                 "HXf": scat((f * h)[:, None] * xbar), "XB": scat(xbar) / np.maximum(d, 1)[:, None]}
    return {"loglik": loglik, "score": u, "information": imat, "broadcast": broadcast}


def site_cox_webdisco_robust(df: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
                             levels: dict, beta: Sequence[float], grid: Sequence[float], broadcast: dict, *,
                             site: str, weights: str | None = None, cluster: str | None = None,
                             coarsen: float | None = None, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """The site's Σ_c r_c r_cᵀ from score residuals built with the coordinator's per-time terms."""
    t, e, X, w, names = _site_cox_data(df, time, event, covariates, levels, weights, site, policy,
                                       "cox_webdisco", coarsen)
    grid = np.asarray(grid, dtype=float)
    b = {k: np.asarray(v, dtype=float) for k, v in broadcast.items()}
    pos = np.searchsorted(grid, t, side="right") - 1
    with np.errstate(over="ignore"):
        r = np.exp(X @ np.asarray(beta, dtype=float))[:, None]
    cH = np.r_[0.0, np.cumsum(b["H"])][pos + 1]
    cHX = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(b["HX"], axis=0)])[pos + 1]
    ev = e.astype(float)[:, None]
    pe = np.maximum(pos, 0)
    resid = (ev * (X - b["XB"][pe]) - r * (X * cH[:, None] - cHX)
             + ev * r * (X * b["Hf"][pe][:, None] - b["HXf"][pe]))
    meat, ncl = _cluster_meat(w[:, None] * resid, df, cluster)
    bad = policy.small_cells("cox_webdisco", {"patients": len(t)})
    if bad:
        return Message("cox_webdisco", site, "cox_robust", {}, bad)
    return Message("cox_webdisco", site, "cox_robust", {"meat": meat, "n_clusters": ncl})


# ------------------------------------------------------------------ coordinator iteration
def newton_cox(evaluate: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]], p: int) -> dict:
    """R ``coxfit6`` Newton–Raphson on the pooled (ℓ, U, I) returned by ``evaluate(beta)`` (one
    federated round each). Returns coef, var (inverse information), loglik (at 0, at β̂), score
    test, iterations, rounds."""
    rounds = 0

    def ev(b):
        nonlocal rounds
        rounds += 1
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return evaluate(b)

    fit = coxfit_newton(ev, p)
    if not fit.converged:
        raise FederatedInputError(f"federated cox: Newton–Raphson did not converge in {_ITER_MAX} iterations")
    return {"coef": fit.beta, "var": np.linalg.inv(fit.information), "loglik": (fit.loglik0, fit.loglik),
            "score_test": {"chisq": fit.score_stat, "df": p, "p": float(chi2.sf(fit.score_stat, p))},
            "iterations": fit.iterations, "rounds": rounds}


def cox_summary(fit: dict, names: Sequence[str], robust_var: np.ndarray | None = None,
                conf_level: float = 0.95) -> pd.DataFrame:
    """The ``latc.stats.cox(...).summary`` table from a federated fit."""
    beta = fit["coef"]
    se_naive = np.sqrt(np.diag(fit["var"]))
    se = np.sqrt(np.diag(robust_var)) if robust_var is not None else se_naive
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    s = pd.DataFrame({"coef": beta, "exp_coef": np.exp(beta), "se": se_naive}, index=pd.Index(list(names), name="term"))
    if robust_var is not None:
        s["robust_se"] = se
    s["z"] = beta / se
    s["p"] = 2 * norm.sf(np.abs(s["z"]))
    s["lower"] = np.exp(beta - zq * se)
    s["upper"] = np.exp(beta + zq * se)
    return s
