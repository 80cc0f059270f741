"""The study's comparison, federated: neoadjuvant vs upfront surgery without pooling the patients.

The coordinator (:func:`run_comparison`) asks the sites, round by round, for what `latc analyze`'s
comparative section computes on the pooled rows (``latc.analysis._comparative``), and gets the
same numbers (to rounding):

1. **the analysed rows** — each site builds its part of the pooled comparative frame from its own
   `latc derive` output with the analysis's own code (``comparative_frame`` + ``analysable``: row by
   row; a center's pooling into ``pooled_small_centers`` depends on that center's size and cohorts
   only, which the site knows);
2. **usable covariates** — the confounders that vary in the pooled rows (``design_levels``);
3. **the propensity model** — GLORE Newton rounds on summed gradients and Hessians (Wu et al. 2012);
4. **weights at the sites** — stabilized IPTW (ATE) and overlap (ATO) weights from the announced β̂
   and the pooled treated proportion (``counts``); scores and weights never leave a site;
5. **Cox models stratified by center** — the adjusted model and the IPTW / overlap-weighted models
   with robust (sandwich) SE, each Newton step a round of summed (ℓ, U, I) (the partial likelihood of
   a center-stratified model is a product over centers = sites), for recurrence, OS and EFS — the
   `comparative/hazard_ratios` rows ``adjusted``, ``iptw_ate`` (the protocol's primary estimate for
   recurrence) and ``overlap_ato``; and the **unadjusted model** (row ``naive``: unstratified, so
   by WebDISCO's per-time risk-set sums, Lu et al. 2015 — released only where a site's cell rule
   allows, docs/federated.md). The models are fitted in lock-step (``_lockstep``): one round carries
   the next Newton step of every model still iterating;
6. **Kaplan–Meier by cohort and the log-rank test** (OS and recurrence) on the pooled time grid.

What is not computed this way is listed with its reason (``not_computed``), never approximated:
PS matching (pairs across sites), a stratified model whose pooled center stratum spans several
sites (two or more small centers pooled), multiple imputation, and the weight-quantile sensitivity
analyses (pooled quantiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._balance import balance_rows, combine_balance, combine_effective_sample_size, site_balance, site_weights
from ._cox import (combine_cox_robust, combine_cox_step, combine_cox_webdisco_step, cox_summary, newton_cox,
                   site_cox_stratified_robust, site_cox_stratified_step, site_cox_webdisco_step)
from ._descriptive import combine_counts, site_counts
from ._design import combine_levels, site_levels
from ._disclosure import FederatedDisclosureError, FederatedInputError, check_messages
from ._lockstep import Ask, lockstep
from ._logistic import combine_logistic_step, newton_logistic, site_logistic_step, site_propensity
from ._messages import Message
from ._protocol import Channel, Request, SiteRuntime, site_step
from ._rates import rate_tables
from ._survival import combine_km, combine_logrank, combine_time_grid, site_km_counts, site_km_times
from ._competing import combine_cif, combine_gray, site_cif_counts
from ._weighted_km import (combine_km_weighted, km_weighted_broadcast, site_km_weighted_counts,
                           site_km_weighted_robust)

__all__ = ["FederatedComparison", "coarsen_derived", "run_comparison", "site_comparison_frame", "site_derived", "site_runtime"]

#: endpoint → (time, event), as ``latc.analysis._comparative.ENDPOINTS``
ENDPOINTS = {"recurrence": ("rec_time", "rec_event"), "overall_survival": ("os_time", "os_event"),
             "event_free_survival": ("efs_time", "efs_event")}
ESTIMANDS = {"naive": "unadjusted (cohort only)", "adjusted": "conditional (covariate-adjusted)", "iptw_ate": "ATE (stabilized IPTW)",
             "overlap_ato": "ATO (overlap weights)"}
NOT_COMPUTED = {
    "comparative/matching": "PS matching pairs patients across sites: it needs the pooled rows",
    "sensitivity": "multiple imputation needs the pooled rows; weight truncation and PS trimming need pooled "
                   "quantiles",
}


def site_comparison_frame(derived: Any, *, min_center_size: int = 20) -> pd.DataFrame:
    """A site's part of the pooled comparative frame, from its own `latc derive` output (a folder or
    ``DerivedDatasets``), with the analysis's own row-by-row code (``comparative_frame``,
    ``analysable``). A site holding one cohort only gets its rows all the same (its center is pooled)."""
    from latc.analysis._comparative import analysable
    from latc.analysis._data import load_derived
    from latc.analysis._frames import comparative_frame
    from latc.analysis._results import SectionSkipped

    data = load_derived(derived)
    try:
        frame, _ = comparative_frame(data, min_center_size)
    except SectionSkipped as exc:
        raise FederatedInputError(f"the site's derived data cannot enter the comparison: {exc}") from None
    df, _ = analysable(frame)
    df["center"] = df["center"].astype(str)
    # Arrow-backed text columns as plain object arrays: every round re-reads them (coding, site
    # check), and NumPy object arrays are read without a per-round conversion. Values unchanged.
    text = [c for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)]
    return df.astype({c: object for c in text}) if text else df


def site_runtime(site: str, derived: Any, *, policy: Any = None, release_log: Any = None,
                 min_center_size: int = 20) -> SiteRuntime:
    """A site's runtime from its own `latc derive` output: the comparison rows
    (:func:`site_comparison_frame`) and the derived datasets (for Table 1 and the rates,
    :func:`site_derived`), nothing else."""
    from latc.analysis._data import load_derived

    data = load_derived(derived)        # read once: site_comparison_frame takes the loaded datasets too
    step = getattr(policy, "coarsen_months", None)
    if step is not None:
        data = coarsen_derived(data, step)
    rt = SiteRuntime(site, site_comparison_frame(data, min_center_size=min_center_size), policy=policy,
                     release_log=release_log)
    rt.state["derived_source"] = str(derived) if isinstance(derived, (str, Path)) else None
    rt.local["derived"] = data
    return rt


def coarsen_derived(derived: Any, step: float) -> Any:
    """The derived datasets with every time-to-event time (``tte.time_months``, what every analysis
    of times reads) rounded up to a multiple of ``step`` months (``coarsen_times``; 0 stays 0). A
    site's ``coarsen_months`` option; the pooled analysis of the output equals the federated one."""
    from dataclasses import replace

    from latc.analysis._data import load_derived

    data = load_derived(derived)
    return replace(data, tte=coarsen_tte(data.tte, step), parameters={**data.parameters, "coarsen_months": float(step)})


def coarsen_tte(tte: pd.DataFrame, step: float) -> pd.DataFrame:
    """A copy of the derived ``tte`` with ``time_months`` rounded up to multiples of ``step`` months."""
    from ._survival import coarsen_times

    out = tte.copy()
    t = out["time_months"].astype("Float64")
    ok = t.notna().to_numpy()
    vals = t.to_numpy(dtype=float, na_value=np.nan)
    vals[ok] = coarsen_times(vals[ok], float(step))
    out["time_months"] = pd.array(vals, dtype="Float64")
    return out


def site_derived(rt: SiteRuntime) -> Any:
    """The site's own derived datasets (``DerivedDatasets``: subject, AE, … for the rates): kept in
    ``rt.local`` — never sent, and not carried between an engine's processes; read again from the
    site's folder when a fresh process answers."""
    from latc.analysis._data import load_derived

    data = rt.local.get("derived")
    if data is None:
        source = rt.state.get("derived_source")
        if not source:
            raise FederatedInputError(f"site {rt.site!r}: no derived datasets at this site (built from a frame only)")
        data = load_derived(Path(source))
        step = rt.policy.coarsen_months
        rt.local["derived"] = data = coarsen_derived(data, step) if step is not None else data
    return data


# ---------------------------------------------------------------------------------------- site steps
@site_step("levels")
def _levels(rt: SiteRuntime, covariates: Sequence[str]) -> Message:
    return site_levels(rt.frame, covariates, site=rt.site, policy=rt.policy)


@site_step("identical")
def _identical(rt: SiteRuntime, covariates: Sequence[str]) -> Message:
    """For each pair of numeric covariates, whether they are identical in the site's rows (a yes/no
    per pair, no value): the pooled rule drops a confounder identical to an earlier one."""
    rt.policy.require_allowed("design_levels", rt.site)
    cols = [c for c in covariates if c in rt.frame.columns]
    pairs = [[a, b] for i, a in enumerate(cols) for b in cols[i + 1:] if rt.frame[a].equals(rt.frame[b])]
    return Message("design_levels", rt.site, "identical", {"pairs": pairs})


@site_step("center")
def _center(rt: SiteRuntime) -> Message:
    """Whether the site's center enters the models as itself or among the pooled small centers (no count)."""
    rt.policy.require_allowed("counts", rt.site)
    centers = sorted(set(rt.frame["center"].astype(str)))
    return Message("counts", rt.site, "center", {"centers": centers})


@site_step("counts")
def _counts(rt: SiteRuntime, variable: str, by: str | None = "cohort") -> Message:
    return site_counts(rt.frame, variable, by, site=rt.site, policy=rt.policy)


@site_step("logistic_step")
def _logistic_step(rt: SiteRuntime, outcome: str, covariates: Sequence[str], levels: dict,
                   beta: Sequence[float]) -> Message:
    return site_logistic_step(rt.frame, outcome, covariates, levels, beta, site=rt.site, policy=rt.policy)


@site_step("weights", stateful=True)
def _weights(rt: SiteRuntime, covariates: Sequence[str], levels: dict, beta: Sequence[float],
             p_treated: float) -> Message:
    """Propensity scores and weights from the announced β̂, kept at the site; sends nothing but an
    acknowledgement."""
    rt.policy.require_allowed("logistic", rt.site)
    ps = site_propensity(rt.frame, covariates, levels, beta)
    rt.frame = rt.frame.assign(ps=ps, w_ate=site_weights(rt.frame, "neoadjuvant", ps, "ATE", p_treated),
                               w_ato=site_weights(rt.frame, "neoadjuvant", ps, "ATO"))
    return Message("logistic", rt.site, "weights_ready", {"ready": True})


def _rows_with(rt: SiteRuntime, time: str, event: str) -> pd.DataFrame:
    return rt.frame[rt.frame[time].notna() & rt.frame[event].notna()]


@site_step("cox_step")
def _cox_step(rt: SiteRuntime, time: str, event: str, covariates: Sequence[str], levels: dict,
              beta: Sequence[float], weights: str | None = None) -> Message:
    return site_cox_stratified_step(_rows_with(rt, time, event), time, event, covariates, levels, beta,
                                    site=rt.site, weights=weights, policy=rt.policy)


@site_step("cox_robust")
def _cox_robust(rt: SiteRuntime, time: str, event: str, covariates: Sequence[str], levels: dict,
                beta: Sequence[float], weights: str | None = None) -> Message:
    return site_cox_stratified_robust(_rows_with(rt, time, event), time, event, covariates, levels, beta,
                                      site=rt.site, weights=weights, policy=rt.policy)


@site_step("webdisco_times")
def _webdisco_times(rt: SiteRuntime, time: str, event: str) -> Message:
    return site_km_times(_rows_with(rt, time, event), time, event, site=rt.site, analysis="cox_webdisco",
                         events_only=True, policy=rt.policy)


@site_step("webdisco_step")
def _webdisco_step(rt: SiteRuntime, time: str, event: str, covariates: Sequence[str], levels: dict,
                   beta: Sequence[float], grid: Sequence[float]) -> Message:
    return site_cox_webdisco_step(_rows_with(rt, time, event), time, event, covariates, levels, beta, grid,
                                  site=rt.site, policy=rt.policy)


@site_step("km_times")
def _km_times(rt: SiteRuntime, time: str, event: str) -> Message:
    return site_km_times(_rows_with(rt, time, event), time, event, site=rt.site, policy=rt.policy)


@site_step("wkm_counts")
def _wkm_counts(rt: SiteRuntime, time: str, event: str, group: str | None, grid: Sequence[float],
                weights: str) -> Message:
    return site_km_weighted_counts(_rows_with(rt, time, event), time, event, group, grid, weights, site=rt.site,
                                   policy=rt.policy)


@site_step("wkm_robust")
def _wkm_robust(rt: SiteRuntime, time: str, event: str, group: str | None, grid: Sequence[float], weights: str,
                broadcast: dict) -> Message:
    return site_km_weighted_robust(_rows_with(rt, time, event), time, event, group, grid, weights, broadcast,
                                   site=rt.site, policy=rt.policy)


@site_step("cif_counts")
def _cif_counts(rt: SiteRuntime, time: str, event_type: str, group: str, grid: Sequence[float]) -> Message:
    return site_cif_counts(rt.frame[rt.frame[time].notna()], time, event_type, group, grid, site=rt.site,
                           policy=rt.policy)


@site_step("balance")
def _balance(rt: SiteRuntime, rows: Sequence, weights: str | None) -> Message:
    w = None if weights is None else rt.frame[weights].to_numpy(dtype=float)
    return site_balance(rt.frame, "neoadjuvant", [tuple(x) for x in rows], w, site=rt.site, policy=rt.policy)


@site_step("km_counts")
def _km_counts(rt: SiteRuntime, time: str, event: str, group: str | None, grid: Sequence[float]) -> Message:
    return site_km_counts(_rows_with(rt, time, event), time, event, group, grid, site=rt.site, policy=rt.policy)


# ---------------------------------------------------------------------------------------- coordinator
@dataclass
class FederatedComparison:
    """What :func:`run_comparison` computed: tables in the layout of `latc analyze`'s
    (``comparative/hazard_ratios`` rows, ``comparative/km_curves``, ``comparative/logrank``), what
    was not computed and why, and the run's message statistics."""

    tables: dict[str, pd.DataFrame]
    not_computed: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0

    def primary(self) -> pd.Series:
        hr = self.tables["comparative/hazard_ratios"]
        return hr[hr["primary"]].iloc[0]


class _Rounds:
    """Counts the rounds a coordinator asks for."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.sites = channel.sites()
        self.n = 0

    def all(self, step: str, **params: Any) -> list[Message]:
        self.n += 1
        replies = self.channel.ask({s: Request(step, params, self.n) for s in self.sites})
        return [replies[s] for s in self.sites]

    def lockstep(self, fits: Sequence[Any]) -> list[Any]:
        """Independent fits side by side, one round per step of all of them (``_lockstep``)."""
        return lockstep(lambda step, params: self.all(step, **params), fits)


def _usable(r: _Rounds, covariates: list[str]) -> tuple[list[str], dict[str, str]]:
    """The confounders that vary in the pooled rows (as ``usable_covariates``' constant rule)."""
    msgs = check_messages(r.all("levels", covariates=covariates), "design_levels")
    kept, dropped = [], {}
    for c in covariates:
        if msgs[0].payload["kinds"][c] == "categorical":
            n = len(set().union(*(m.payload["levels"][c] for m in msgs)))
        else:
            two = [m.payload["two_values"][c] for m in msgs]
            n = 3 if any(t is None for t in two) else len(set().union(*map(set, two)))
        if n < 2:
            dropped[c] = "constant in the analysed patients"
        else:
            kept.append(c)
    numeric = [c for c in kept if msgs[0].payload["kinds"][c] == "numeric"]
    same = [{tuple(p) for p in m.payload["pairs"]} for m in r.all("identical", covariates=numeric)]
    everywhere = set.intersection(*same) if same else set()
    out, seen = [], []
    for c in kept:
        twin = next((k for k in seen if (k, c) in everywhere), None)
        if twin is not None:
            dropped[c] = f"identical to {twin} in the analysed patients"
            continue
        if c in numeric:
            seen.append(c)
        out.append(c)
    return out, dropped


def _n_terms(covariates: list[str], levels: dict) -> int:
    """Model-matrix columns of ``covariates`` under the pooled coding (one per numeric covariate,
    levels − 1 per categorical one; ``site_design``'s columns without the intercept)."""
    return sum(1 if levels[c] is None else len(levels[c]) - 1 for c in covariates)


def _cox(ask: Ask, time: str, event: str, covariates: list[str], levels: dict, weights: str | None,
         conf_level: float) -> tuple[pd.DataFrame, dict]:
    """A center-stratified Cox model: Newton steps on summed (ℓ, U, I), robust meat when weighted."""
    p = _n_terms(covariates, levels)
    names: list[str] = []
    n_events: dict[str, int] = {}

    def evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        msgs = ask("cox_step", time=time, event=event, covariates=covariates, levels=levels, beta=beta,
                   weights=weights)
        ok = check_messages(msgs, "cox_stratified")
        names[:] = ok[0].payload["names"]
        n_events.update(n=sum(m.payload["n"] for m in ok), events=sum(m.payload["events"] for m in ok))
        return combine_cox_step(ok)

    fit = newton_cox(evaluate, p)
    robust = None
    if weights is not None:
        meat = ask("cox_robust", time=time, event=event, covariates=covariates, levels=levels,
                   beta=fit["coef"], weights=weights)
        robust = combine_cox_robust(meat, fit["var"])
    return cox_summary(fit, names, robust, conf_level), {**n_events, "iterations": fit["iterations"]}


def _cox_unstratified(ask: Ask, time: str, event: str, levels: dict, conf_level: float
                      ) -> tuple[pd.DataFrame, dict]:
    """The unadjusted (cohort-only, unstratified) model by WebDISCO (Lu et al. 2015): the pooled
    event-time grid, then Newton steps on the coordinator's Efron sums of the sites' per-time
    risk-set sums (``site_cox_webdisco_step``); model-based SE, as the pooled naive row."""
    grid = combine_time_grid(ask("webdisco_times", time=time, event=event))
    names: list[str] = []
    n_events: dict[str, int] = {}

    def evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ok = check_messages(ask("webdisco_step", time=time, event=event, covariates=["neoadjuvant"], levels=levels,
                                beta=beta, grid=grid), "cox_webdisco")
        names[:] = ok[0].payload["names"]
        n_events.update(n=sum(m.payload["n"] for m in ok), events=sum(m.payload["events"] for m in ok))
        c = combine_cox_webdisco_step(ok, beta)
        return c["loglik"], c["score"], c["information"]

    fit = newton_cox(evaluate, 1)
    return cox_summary(fit, names, None, conf_level), {**n_events, "iterations": fit["iterations"]}


def _hr_row(summ: pd.DataFrame, info: dict, endpoint: str, analysis: str, covariates: list[str],
            weights: str | None) -> dict[str, Any]:
    s = summ.loc["neoadjuvant"]
    robust = "robust_se" in summ.columns
    return {"endpoint": endpoint, "analysis": analysis, "estimand": ESTIMANDS[analysis], "hr": float(s["exp_coef"]),
            "lower": float(s["lower"]), "upper": float(s["upper"]), "p": float(s["p"]), "log_hr": float(s["coef"]),
            "se": float(s["robust_se"] if robust else s["se"]),
            "se_type": "robust (sandwich)" if robust else "model-based", "n": int(info["n"]),
            "events": int(info["events"]), "strata": "" if analysis == "naive" else "center", "cluster": "",
            "weights": weights or "",
            "covariates": ", ".join(["neoadjuvant"] + covariates if analysis == "adjusted" else ["neoadjuvant"]),
            "primary": (endpoint, analysis) == ("recurrence", "iptw_ate"), "note": ""}


def _hazard_ratios(r: _Rounds, covs: list[str], levels: dict, pooled_small: int, conf_level: float,
                   not_computed: dict[str, str]) -> pd.DataFrame | None:
    """``comparative/hazard_ratios``: per endpoint the unadjusted model (WebDISCO) and — when every
    center stratum is one site — the adjusted, IPTW and overlap-weighted center-stratified models,
    all fitted in lock-step (one round per Newton step of all of them); rows in the pooled order."""
    specs: list[tuple[str, str, str | None, Any]] = []
    for ep, (time, event) in ENDPOINTS.items():
        specs.append((ep, "naive", None, lambda ask, t=time, e=event: _cox_unstratified(ask, t, e, levels, conf_level)))
        if pooled_small > 1:
            continue
        for analysis, terms, w in (("adjusted", ["neoadjuvant"] + covs, None), ("iptw_ate", ["neoadjuvant"], "w_ate"),
                                   ("overlap_ato", ["neoadjuvant"], "w_ato")):
            specs.append((ep, analysis, w, lambda ask, t=time, e=event, x=terms, w=w:
                          _cox(ask, t, e, x, levels, w, conf_level)))
    if pooled_small > 1:
        not_computed["comparative/hazard_ratios stratified"] = (
            f"{pooled_small} sites hold centers pooled into one stratum (fewer than 20 patients or one cohort): "
            "a center-stratified model is not a product over sites")
    rows = []
    for (ep, analysis, w, _), res in zip(specs, r.lockstep([f for *_, f in specs]), strict=True):
        if isinstance(res, FederatedDisclosureError):
            not_computed[f"comparative/hazard_ratios {ep} {analysis}"] = str(res)
        elif isinstance(res, Exception):
            raise res
        else:
            rows.append(_hr_row(*res, ep, analysis, covs, w))
    return pd.DataFrame(rows) if rows else None


def _km(r: _Rounds, endpoint: str, time: str, event: str, conf_type: str, conf_level: float, grid: list[float]
        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = r.all("km_counts", time=time, event=event, group="cohort", grid=grid)
    km = combine_km(counts, grid, conf_type=conf_type, conf_level=conf_level)
    lr = combine_logrank(counts)
    return (km.table.assign(endpoint=endpoint, weighting="unweighted"),
            lr.to_frame().assign(endpoint=endpoint))


def _km_iptw(r: _Rounds, endpoint: str, time: str, event: str, conf_type: str, conf_level: float,
             grid: list[float]) -> pd.DataFrame:
    args = {"time": time, "event": event, "group": "cohort", "grid": grid, "weights": "w_ate"}
    counts = r.all("wkm_counts", **args)
    robust = r.all("wkm_robust", **args, broadcast=km_weighted_broadcast(counts))
    km = combine_km_weighted(counts, robust, grid, conf_type=conf_type, conf_level=conf_level)
    return km.table.assign(endpoint=endpoint, weighting="iptw_ate")


def _balance_tables(r: _Rounds, ps_covs: list[str], tables: dict[str, pd.DataFrame],
                    not_computed: dict[str, str]) -> None:
    """``comparative/balance`` (IPTW and overlap samples) and ``effective_sample_size``, as the
    analysis's (cobalt conventions, binary rows standardized); the KS statistic of a continuous
    covariate needs the pooled weighted ECDF and is left empty."""
    rows = balance_rows(r.all("levels", covariates=ps_covs))
    tabs, ess = [], []
    try:
        for name, col, est in (("unadjusted", None, "ATE"), ("iptw_ate", "w_ate", "ATE"), ("overlap_ato", "w_ato", "ATO")):
            msgs = r.all("balance", rows=rows, weights=col)
            e = combine_effective_sample_size(msgs).reset_index()
            e.insert(0, "sample", name)
            ess.append(e)
            if col is not None:
                t = combine_balance(msgs, rows, estimand=est, binary="std").reset_index()
                t.insert(0, "sample", name)
                tabs.append(t)
    except FederatedDisclosureError as exc:
        not_computed["comparative/balance"] = str(exc)
        return
    tables["comparative/balance"] = pd.concat(tabs, ignore_index=True)
    tables["comparative/effective_sample_size"] = pd.concat(ess, ignore_index=True)
    not_computed["comparative/balance ps_matched"] = NOT_COMPUTED["comparative/matching"]


def _table_one(r: _Rounds, tables: dict[str, pd.DataFrame], not_computed: dict[str, str]) -> None:
    """``baseline/table1`` from per-site aggregates (``_baseline``); withheld variables listed."""
    from latc.analysis._baseline import CONTINUOUS, NONNORMAL, VARIABLES

    from ._baseline import combine_table_one

    try:
        msgs = r.all("table_one", variables=list(VARIABLES), continuous=list(CONTINUOUS), nonnormal=list(NONNORMAL))
        t, withheld = combine_table_one(msgs, list(VARIABLES), list(NONNORMAL))
    except FederatedDisclosureError as exc:
        not_computed["baseline/table1"] = str(exc)
        return
    tables["baseline/table1"] = t
    for v, why in withheld.items():
        not_computed[f"baseline/table1 {v}"] = f"withheld by a site's cell rule — {why}"


def _competing(r: _Rounds, tables: dict[str, pd.DataFrame], not_computed: dict[str, str], conf_level: float,
               pooled_small: int) -> None:
    """``competing/cif_curves`` and ``competing/gray_test`` (recurrence with death competing), as the
    analysis's competing section (``latc.analysis._competing``)."""
    from latc.analysis._competing import curves_table, gray_table

    try:
        grid = combine_time_grid(r.all("km_times", time="rec_time", event="rec_event"))
        counts = r.all("cif_counts", time="rec_time", event_type="rec_type", group="cohort", grid=grid)
        tables["competing/cif_curves"] = curves_table(combine_cif(counts, grid, conf_level=conf_level))
        parts = [combine_gray(counts, grid).assign(strata="none")]
        if pooled_small > 1:
            not_computed["competing/gray_test center"] = ("centers pooled into one stratum span several sites: the "
                                                          "center-stratified test is not a sum over sites")
        elif len(r.sites) > 1:
            parts.append(combine_gray(counts, grid, by_site=True).assign(strata="center"))
        tables["competing/gray_test"] = gray_table(parts)
    except FederatedDisclosureError as exc:
        not_computed["competing"] = str(exc)


def run_comparison(channel: Channel, *, conf_type: str = "log", conf_level: float = 0.95,
                   stabilize: bool = True, baseline: bool = False) -> FederatedComparison:
    """The comparative analysis of the pooled rows, computed from the sites' aggregates (module
    docstring); ``baseline``: Table 1 by cohort too (``baseline/table1``; sites built with
    :func:`site_runtime`), and the response, surgical-outcome and adverse-event rates (``_rates``). Raises :class:`~latc.federated.FederatedSiteError` when a site stops answering and
    :class:`~latc.federated.FederatedDisclosureError` when a site withholds a cell."""
    from latc.analysis._frames import CONFOUNDERS

    r = _Rounds(channel)
    not_computed = dict(NOT_COMPUTED)
    centers = [m.payload["centers"] for m in r.all("center")]
    pooled_small = sum("pooled_small_centers" in c for c in centers)
    center_levels = sorted(set().union(*map(set, centers)))
    covs, dropped = _usable(r, list(CONFOUNDERS))
    ps_covs = covs + (["center"] if len(center_levels) > 1 else [])
    levels = combine_levels(check_messages(r.all("levels", covariates=ps_covs), "design_levels"))

    def ps_evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return combine_logistic_step(r.all("logistic_step", outcome="neoadjuvant", covariates=ps_covs,
                                           levels=levels, beta=beta))

    p = 1 + _n_terms(ps_covs, levels)
    ps_fit = newton_logistic(ps_evaluate, p)
    treated = combine_counts(r.all("counts", variable="neoadjuvant", by=None))
    n_all = float(treated["n"].sum())
    n_treated = float(treated.loc[treated["level"].astype(str) == "1", "n"].sum())
    p_treated = n_treated / n_all if stabilize else None
    r.all("weights", covariates=ps_covs, levels=levels, beta=ps_fit["coef"], p_treated=p_treated)

    tables: dict[str, pd.DataFrame] = {}
    if baseline:
        _table_one(r, tables, not_computed)
        rate_tables(r, tables, not_computed, conf_level)
    _balance_tables(r, ps_covs, tables, not_computed)
    hr = _hazard_ratios(r, covs, {**levels, "neoadjuvant": None}, pooled_small, conf_level, not_computed)
    if hr is not None:
        tables["comparative/hazard_ratios"] = hr
    curves, tests = [], []
    for ep in ("recurrence", "overall_survival"):
        time, event = ENDPOINTS[ep]
        try:
            grid = combine_time_grid(r.all("km_times", time=time, event=event))
        except FederatedDisclosureError as exc:
            not_computed[f"comparative/km_curves {ep}"] = str(exc)
            continue
        try:
            c, t = _km(r, ep, time, event, conf_type, conf_level, grid)
            curves.append(c)
            tests.append(t)
        except FederatedDisclosureError as exc:
            not_computed[f"comparative/km_curves {ep} unweighted"] = str(exc)
        try:
            curves.append(_km_iptw(r, ep, time, event, conf_type, conf_level, grid))
        except FederatedDisclosureError as exc:
            not_computed[f"comparative/km_curves {ep} iptw_ate"] = str(exc)
    if curves:
        tables["comparative/km_curves"] = pd.concat(curves, ignore_index=True)
    if tests:
        tables["comparative/logrank"] = pd.concat(tests, ignore_index=True)
    _competing(r, tables, not_computed, conf_level, pooled_small)
    params = {"confounders": covs, "dropped": dropped, "ps_covariates": ps_covs, "stabilize": stabilize,
              "p_treated": p_treated, "ps_iterations": ps_fit["iterations"], "conf_type": conf_type,
              "conf_level": conf_level, "strata": "center (= site)", "sites": r.sites}
    return FederatedComparison(tables=tables, not_computed=not_computed, parameters=params, rounds=r.n)

