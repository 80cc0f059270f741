"""GLORE logistic regression equals the pooled propensity model (latc.stats.propensity, R glm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc import federated as F
from latc import stats
from latc.federated._synthetic import demo_frame, synthetic_derived
from latc.stats._propensity import design_matrix

ATOL = dict(rtol=0, atol=1e-8)
PS_COVS = ["age_per10", "sex", "ecog", "histology_group", "t4b", "n_invaded", "baseline_resectability", "center_id"]


@pytest.fixture(scope="module")
def fitted():
    pooled = demo_frame(synthetic_derived(800, 8, 1).subject).dropna(subset=PS_COVS)
    sites = F.split_by_site(pooled)
    levels = F.combine_levels([F.transport(F.site_levels(d, PS_COVS, site=s)) for s, d in sites.items()])
    names = F.site_design(sites["C01"], PS_COVS, levels, style="glm")[1]

    def evaluate(beta):
        return F.combine_logistic_step([F.transport(F.site_logistic_step(d, "neoadjuvant", PS_COVS, levels, beta,
                                                                         site=s)) for s, d in sites.items()])
    fit = F.newton_logistic(evaluate, len(names))
    return pooled, sites, levels, names, fit


def test_design_matches_propensity_design(fitted):
    pooled, _, _, names, _ = fitted
    assert names == list(design_matrix(pooled, PS_COVS).columns)


def test_glore_propensity_scores_equal_pooled_glm(fitted):
    pooled, sites, levels, _, fit = fitted
    for scale in ("logit", "probability"):
        ref = stats.propensity(pooled, "neoadjuvant", PS_COVS, scale=scale)
        for s, d in sites.items():
            ps = F.site_propensity(d, PS_COVS, levels, fit["coef"], scale=scale)   # computed at the site
            np.testing.assert_allclose(ps, ref.loc[d.index].to_numpy(), **ATOL)


def test_glore_coefficients_and_se_equal_statsmodels_glm(fitted):
    import statsmodels.api as sm
    pooled, _, _, _, fit = fitted
    g = sm.GLM(pooled["neoadjuvant"].to_numpy(), design_matrix(pooled, PS_COVS).to_numpy(),
               family=sm.families.Binomial()).fit(tol=1e-10, maxiter=100)
    np.testing.assert_allclose(fit["coef"], g.params, **ATOL)
    np.testing.assert_allclose(fit["se"], g.bse, **ATOL)
    np.testing.assert_allclose(fit["loglik"], g.llf, **ATOL)
    assert fit["iterations"] <= 12


def test_logistic_small_outcome_cell_suppressed(fitted):
    _, sites, levels, names, _ = fitted
    d = sites["C04"]
    tiny = pd.concat([d[d["neoadjuvant"] == 0], d[d["neoadjuvant"] == 1].iloc[:2]])
    m = F.site_logistic_step(tiny, "neoadjuvant", ["age_per10"], {"age_per10": None}, [0.0, 0.0], site="C04")
    assert m.suppressed and "gradient" not in m.payload
    with pytest.raises(F.FederatedDisclosureError, match="neoadjuvant=1"):
        F.combine_logistic_step([F.transport(m)])
    back = F.Message.from_json(F.site_logistic_step(d, "neoadjuvant", PS_COVS, levels, np.zeros(len(names)),
                                                    site="C04").to_json())
    assert len(back.payload["hessian"]) == len(names)
