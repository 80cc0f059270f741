"""IPTW / overlap weights computed at the sites from the GLORE propensity score, the weighted balance
table and the IPTW Cox model (site strata, robust SE) equal latc.stats on the pooled rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc import federated as F
from latc import stats
from latc.federated._synthetic import demo_frame, synthetic_derived

ATOL = dict(rtol=0, atol=1e-8)
PS_COVS = ["age_per10", "sex", "ecog", "histology_group", "t4b", "n_invaded", "baseline_resectability"]
OPEN = F.DisclosurePolicy(min_cell=1)


@pytest.fixture(scope="module")
def fed():
    pooled = demo_frame(synthetic_derived(800, 8, 1).subject).dropna(subset=PS_COVS)
    sites = F.split_by_site(pooled)
    lev_msgs = [F.transport(F.site_levels(d, PS_COVS, site=s)) for s, d in sites.items()]
    levels = F.combine_levels(lev_msgs)
    p = len(F.site_design(sites["C01"], PS_COVS, levels, style="glm")[1])
    fit = F.newton_logistic(lambda b: F.combine_logistic_step(
        [F.transport(F.site_logistic_step(d, "neoadjuvant", PS_COVS, levels, b, site=s)) for s, d in sites.items()]), p)
    counts = F.combine_counts([F.transport(F.site_counts(d, "neoadjuvant", None, site=s)) for s, d in sites.items()])
    p_treated = float(counts.loc[counts["level"] == "1", "n"].iloc[0] / counts["n"].sum())
    ps = {s: F.site_propensity(d, PS_COVS, levels, fit["coef"]) for s, d in sites.items()}
    return pooled, sites, lev_msgs, ps, p_treated


def _pooled_ps(pooled):
    return stats.propensity(pooled, "neoadjuvant", PS_COVS)


@pytest.mark.parametrize("estimand,stabilize", [("ATE", False), ("ATE", True), ("ATO", False), ("ATT", False)])
def test_site_weights_equal_pooled_weights(fed, estimand, stabilize):
    pooled, sites, _, ps, p_treated = fed
    ref = stats.weights(pooled, "neoadjuvant", ps=_pooled_ps(pooled), estimand=estimand, stabilize=stabilize)
    for s, d in sites.items():
        w = F.site_weights(d, "neoadjuvant", ps[s], estimand, p_treated if stabilize else None)
        np.testing.assert_allclose(w, ref.loc[d.index].to_numpy(), **ATOL)


@pytest.mark.parametrize("estimand", ["ATE", "ATO"])
def test_weighted_balance_equals_cobalt_style_balance(fed, estimand):
    pooled, sites, lev_msgs, ps, _ = fed
    rows = F.balance_rows(lev_msgs)
    msgs = [F.transport(F.site_balance(d, "neoadjuvant", rows, F.site_weights(d, "neoadjuvant", ps[s], estimand),
                                       site=s, policy=OPEN)) for s, d in sites.items()]
    tab = F.combine_balance(msgs, rows, estimand)
    w = stats.weights(pooled, "neoadjuvant", ps=_pooled_ps(pooled), estimand=estimand)
    ref = stats.balance(pooled, "neoadjuvant", PS_COVS, weights=w.to_numpy(), estimand=estimand)
    assert list(tab.index) == list(ref.index) and (tab["type"] == ref["type"]).all()
    num = [c for c in ref.columns if c not in ("type", "diff_measure") and not c.startswith("ks_")]
    np.testing.assert_allclose(tab[num].to_numpy(float), ref[num].to_numpy(float), **ATOL)
    binary = (tab["type"] == "Binary").to_numpy()
    np.testing.assert_allclose(tab.loc[binary, ["ks_un", "ks_adj"]].to_numpy(float),
                               ref.loc[binary, ["ks_un", "ks_adj"]].to_numpy(float), **ATOL)
    ess = stats.effective_sample_size(pooled, "neoadjuvant", weights=w.to_numpy())
    np.testing.assert_allclose(F.combine_effective_sample_size(msgs).to_numpy(), ess.to_numpy(), **ATOL)
    assert not any(isinstance(v, pd.DataFrame) for v in tab.attrs.values())


def test_iptw_cox_site_strata_robust_equals_pooled(fed):
    """The study's primary comparison: IPTW (ATE) Cox, center strata, robust SE."""
    pooled, sites, _, ps, _ = fed
    covs = ["neoadjuvant"]
    for s, d in sites.items():
        d["w_ate"] = F.site_weights(d, "neoadjuvant", ps[s], "ATE")
    levels = {"neoadjuvant": None}
    fit = F.newton_cox(lambda b: F.combine_cox_step([F.transport(F.site_cox_stratified_step(
        d, "rfs_time", "rfs_event", covs, levels, b, site=s, weights="w_ate")) for s, d in sites.items()]), 1)
    rv = F.combine_cox_robust([F.transport(F.site_cox_stratified_robust(
        d, "rfs_time", "rfs_event", covs, levels, fit["coef"], site=s, weights="w_ate")) for s, d in sites.items()],
        fit["var"])
    ref = stats.cox(pooled.assign(w_ate=stats.weights(pooled, "neoadjuvant", ps=_pooled_ps(pooled)).to_numpy()),
                    "rfs_time", "rfs_event", covs, strata="center_id", weights="w_ate")
    summ = F.cox_summary(fit, ["neoadjuvant"], rv)
    assert ref.robust
    np.testing.assert_allclose(summ.to_numpy(), ref.summary[summ.columns].to_numpy(), **ATOL)
    np.testing.assert_allclose(fit["loglik"], ref.loglik, **ATOL)


def test_balance_small_cells_suppressed_by_default(fed):
    _, sites, lev_msgs, ps, _ = fed
    rows = F.balance_rows(lev_msgs)
    msgs = [F.site_balance(d, "neoadjuvant", rows, None, site=s) for s, d in sites.items()]
    assert any(m.suppressed for m in msgs)
    with pytest.raises(F.FederatedDisclosureError, match="'balance'"):
        F.combine_balance(msgs, rows)
