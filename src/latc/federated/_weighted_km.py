"""Weighted (IPTW) Kaplan–Meier with the robust variance, from per-site sums — the adjusted curves
of the study's comparison, equal to :func:`latc.stats.kaplan_meier` ``(weights=w, robust=True)``
(R ``survfit(weights = w, robust = TRUE)``) on the pooled rows.

Two rounds after the grid round:

1. **counts**: per group and grid time, the site's weighted events Σwδ, weighted censorings
   Σw(1−δ) and Σw². The coordinator pools them into the weighted numbers at risk n(t) and events
   d(t), S(t) = Π(1 − d/n), and announces per group G(t) = Σ_{s≤t} d/(n(n−d)) and 1/(n − d);
2. **robust**: per group and grid time, Σ b_i² over the site's patients leaving at that time, with
   b_i = w_i [G(T_i) − δ_i/(n(T_i) − d(T_i))].

Each patient is its own cluster (R's default with weights), so its influence on log S(t) is
A_i(t) = G(t) w_i 1{T_i > t} + b_i 1{T_i ≤ t} and Var log S(t) = Σ_i A_i(t)²
= G(t)² Σ_{T_i>t} w_i² + Σ_{T_i≤t} b_i² — sums the sites hold (``latc.stats._km._robust_var``).

**Disclosure.** A weighted sum at a time only one or two of the site's patients share is that
patient's weight (a function of their covariates). The site therefore suppresses the message when a
grid time holds 1–2 of its patients, unless it opts in (``min_cell_by_analysis={"km_weighted": 1}``)
or coarsens its times; docs/federated.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc.stats._km import KMResult, _confint, _first_below_half

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import site_rows
from ._survival import _grid_index, _surv_columns, group_labels, weight_values

__all__ = ["combine_km_weighted", "km_weighted_broadcast", "site_km_weighted_counts", "site_km_weighted_robust"]

_DEFAULT = DisclosurePolicy()
ANALYSIS = "km_weighted"


def _site_data(df: pd.DataFrame, time: str, event: str, group: str | None, grid: Sequence[float], weights: str,
               site: str, policy: DisclosurePolicy) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    site_rows(df, site, policy, ANALYSIS, [time, event, group, weights])
    t, e = _surv_columns(df, time, event, site, ANALYSIS)
    idx = _grid_index(t, np.asarray(grid, dtype=float), site)
    return idx, e, weight_values(df, weights, site), group_labels(df, group, site, ANALYSIS)


def site_km_weighted_counts(df: pd.DataFrame, time: str, event: str, group: str | None, grid: Sequence[float],
                            weights: str, *, site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Per group and grid time: Σwδ, Σw(1−δ), Σw², and each group's patient count. Cells: each
    group's patients and events (the minimum of the unweighted ``km``), and the patients at each
    grid time (the minimum of ``km_weighted``; module docstring)."""
    idx, e, w, g = _site_data(df, time, event, group, grid, weights, site, policy)
    m = len(grid)
    groups = sorted(set(g))
    w_event, w_censor, w2, n_patients, cells, times = [], [], [], [], {}, {}
    for k in groups:
        sel = g == k
        n_patients.append(int(sel.sum()))
        w_event.append(np.bincount(idx[sel], w[sel] * e[sel], minlength=m))
        w_censor.append(np.bincount(idx[sel], w[sel] * ~e[sel], minlength=m))
        w2.append(np.bincount(idx[sel], w[sel] ** 2, minlength=m))
        cells[f"patients | {group}={k}"] = int(sel.sum())
        cells[f"events | {group}={k}"] = int((sel & e).sum())
        per_time = np.bincount(idx[sel], minlength=m)
        for j in np.flatnonzero(per_time):
            times[f"patients at one time | {group}={k}, time {float(grid[j]):g}"] = int(per_time[j])
    # the group cells follow the unweighted curve's rule; the per-time cells this analysis's (opt-in)
    bad = [{**b, "analysis": ANALYSIS} for b in policy.small_cells("km", cells)] + policy.small_cells(ANALYSIS, times)
    base = {"time": time, "event": event, "group": group, "weights": weights}
    if bad:
        return Message(ANALYSIS, site, "wkm_counts", base, bad[:5] + ([{
            "analysis": ANALYSIS, "cell": f"and {len(bad) - 5} more", "reason": bad[0]["reason"]}] if len(bad) > 5 else []))
    return Message(ANALYSIS, site, "wkm_counts", {**base, "groups": groups, "grid_size": m, "w_event": w_event,
                                                  "w_censor": w_censor, "w2": w2,
                                                  "n_patients": n_patients})


def _pooled(messages: Sequence[Message]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    msgs = check_messages(messages, ANALYSIS)
    m = msgs[0].payload["grid_size"]
    groups = sorted({k for x in msgs for k in x.payload["groups"]})
    D, C, W2 = (np.zeros((len(groups), m)) for _ in range(3))
    N = np.zeros(len(groups))
    for x in msgs:
        if x.payload["grid_size"] != m:
            raise FederatedInputError(f"site {x.site!r} counted on a grid of another size")
        for k, de, ce, w2, n in zip(x.payload["groups"], x.payload["w_event"], x.payload["w_censor"], x.payload["w2"],
                                    x.payload["n_patients"]):
            i = groups.index(k)
            D[i] += np.asarray(de, dtype=float)
            C[i] += np.asarray(ce, dtype=float)
            W2[i] += np.asarray(w2, dtype=float)
            N[i] += n
    return groups, D, C, W2, N


def _group_terms(d: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At the group's own times (d + c > 0): n, S, G and 1/(n − d), as ``latc.stats._km``."""
    n = np.cumsum((d + c)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(d > 0, 1.0 - d / n, 1.0))
        g_inc = np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0)
        inv_nd = np.where(n > d, 1.0 / (n - d), 0.0)
    return n, surv, np.cumsum(g_inc), inv_nd


def km_weighted_broadcast(messages: Sequence[Message]) -> dict:
    """What the coordinator announces after the counts round: per group, its grid positions, G(t)
    and 1/(n − d) there (aggregates of the pooled weighted counts)."""
    groups, D, C, _, _ = _pooled(messages)
    out = {}
    for i, k in enumerate(groups):
        keep = np.flatnonzero((D[i] + C[i]) > 0)
        _, _, G, inv_nd = _group_terms(D[i][keep], C[i][keep])
        out[k] = {"positions": keep.tolist(), "G": G.tolist(), "inv_nd": inv_nd.tolist()}
    return out


def site_km_weighted_robust(df: pd.DataFrame, time: str, event: str, group: str | None, grid: Sequence[float],
                            weights: str, broadcast: dict, *, site: str,
                            policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Per group and grid time, Σ b_i² of the site's patients leaving then (module docstring)."""
    idx, e, w, g = _site_data(df, time, event, group, grid, weights, site, policy)
    m = len(grid)
    groups = sorted(set(g))
    b2 = []
    for k in groups:
        sel = g == k
        info = broadcast[k]
        G = np.zeros(m)
        inv = np.zeros(m)
        G[info["positions"]] = info["G"]
        inv[info["positions"]] = info["inv_nd"]
        b = w[sel] * (G[idx[sel]] - np.where(e[sel], inv[idx[sel]], 0.0))
        b2.append(np.bincount(idx[sel], b ** 2, minlength=m))
    return Message(ANALYSIS, site, "wkm_robust", {"groups": groups, "grid_size": m, "b2": b2})


def combine_km_weighted(counts: Sequence[Message], robust: Sequence[Message], grid: Sequence[float], *,
                        conf_type: str = "log", conf_level: float = 0.95) -> KMResult:
    """The pooled weighted Kaplan–Meier with the robust variance (module docstring)."""
    grid = np.asarray(grid, dtype=float)
    groups, D, C, W2, N = _pooled(counts)
    B2 = np.zeros_like(D)
    for x in check_messages(robust, ANALYSIS):
        for k, b2 in zip(x.payload["groups"], x.payload["b2"]):
            B2[groups.index(k)] += np.asarray(b2, dtype=float)
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    tables, medians = [], []
    for i, level in enumerate(groups):
        keep = (D[i] + C[i]) > 0
        ut, d, c = grid[keep], D[i][keep], C[i][keep]
        n, surv, G, _ = _group_terms(d, c)
        w2_after = W2[i][keep].sum() - np.cumsum(W2[i][keep])        # Σ_{T > t} w²
        var_log = np.maximum(G ** 2 * w2_after + np.cumsum(B2[i][keep]), 0.0)
        se_surv = surv * np.sqrt(var_log)
        lower, upper = _confint(surv, se_surv, conf_type, z)
        tables.append(pd.DataFrame({"group": level, "time": ut, "n_risk": n, "n_event": d, "n_censor": c,
                                    "survival": surv, "std_err": se_surv, "lower": lower, "upper": upper}))
        medians.append({"group": level, "n": int(N[i]), "events": float(d.sum()), "median": _first_below_half(surv, ut),
                        "lower": _first_below_half(lower, ut), "upper": _first_below_half(upper, ut)})
    return KMResult(table=pd.concat(tables, ignore_index=True), medians=pd.DataFrame(medians), conf_type=conf_type,
                    conf_level=conf_level, robust=True, groups=groups)
