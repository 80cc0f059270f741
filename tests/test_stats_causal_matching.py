"""Propensity score and matching against R (glm) and MatchIt >= 4.7 published outputs.

Data: MatchIt's lalonde (tests/data/r_golden_causal/lalonde.csv). Sources of every golden are in
tests/data/r_golden_causal/README.md; the R call is repeated in each test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, balance, match, propensity

GOLD = Path(__file__).parent / "data" / "r_golden_causal"
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(GOLD / "lalonde.csv").set_index("unit")


def _doc(name: str) -> pd.DataFrame:
    g = pd.read_csv(GOLD / name, comment="#")
    g["variable"] = g["variable"].str.replace(r"^race", "race_", regex=True)
    return g


# --- propensity score --------------------------------------------------------------------------

def test_propensity_matches_r_glm_to_1e6(lalonde):
    # R: fitted(glm(treat ~ age + educ + race + married + nodegree + re74 + re75, family = binomial))
    g = pd.read_csv(GOLD / "glm_ps_weights.csv").set_index("unit")
    ps = propensity(lalonde, "treat", COVS)
    lp = propensity(lalonde, "treat", COVS, scale="logit")
    assert ps.name == "propensity_score"
    assert np.max(np.abs(ps - g["ps"])) < 1e-6
    # R: predict(fit, type = "link") — the distance of MatchIt's link = "linear.logit"
    assert np.max(np.abs(lp - g["logit_ps"])) < 1e-6


def test_propensity_categorical_order_follows_pandas_categorical(lalonde):
    # A Categorical keeps its category order (R keeps a factor's level order): the reference level
    # changes the coefficients but not the fitted probabilities.
    d = lalonde.copy()
    d["race"] = pd.Categorical(d["race"], categories=["white", "black", "hispan"])
    assert np.allclose(propensity(d, "treat", COVS), propensity(lalonde, "treat", COVS), atol=1e-9)


def test_propensity_string_treatment_needs_treated_value(lalonde):
    d = lalonde.assign(cohort=np.where(lalonde["treat"] == 1, "neoadjuvant", "upfront_surgery"))
    with pytest.raises(StatsInputError, match="treated="):
        propensity(d, "cohort", COVS)
    ps = propensity(d, "cohort", COVS, treated="neoadjuvant")
    assert np.allclose(ps, propensity(lalonde, "treat", COVS))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.assign(treat=1), "only the treated group"),
    (lambda d: d.assign(age=d["age"].where(d.index != "NSW3")), "missing values in 'age'"),
    (lambda d: d.assign(married=0), "constant"),
    (lambda d: d.assign(educ2=d["educ"] * 2), "collinear"),
    (lambda d: d.assign(sep=d["treat"] * 10.0), "separation"),
])
def test_propensity_degenerate_input_is_a_clear_error(lalonde, mutate, message):
    d = mutate(lalonde)
    covs = COVS + [c for c in ("educ2", "sep") if c in d.columns]
    with pytest.raises(StatsInputError, match=message):
        propensity(d, "treat", covs)


# --- nearest-neighbour matching: MatchIt >= 4.7 published outputs -------------------------------

def test_caliper_on_logit_ps_reproduces_matchit_snapshot(lalonde):
    # MatchIt >= 4.7 tests/testthat/_snaps/nearest_snapshots.md, "link='linear.logit' + caliper":
    # matchit(treat ~ age + educ + race + married + nodegree + re74 + re75, data = lalonde,
    #         method = "nearest", link = "linear.logit", caliper = 0.25)   [std.caliper = TRUE]
    gold = pd.read_csv(GOLD / "matchit47_linear_logit_caliper025_pairs.csv",
                       keep_default_na=False).set_index("treated")["control"]
    m = match(lalonde, "treat", COVS, caliper=0.25)          # defaults: logit scale, SD units, largest
    got = m.match_matrix[1].fillna("")
    assert got.index.equals(gold.index)
    assert (got == gold).all(), f"{int((got != gold).sum())} treated patients differ"
    assert m.summary.loc["Matched", "treated"] == 118 == m.summary.loc["Matched", "control"]
    assert m.summary.loc["Unmatched", "treated"] == 67
    # the caliper is 0.25 x R's sd() of the logit PS over all 614 patients
    lp = propensity(lalonde, "treat", COVS, scale="logit")
    assert m.caliper_width == pytest.approx(0.25 * lp.std(ddof=1), rel=1e-9)
    pair_gap = (m.distance[got[got != ""].index].to_numpy()
                - m.distance[got[got != ""].to_numpy()].to_numpy())
    assert np.abs(pair_gap).max() <= m.caliper_width
    # the choices (latc's defaults differ from MatchIt's) travel with the result
    assert (m.distance_scale, m.caliper, m.std_caliper) == ("logit", 0.25, True)
    p = match(lalonde, "treat", COVS, caliper=None, scale="probability")
    assert (p.distance_scale, p.caliper, p.caliper_width) == ("probability", None, None)


def test_caliper_smallest_order_raw_units_reproduces_matchit_snapshot(lalonde):
    # Same snapshot file, "m.order='smallest' + caliper + replace=FALSE":
    # matchit(<formula>, method = "nearest", m.order = "smallest", caliper = 0.1,
    #         std.caliper = FALSE, replace = FALSE)   [distance = PS, link = "logit"]
    gold = pd.read_csv(GOLD / "matchit47_smallest_caliper01_subclass.csv").set_index("unit")["subclass"]
    m = match(lalonde, "treat", COVS, caliper=0.1, std_caliper=False, scale="probability",
              m_order="smallest")
    assert m.subclass.astype("Float64").fillna(0).to_numpy().tolist() == gold.fillna(0).tolist()
    assert int(m.summary.loc["Matched", "treated"]) == 109


def test_exact_ratio2_reproduces_matchit_snapshot_pairs_and_weights(lalonde):
    # Same snapshot file, "exact + ratio=2 (within-stratum depletion)":
    # matchit(<formula>, method = "nearest", exact = ~ race, ratio = 2)
    pairs = pd.read_csv(GOLD / "matchit47_exact_race_ratio2_matches.csv",
                        keep_default_na=False).set_index("treated")
    w = pd.read_csv(GOLD / "matchit47_exact_race_ratio2_weights.csv").set_index("unit")["weight"]
    m = match(lalonde, "treat", COVS, ratio=2, caliper=None, exact="race", scale="probability")
    assert (m.match_matrix.fillna("").to_numpy() == pairs.to_numpy()).all()
    assert np.allclose(m.weights.to_numpy(), w.to_numpy(), atol=1e-12)   # 1, 1.25, 0.625 ...
    # every matched set lies within one race stratum
    md = m.data
    assert (md.groupby("subclass")["race"].nunique() == 1).all()


def test_nearest_1to1_balance_equals_published_matchit_summary(lalonde):
    # MatchIt >= 4.7 ?method_nearest example: m.out1 <- matchit(treat ~ age + educ + race +
    # nodegree + married + re74 + re75, data = lalonde, method = "nearest"); summary(m.out1)
    # MatchIt standardizes binary covariates (binary = "std"), SD of the treated group (ATT).
    m = match(lalonde, "treat", COVS, caliper=None, scale="probability")
    b = balance(lalonde, "treat", COVS, weights=m, binary="std")
    g = _doc("matchit47_doc_nearest_1to1_summary.csv")
    for sample, tag in (("all", "un"), ("matched", "adj")):
        gg = g[g["sample"] == sample].set_index("variable")
        bb = b.loc[gg.index]
        for ours, theirs in (("mean_treated", "mean_treated"), ("mean_control", "mean_control"),
                             ("diff", "smd"), ("variance_ratio", "var_ratio"), ("ks", "ecdf_max")):
            got = bb[f"{ours}_{tag}"].to_numpy(dtype=float)
            want = gg[theirs].to_numpy(dtype=float)
            ok = np.isnan(want) | (np.abs(got - want) <= 0.5e-4 * np.maximum(1, np.abs(want)))
            assert ok.all(), (sample, ours, gg.index[~ok].tolist())
    assert m.summary.loc["Matched"].tolist() == [185, 185]
    assert m.summary.loc["Unmatched"].tolist() == [244, 0]
    # first pairs as printed in the snapshot "baseline: PS vector, m.order='largest' (default)"
    assert m.match_matrix[1].iloc[:12].tolist() == [
        "PSID300", "PSID205", "PSID41", "PSID179", "PSID238", "PSID6", "PSID271", "PSID374",
        "PSID423", "PSID344", "PSID354", "PSID331"]


def test_replacement_balance_and_ess_equal_published_vignette(lalonde):
    # MatchIt >= 4.7 vignette "Assessing Balance": matchit(<formula>, data = lalonde, replace = TRUE)
    # Sample sizes: control Matched (ESS) 46.31, Matched 82, Unmatched 347; treated 185.
    m = match(lalonde, "treat", COVS, caliper=None, replace=True, scale="probability")
    assert m.summary.loc["Matched", "control"] == 82
    assert m.summary.loc["Unmatched", "control"] == 347
    assert round(m.summary.loc["Matched (ESS)", "control"], 2) == 46.31
    assert m.subclass.isna().all()                          # no subclass with replacement (MatchIt)
    b = balance(lalonde, "treat", COVS, weights=m, binary="std")
    gg = _doc("matchit47_doc_replace_1to1_summary.csv").set_index("variable")
    bb = b.loc[gg.index]
    for ours, theirs in (("mean_control_adj", "mean_control"), ("diff_adj", "smd"),
                         ("variance_ratio_adj", "var_ratio"), ("ks_adj", "ecdf_max")):
        got, want = bb[ours].to_numpy(dtype=float), gg[theirs].to_numpy(dtype=float)
        ok = np.isnan(want) | (np.abs(got - want) <= 0.5e-3 * np.maximum(1, np.abs(want)))
        assert ok.all(), (ours, gg.index[~ok].tolist())


# --- matching behaviour ---------------------------------------------------------------------------

def test_ratio2_without_replacement_uses_each_control_once(lalonde):
    m = match(lalonde, "treat", COVS, ratio=2, caliper=None)
    used = m.match_matrix.stack().dropna()
    assert used.is_unique
    assert len(used) == 370 and (m.weights[used.to_numpy()] == 1).all()
    assert (m.data.groupby("subclass").size() == 3).all()


def test_random_order_is_seeded(lalonde):
    a = match(lalonde, "treat", COVS, caliper=0.2, m_order="random", seed=7)
    b = match(lalonde, "treat", COVS, caliper=0.2, m_order="random", seed=7)
    assert a.match_matrix.equals(b.match_matrix)
    with pytest.raises(StatsInputError, match="seed"):
        match(lalonde, "treat", COVS, m_order="random")


def test_data_order_with_ps_column_equals_estimated(lalonde):
    d = lalonde.assign(ps=propensity(lalonde, "treat", COVS))
    a = match(d, "treat", ps="ps", m_order="data")
    b = match(lalonde, "treat", COVS, m_order="data")
    assert a.match_matrix.equals(b.match_matrix)
    assert "0.2 SD of the logit PS" in a.method


def test_no_overlap_and_missing_exact_values_are_clear_errors(lalonde):
    d = lalonde.copy()
    ps = np.where(d["treat"] == 1, 0.9, 0.1)
    with pytest.raises(StatsInputError, match="do not overlap"):
        match(d, "treat", ps=ps, caliper=0.01, std_caliper=False)
    d.loc["NSW1", "race"] = None
    with pytest.raises(StatsInputError, match="missing values in 'race'"):
        match(d, "treat", COVS[:2], exact="race")


def test_matching_10000_patients_with_exact_center():
    rng = np.random.default_rng(1)
    n = 10_000
    x = rng.normal(size=n)
    center = rng.integers(0, 8, n)
    z = rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.8 * x)))
    d = pd.DataFrame({"treat": z.astype(int), "x": x, "center": center})
    ps = 1 / (1 + np.exp(-(-1 + 0.8 * x)))
    m = match(d, "treat", ps=ps, caliper=0.2, exact="center")
    assert m.summary.loc["Matched", "treated"] > 0.5 * z.sum()
    assert (m.data.groupby("subclass")["center"].nunique() == 1).all()
