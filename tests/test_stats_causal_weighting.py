"""IPTW / ATT / overlap weights and cobalt-style balance against R (lalonde).

Goldens: tests/r_causal/golden_propensity_weights.R (weights hand-coded in R from
glm(..., family = binomial) fitted values with WeightIt's formulas; cobalt bal.tab formulas
hand-coded in R) and tests/r_causal/golden_matchit_balance.R (MatchIt's summary()).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import (StatsInputError, balance, effective_sample_size, love_data, match,
                        weights)

GOLD = Path(__file__).parent / "data" / "r_golden_causal"
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(GOLD / "lalonde.csv").set_index("unit")


@pytest.fixture(scope="module")
def gold() -> pd.DataFrame:
    return pd.read_csv(GOLD / "glm_ps_weights.csv").set_index("unit")


@pytest.mark.parametrize("column, kwargs", [
    ("w_ate", {"estimand": "ATE"}),                       # R: ifelse(t == 1, 1/e, 1/(1-e))
    ("w_att", {"estimand": "ATT"}),                       # R: ifelse(t == 1, 1, e/(1-e))
    ("w_ato", {"estimand": "ATO"}),                       # R: ifelse(t == 1, 1-e, e)
    ("w_ate_stabilized", {"estimand": "ATE", "stabilize": True}),   # x mean(t) or 1 - mean(t)
    ("w_ate_trim_q05", {"estimand": "ATE", "trim": 0.05}),          # Sturmer, quantile type 7
    ("w_ate_trim_0.1_0.9", {"estimand": "ATE", "trim": (0.1, 0.9)}),  # Crump fixed bounds
    # truncation as WeightIt trim(w, at = q): cap at quantile(w, q, type = 3) (controls only for ATT)
    ("w_ate_stabilized_truncate_0.99", {"estimand": "ATE", "stabilize": True, "truncate": 0.99}),
    ("w_ate_truncate_0.95", {"estimand": "ATE", "truncate": 0.95}),
    ("w_att_truncate_0.9", {"estimand": "ATT", "truncate": 0.9}),
])
def test_weights_match_r(lalonde, gold, column, kwargs):
    w = weights(lalonde, "treat", COVS, **kwargs)
    assert w.index.equals(lalonde.index)
    assert np.allclose(w.to_numpy(), gold[column].to_numpy(), rtol=1e-6, atol=1e-9)
    assert ((w == 0) == (gold[column] == 0)).all()


def test_atc_weights_from_r_propensity_scores(lalonde, gold):
    # WeightIt get_w_from_ps(ps, treat, estimand = "ATC"): treated (1 - e) / e, control 1, with e
    # R's glm fitted values (glm_ps_weights.csv, column ps)
    e = gold["ps"].to_numpy()
    t = lalonde["treat"].to_numpy() == 1
    w = weights(lalonde, "treat", COVS, estimand="ATC")
    assert np.allclose(w[t], (1 - e[t]) / e[t], rtol=1e-6)
    assert (w[~t] == 1).all()
    # the ATT of the swapped groups, and truncation caps the treated (the weights that vary)
    assert np.allclose(w, weights(lalonde.assign(treat=1 - lalonde["treat"]), "treat", COVS, estimand="ATT"),
                       rtol=1e-8)
    wt = weights(lalonde, "treat", COVS, estimand="ATC", truncate=0.9)
    cap = np.quantile(w[t], 0.9, method="closest_observation")
    assert np.allclose(wt[t], np.minimum(w[t], cap)) and (wt[~t] == 1).all()


def test_weights_from_given_ps_equal_estimated(lalonde, gold):
    w = weights(lalonde, "treat", ps=gold["ps"].to_numpy(), estimand="ATO")
    assert np.allclose(w, gold["w_ato"], rtol=1e-12)


def test_overlap_weights_balance_means_exactly(lalonde):
    # Li, Morgan & Zaslavsky (JASA 2018): overlap weights from a logistic PS give exact mean balance
    # on every covariate of the PS model.
    w = weights(lalonde, "treat", COVS, estimand="ATO")
    b = balance(lalonde, "treat", COVS, weights=w, estimand="ATO")
    assert np.abs(b["diff_adj"]).max() < 1e-6


@pytest.mark.parametrize("bad, message", [
    ({"ps": np.r_[0.0, np.full(613, 0.5)]}, "strictly between 0 and 1"),
    ({"ps": np.full(614, np.nan)}, "missing"),
    ({"estimand": "ATX"}, "estimand"),
    ({"trim": 0.7}, "trim"),
    ({"truncate": 0.4}, "truncate"),
    ({"truncate": 0.99, "trim": 0.05}, "not both"),
])
def test_weights_bad_input(lalonde, bad, message):
    kwargs = {"covariates": COVS} | bad
    with pytest.raises(StatsInputError, match=message):
        weights(lalonde, "treat", **kwargs)


def test_weights_no_overlap_is_an_error(lalonde):
    ps = np.where(lalonde["treat"] == 1, 0.8, 0.2)
    with pytest.raises(StatsInputError, match="do not overlap"):
        weights(lalonde, "treat", ps=ps)


def test_balance_iptw_equals_hand_coded_cobalt(lalonde):
    # cobalt bal.tab(weightit(..., estimand = "ATE")) conventions, hand-coded in R:
    # pooled SD denominator, binary = "raw", weighted variance ratio, weighted KS, Kish ESS.
    g = pd.read_csv(GOLD / "cobalt_hand_iptw_balance.csv").set_index("variable")
    w = weights(lalonde, "treat", COVS)
    b = balance(lalonde, "treat", COVS, weights=w).loc[g.index]
    assert np.allclose(b["mean_treated_adj"], g["mean_treated"], rtol=1e-6)
    assert np.allclose(b["diff_adj"], g["diff"], atol=1e-6)
    vr = g["var_ratio"].notna()
    assert np.allclose(b.loc[vr, "variance_ratio_adj"], g.loc[vr, "var_ratio"], rtol=1e-6)
    assert b.loc[~vr, "variance_ratio_adj"].isna().all()
    assert np.allclose(b["ks_adj"], g["ks"], atol=1e-6)
    obs = effective_sample_size(lalonde, "treat", weights=w)
    assert obs.loc["Adjusted", "control"] == pytest.approx(g["ess_control"].iloc[0], rel=1e-6)
    assert obs.loc["Adjusted", "treated"] == pytest.approx(g["ess_treated"].iloc[0], rel=1e-6)
    assert (b.loc[b["type"] == "Binary", "diff_measure"] == "raw difference in proportions").all()
    # binary="std" uses the same pooled denominator for binary rows
    bs = balance(lalonde, "treat", COVS, weights=w, binary="std").loc[g.index]
    assert np.allclose(bs["diff_adj"], g["smd_std"], atol=1e-6)


@pytest.mark.parametrize("name", ["caliper_snapshot", "exact_ratio2_snapshot"])
def test_balance_matched_equals_matchit_summary(lalonde, name):
    # MatchIt summary() (ATT, treated SD, binary standardized, weighted var ratio and eCDF max)
    # applied to the MatchIt >= 4.7 snapshot matchings (golden_matchit_balance.R).
    g = pd.read_csv(GOLD / f"matchit451_{name}_balance.csv")
    g = g[g["variable"] != "distance"]
    g["variable"] = g["variable"].str.replace(r"^race", "race_", regex=True)
    m = (match(lalonde, "treat", COVS, caliper=0.25) if name == "caliper_snapshot" else
         match(lalonde, "treat", COVS, ratio=2, caliper=None, exact="race", scale="probability"))
    b = balance(lalonde, "treat", COVS, weights=m, binary="std")
    assert b.attrs["method"].startswith("cobalt bal.tab conventions: estimand ATT")
    for sample, tag in (("all", "un"), ("matched", "adj")):
        gg = g[g["sample"] == sample].set_index("variable")
        bb = b.loc[gg.index]
        assert np.allclose(bb[f"mean_control_{tag}"], gg["mean_control"], rtol=1e-10)
        assert np.allclose(bb[f"diff_{tag}"], gg["smd"], atol=1e-10)
        vr = gg["var_ratio"].notna()
        assert np.allclose(bb.loc[vr, f"variance_ratio_{tag}"], gg.loc[vr, "var_ratio"], rtol=1e-10)
        assert np.allclose(bb[f"ks_{tag}"], gg["ecdf_max"], atol=1e-10)
    sizes = pd.read_csv(GOLD / f"matchit451_{name}_sizes.csv").set_index("row")
    assert m.summary.loc["Matched (ESS)", "control"] == pytest.approx(sizes.loc["Matched (ESS)", "control"], rel=1e-9)
    assert m.summary.loc["Matched", "control"] == sizes.loc["Matched", "control"]


def test_balance_without_weights_and_love_data(lalonde):
    before = balance(lalonde, "treat", COVS)
    assert "diff_adj" not in before.columns
    # raw difference in proportions for a binary covariate (cobalt default), by hand:
    t = lalonde["treat"] == 1
    assert before.loc["married", "diff_un"] == pytest.approx(
        lalonde.loc[t, "married"].mean() - lalonde.loc[~t, "married"].mean())
    after = balance(lalonde, "treat", COVS, weights=weights(lalonde, "treat", COVS, estimand="ATO"),
                    estimand="ATO")
    love = love_data(before, after)
    assert set(love["sample"]) == {"Unadjusted", "Adjusted"}
    assert len(love) == 2 * len(before)
    assert love.loc[love["sample"] == "Adjusted", "balanced"].all()         # ATO: exact balance
    assert not love.loc[love["sample"] == "Unadjusted", "balanced"].all()   # lalonde is imbalanced
    assert (love["threshold"] == 0.1).all()
    assert love_data(after).equals(love)


def test_effective_sample_size_is_kish(lalonde):
    w = pd.Series(np.where(lalonde["treat"] == 1, 1.0, 2.0), index=lalonde.index)
    w.iloc[-1] = 4.0                                          # one control weighs more
    ess = effective_sample_size(lalonde, "treat", weights=w)
    wc = w[lalonde["treat"] == 0]
    assert ess.loc["Adjusted", "control"] == pytest.approx(wc.sum() ** 2 / (wc ** 2).sum())
    assert ess.loc["Adjusted", "treated"] == pytest.approx(185.0)
    assert ess.loc["All"].tolist() == [429.0, 185.0]


def test_balance_degenerate_input(lalonde):
    with pytest.raises(StatsInputError, match="constant"):
        balance(lalonde.assign(k=1), "treat", ["age", "k"])
    with pytest.raises(StatsInputError, match="weight 0"):
        balance(lalonde, "treat", ["age"], weights=np.where(lalonde["treat"] == 1, 0.0, 1.0))
    with pytest.raises(StatsInputError, match="missing values in 'age'"):
        balance(lalonde.assign(age=np.nan), "treat", ["age"])
