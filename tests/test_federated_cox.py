"""Federated Cox regression equals latc.stats.cox on the pooled rows: site-stratified (summed score and
information) and unstratified (WebDISCO risk-set sums), Efron ties, model-based and robust SEs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc import federated as F
from latc import stats
from latc.federated import _cox, _design, _descriptive, _logistic, _survival
from latc.federated._synthetic import demo_frame, synthetic_derived

ATOL = dict(rtol=0, atol=1e-8)
COVS = ["neoadjuvant", "age_per10", "sex", "ecog", "histology_group"]
T, E = "rfs_time", "rfs_event"
WEBDISCO_OPT_IN = F.DisclosurePolicy(min_cell_by_analysis={"cox_webdisco": 1})


@pytest.fixture(scope="module")
def data():
    pooled = demo_frame(synthetic_derived(800, 8, 1).subject)
    pooled["w"] = 0.5 + pooled["age"] / 80          # non-integer case weights (IPTW-like)
    sites = F.split_by_site(pooled)
    levels = F.combine_levels([F.transport(F.site_levels(d, COVS, site=s)) for s, d in sites.items()])
    names = F.site_design(sites["C01"], COVS, levels)[1]
    return pooled, sites, levels, names


def _stratified(sites, levels, weights=None, cluster=None):
    def evaluate(beta):
        return F.combine_cox_step([F.transport(F.site_cox_stratified_step(
            d, T, E, COVS, levels, beta, site=s, weights=weights)) for s, d in sites.items()])
    fit = F.newton_cox(evaluate, len(F.site_design(next(iter(sites.values())), COVS, levels)[1]))
    meat = [F.transport(F.site_cox_stratified_robust(d, T, E, COVS, levels, fit["coef"], site=s, weights=weights,
                                                     cluster=cluster)) for s, d in sites.items()]
    return fit, F.combine_cox_robust(meat, fit["var"])


def _webdisco(sites, levels, weights=None, coarsen=None, policy=WEBDISCO_OPT_IN):
    grid = F.combine_time_grid([F.transport(F.site_km_times(d, T, E, site=s, analysis="cox_webdisco",
                                                            events_only=True, coarsen=coarsen, policy=policy))
                                for s, d in sites.items()])

    def step(beta):
        return F.combine_cox_webdisco_step([F.transport(F.site_cox_webdisco_step(
            d, T, E, COVS, levels, beta, grid, site=s, weights=weights, coarsen=coarsen, policy=policy))
            for s, d in sites.items()], beta)

    def evaluate(beta):
        r = step(beta)
        return r["loglik"], r["score"], r["information"]
    fit = F.newton_cox(evaluate, len(F.site_design(next(iter(sites.values())), COVS, levels)[1]))
    broadcast = F.transport(F.Message("cox_webdisco", "coordinator", "broadcast",
                                      step(fit["coef"])["broadcast"])).payload
    meat = [F.transport(F.site_cox_webdisco_robust(d, T, E, COVS, levels, fit["coef"], grid, broadcast, site=s,
                                                   weights=weights, coarsen=coarsen, policy=policy))
            for s, d in sites.items()]
    return fit, F.combine_cox_robust(meat, fit["var"])


def _check(fit, robust_var, names, ref):
    summ = F.cox_summary(fit, names, robust_var)
    assert list(summ.index) == list(ref.summary.index)
    np.testing.assert_allclose(summ.to_numpy(), ref.summary[summ.columns].to_numpy(), **ATOL)
    np.testing.assert_allclose(fit["loglik"], ref.loglik, **ATOL)
    np.testing.assert_allclose(fit["score_test"]["chisq"], ref.score_test["chisq"], **ATOL)
    assert fit["iterations"] == ref.iterations


def test_design_coding_matches_cox(data):
    pooled, _, levels, names = data
    assert names == stats.cox(pooled, T, E, COVS).names


@pytest.mark.parametrize("weights", [None, "w"])
def test_site_stratified_cox_equals_pooled_strata_center(data, weights):
    pooled, sites, levels, names = data
    fit, rv = _stratified(sites, levels, weights)
    _check(fit, rv, names, stats.cox(pooled, T, E, COVS, strata="center_id", weights=weights, robust=True))


def test_site_stratified_cox_cluster_center_robust(data):
    pooled, sites, levels, names = data
    fit, rv = _stratified(sites, levels, "w", cluster="center_id")
    _check(fit, rv, names, stats.cox(pooled, T, E, COVS, strata="center_id", weights="w", cluster="center_id"))


@pytest.mark.parametrize("weights", [None, "w"])
def test_webdisco_unstratified_cox_equals_pooled(data, weights):
    pooled, sites, levels, names = data
    fit, rv = _webdisco(sites, levels, weights)
    _check(fit, rv, names, stats.cox(pooled, T, E, COVS, weights=weights, robust=True))


def test_webdisco_on_coarsened_times_equals_pooled_coarsened(data):
    pooled, sites, levels, names = data
    fit, rv = _webdisco(sites, levels, coarsen=3.0)
    coarse = pooled.assign(rfs_time=F.coarsen_times(pooled[T].to_numpy(), 3.0))
    _check(fit, rv, names, stats.cox(coarse, T, E, COVS, robust=True))


def test_webdisco_default_policy_suppresses_lone_patients(data):
    _, sites, levels, names = data
    grid = F.combine_time_grid([F.site_km_times(d, T, E, site=s, analysis="cox_webdisco", events_only=True)
                                for s, d in sites.items()])
    msgs = [F.transport(F.site_cox_webdisco_step(d, T, E, COVS, levels, np.zeros(len(names)), grid, site=s))
            for s, d in sites.items()]
    assert all(m.suppressed and "A1" not in m.payload for m in msgs)
    with pytest.raises(F.FederatedDisclosureError, match="patients leaving the risk set"):
        F.combine_cox_webdisco_step(msgs, np.zeros(len(names)))


def test_stratified_small_site_is_suppressed(data):
    _, sites, levels, names = data
    d = sites["C02"]
    tiny = pd.concat([d[d[E] == 0], d[d[E] == 1].iloc[:2]])          # a site with 2 events
    m = F.site_cox_stratified_step(tiny, T, E, COVS, levels, np.zeros(len(names)), site="C02")
    assert m.suppressed and "score" not in m.payload
    with pytest.raises(F.FederatedDisclosureError, match="'C02'.*'cox_stratified'.*events"):
        F.combine_cox_step([m])


def test_no_site_function_receives_another_sites_rows(data, monkeypatch):
    """Every site_* call of a whole federated run gets the rows of the site it runs for only."""
    _, sites, levels, _ = data
    seen = []
    real = F.site_rows

    def spy(df, site, policy, analysis, columns=(), site_column="center_id"):
        seen.append((site, analysis, frozenset(df["center_id"].astype(str))))
        return real(df, site, policy, analysis, columns, site_column)

    for mod in (_cox, _design, _descriptive, _logistic, _survival):
        monkeypatch.setattr(mod, "site_rows", spy)
    _stratified(sites, levels)
    _webdisco(sites, levels)
    [F.site_logistic_step(d, "neoadjuvant", ["age_per10"], {"age_per10": None}, [0.0, 0.0], site=s)
     for s, d in sites.items()]
    [F.site_moments(d, ["age"], "cohort", site=s) for s, d in sites.items()]
    assert {a for _, a, _ in seen} >= {"cox_stratified", "cox_webdisco", "logistic", "moments"}
    assert all(rows == {site} for site, _, rows in seen)


def test_cox_messages_round_trip(data):
    _, sites, levels, names = data
    beta = np.linspace(-0.2, 0.2, len(names))
    for m in (F.site_cox_stratified_step(sites["C05"], T, E, COVS, levels, beta, site="C05"),
              F.site_cox_stratified_robust(sites["C05"], T, E, COVS, levels, beta, site="C05")):
        back = F.Message.from_json(m.to_json())
        assert back.to_dict() == m.to_dict()
        np.testing.assert_array_equal(back.array(next(k for k in ("information", "meat") if k in m.payload)),
                                      m.array(next(k for k in ("information", "meat") if k in m.payload)))
