"""Entropy balancing weights (``weights(..., method="ebal")``) against WeightIt and by definition.

Goldens: WeightIt's own rendered documentation (its pkgdown site, branch ``gh-pages`` of
https://github.com/ngreifer/WeightIt, commit b787e1efbd16685c8f1b81aa6555c9e7ea154e05, built
2026-08-03 from WeightIt 2.0.0 master 033aeb550242a34b20d039b70fac60f83b38d3cf; online at
https://ngreifer.github.io/WeightIt/). WeightIt is not in Debian and CRAN is unreachable here, so
the printed ``summary()`` / ``cobalt::bal.tab()`` outputs are the reference: weights to the 3
decimals printed, Kish ESS to 2, coefficient of variation / MAD / entropy to 3, the units with the
5 largest weights (R row numbers of ``data("lalonde", package = "cobalt")`` — the same 614 rows in
the same order as MatchIt's lalonde in ``tests/data/r_golden_causal/lalonde.csv``).

The defining properties are tested on their own: exact mean (and second-moment) balance, weights
summing to the target group's size, log(w / q) linear in the covariates (Hainmueller 2012, eq. 6),
and the weights equal to a direct numerical solution of the primal problem (minimum KL divergence
from the base weights subject to the moment constraints).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from latc.stats import StatsInputError, balance, effective_sample_size, weights

GOLD = Path(__file__).parent / "data" / "r_golden_causal"
EXAMPLE = ["age", "educ", "married", "nodegree", "re74"]                  # ?method_ebal example
VIGNETTE = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]  # vignette("WeightIt")


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(GOLD / "lalonde.csv").set_index("unit")


def _summary(w: pd.Series) -> dict:
    """WeightIt summary.weightit() statistics of one group's weights (R/summary.weightit.R:
    coef.of.var = sd/mean, scaled.mad = mean|w/mean - mean(w/mean)|, negative entropy =
    mean(r log r) with r = w/mean; ESS = (sum w)^2 / sum w^2)."""
    r = w / w.mean()
    return {"min": w.min(), "max": w.max(), "cv": w.std() / w.mean(), "mad": np.mean(np.abs(r - r.mean())),
            "entropy": np.mean(r * np.log(r)), "ess": w.sum() ** 2 / (w ** 2).sum()}


def _check_summary(w: pd.Series, lalonde: pd.DataFrame, printed: dict) -> None:
    got = _summary(w)
    for key in ("min", "max", "cv", "mad", "entropy"):
        assert got[key] == pytest.approx(printed[key], abs=5e-4 + 1e-12), key     # printed to 3 decimals
    assert got["ess"] == pytest.approx(printed["ess"], abs=5e-3 + 1e-12)           # printed to 2 decimals
    rows = pd.Series(np.arange(1, len(lalonde) + 1), index=lalonde.index)       # R row numbers
    top = w.sort_values().tail(5)
    assert rows[top.index].tolist() == printed["top_rows"]
    assert np.allclose(top.to_numpy(), printed["top_weights"], atol=5e-4 + 1e-12)


def test_att_matches_weightit_method_ebal_example(lalonde):
    # reference/method_ebal.md (gh-pages b787e1e), example W1:
    #   data("lalonde", package = "cobalt")
    #   W1 <- weightit(treat ~ age + educ + married + nodegree + re74, data = lalonde,
    #                  method = "ebal", estimand = "ATT"); summary(W1); cobalt::bal.tab(W1)
    w = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATT")
    t = lalonde["treat"] == 1
    assert (w[t] == 1).all()                                    # treated: 1.  ||  1.
    _check_summary(w[~t], lalonde, {
        "min": 0.017, "max": 2.263, "cv": 0.839, "mad": 0.707, "entropy": 0.341, "ess": 252.12,
        "top_rows": [589, 595, 269, 409, 296], "top_weights": [1.464, 1.485, 1.576, 1.743, 2.263]})
    # bal.tab(W1): Diff.Adj 0 for every covariate; Adjusted ESS control 252.12, treated 185
    b = balance(lalonde, "treat", EXAMPLE, weights=w, estimand="ATT")
    assert b["diff_adj"].abs().max() < 1e-8
    ess = effective_sample_size(lalonde, "treat", weights=w)
    assert ess.loc["Adjusted", "control"] == pytest.approx(252.12, abs=5e-3)
    assert ess.loc["Adjusted", "treated"] == 185


def test_att_matches_weightit_vignette(lalonde):
    # articles/WeightIt.md (gh-pages b787e1e), section "Balancing Weights for a Point Treatment":
    #   W.out <- weightit(treat ~ age + educ + race + married + nodegree + re74 + re75,
    #                     data = lalonde, estimand = "ATT", method = "ebal")
    #   summary(W.out); bal.tab(W.out, stats = c("m", "v"), thresholds = c(m = .05))
    w = weights(lalonde, "treat", VIGNETTE, method="ebal", estimand="ATT")
    t = lalonde["treat"] == 1
    _check_summary(w[~t], lalonde, {
        "min": 0.008, "max": 4.062, "cv": 1.834, "mad": 1.287, "entropy": 1.101, "ess": 98.46,
        "top_rows": [608, 381, 597, 303, 411], "top_weights": [3.073, 3.235, 3.45, 3.897, 4.062]})
    b = balance(lalonde, "treat", VIGNETTE, weights=w, estimand="ATT")
    # "Indeed, we have achieved perfect balance on the means of the covariates": Diff.Adj -0 / 0
    assert b["diff_adj"].abs().max() < 1e-8
    # V.Ratio.Adj: age 0.410, educ 0.664, re74 1.326, re75 1.335 (cobalt's weighted variances)
    vr = b["variance_ratio_adj"]
    assert vr[["age", "educ", "re74", "re75"]].tolist() == pytest.approx([0.410, 0.664, 1.326, 1.335], abs=5e-4)
    # the control weights sum to the number of treated patients (WeightIt's scaling)
    assert w[~t].sum() == pytest.approx(185, rel=1e-12)


@pytest.mark.parametrize("race, printed", [
    ("black", {"min": 1.397, "max": 13.517, "cv": 0.590, "mad": 0.413, "entropy": 0.131, "ess": 180.47,
               "top_rows": [226, 244, 485, 181, 182], "top_weights": [6.371, 6.441, 7.09, 8.983, 13.517]}),
    ("hispan", {"min": 1.201, "max": 28.417, "cv": 0.609, "mad": 0.440, "entropy": 0.163, "ess": 52.71,
                "top_rows": [392, 564, 269, 345, 371], "top_weights": [17.451, 21.573, 22.447, 23.067, 28.417]}),
    ("white", {"min": 0.817, "max": 3.949, "cv": 0.371, "mad": 0.306, "entropy": 0.068, "ess": 262.93,
               "top_rows": [68, 457, 599, 589, 531], "top_weights": [3.513, 3.537, 3.58, 3.643, 3.949]}),
])
def test_ate_group_weights_match_weightit_multicategory_example(lalonde, race, printed):
    # reference/method_ebal.md (gh-pages b787e1e), example W2:
    #   W2 <- weightit(race ~ age + educ + married + nodegree + re74, data = lalonde,
    #                  method = "ebal", estimand = "ATE"); summary(W2)
    # For the ATE, WeightIt balances each treatment group to the whole-sample means on its own
    # (one optimisation per group, weights summing to n = 614). So a binary treatment "this race
    # vs the others" with estimand ATE gives that race group exactly W2's weights.
    d = lalonde.assign(group=(lalonde["race"] == race).astype(int))
    w = weights(d, "group", EXAMPLE, method="ebal", estimand="ATE")
    in_group = d["group"] == 1
    _check_summary(w[in_group], lalonde, printed)
    assert w[in_group].sum() == pytest.approx(614, rel=1e-12)
    assert w[~in_group].sum() == pytest.approx(614, rel=1e-12)
    # bal.tab(W2): Max.Diff.Adj 0 — both groups at the whole-sample means
    overall = d[["age", "educ", "re74"]].mean()
    for mask in (in_group, ~in_group):
        assert np.allclose(np.average(d.loc[mask, ["age", "educ", "re74"]], weights=w[mask], axis=0), overall,
                           rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# defining properties
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
def test_weighted_means_equal_the_target_means_exactly(lalonde, estimand):
    w = weights(lalonde, "treat", VIGNETTE, method="ebal", estimand=estimand)
    b = balance(lalonde, "treat", VIGNETTE, weights=w, estimand=estimand, binary="std")
    assert b["diff_adj"].abs().max() < 1e-8                    # every SMD (binary rows standardized too)
    t = lalonde["treat"] == 1
    x = pd.get_dummies(lalonde[VIGNETTE], columns=["race"], dtype=float)
    target = {"ATT": x[t].mean(), "ATC": x[~t].mean(), "ATE": x.mean()}[estimand]
    for mask in (t, ~t):
        assert np.allclose(np.average(x[mask], weights=w[mask], axis=0), target, rtol=1e-9, atol=1e-9)
    n_target = {"ATT": t.sum(), "ATC": (~t).sum(), "ATE": len(t)}[estimand]
    reweighted = {"ATT": [~t], "ATC": [t], "ATE": [t, ~t]}[estimand]
    for mask in reweighted:
        assert w[mask].sum() == pytest.approx(n_target, rel=1e-12)
    if estimand != "ATE":
        assert (w[t if estimand == "ATT" else ~t] == 1).all()    # the target group keeps weight 1


def test_atc_is_the_att_with_the_groups_swapped(lalonde):
    atc = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATC")
    att = weights(lalonde.assign(treat=1 - lalonde["treat"]), "treat", EXAMPLE, method="ebal", estimand="ATT")
    assert np.allclose(atc, att, rtol=1e-9)


def test_second_moments_balance_the_variances(lalonde):
    # WeightIt moments = 2: each continuous covariate and its square balanced
    w1 = weights(lalonde, "treat", VIGNETTE, method="ebal", estimand="ATT")
    w2 = weights(lalonde, "treat", VIGNETTE, method="ebal", estimand="ATT", moments=2)
    t = lalonde["treat"] == 1
    for c in ("age", "educ", "re74", "re75"):
        x = lalonde[c]
        for k in (1, 2):
            assert np.average(x[~t] ** k, weights=w2[~t]) == pytest.approx((x[t] ** k).mean(), rel=1e-9)
    # the vignette's remaining age variance ratio (0.410 with means only) is closed: the weighted
    # (biased) variances agree exactly, so cobalt's ratio of unbiased weighted variances is the
    # ratio of the two bias corrections, n/(n - 1) over 1/(1 - 1/ESS)
    def var(x, w):
        return np.average((x - np.average(x, weights=w)) ** 2, weights=w)
    age = lalonde["age"]
    assert var(age[~t], w2[~t]) == pytest.approx(age[t].var(ddof=0), rel=1e-9)
    assert var(age[~t], w1[~t]) != pytest.approx(age[t].var(ddof=0), rel=1e-2)
    vr = balance(lalonde, "treat", VIGNETTE, weights=w2, estimand="ATT")["variance_ratio_adj"]
    ess = w2[~t].sum() ** 2 / (w2[~t] ** 2).sum()
    assert vr["age"] == pytest.approx((1 - 1 / ess) * 185 / 184, rel=1e-9)
    # binary covariates get no powers (a 0/1 square is itself): married balanced once, no error
    assert np.average(lalonde.loc[~t, "married"], weights=w2[~t]) == pytest.approx(lalonde.loc[t, "married"].mean())


def _primal(x_control: np.ndarray, q: np.ndarray, target: np.ndarray, total: float) -> np.ndarray:
    """Hainmueller (2012) eq. 4 solved directly: min sum w log(w / q) subject to
    sum w = total and sum w x = total * target, w > 0 (SLSQP on the weights themselves)."""
    n = len(q)
    cons = [{"type": "eq", "fun": lambda w: np.r_[w.sum() - total, x_control.T @ w - total * target],
             "jac": lambda w: np.vstack([np.ones(n), x_control.T])}]
    res = minimize(lambda w: float(np.sum(w * np.log(w / q))), np.full(n, total / n),
                   jac=lambda w: np.log(w / q) + 1, constraints=cons, bounds=[(1e-12, None)] * n,
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    assert res.success, res.message
    return res.x


def test_weights_minimise_kl_divergence_from_base_weights():
    rng = np.random.default_rng(7)
    n1, n0 = 8, 20
    d = pd.DataFrame({"t": [1] * n1 + [0] * n0,
                      "x1": np.r_[rng.normal(0.5, 1, n1), rng.normal(0, 1, n0)],
                      "x2": np.r_[rng.binomial(1, 0.6, n1), rng.binomial(1, 0.4, n0)].astype(float),
                      "q": rng.uniform(0.5, 2.0, n1 + n0)})
    w = weights(d, "t", ["x1", "x2"], method="ebal", estimand="ATT", base_weights="q")
    c = d["t"] == 0
    xc = d.loc[c, ["x1", "x2"]].to_numpy()
    direct = _primal(xc, d.loc[c, "q"].to_numpy(), d.loc[~c, ["x1", "x2"]].mean().to_numpy(), float(n1))
    assert np.allclose(w[c], direct, rtol=1e-5, atol=1e-7)
    # and the dual's structure (eq. 6): log(w / q) is exactly linear in the covariates
    design = np.column_stack([np.ones(c.sum()), xc])
    y = np.log(w[c] / d.loc[c, "q"]).to_numpy()
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.abs(resid).max() < 1e-10
    # base weights matter: without them the answer differs
    plain = weights(d, "t", ["x1", "x2"], method="ebal", estimand="ATT")
    assert not np.allclose(plain[c], w[c], rtol=1e-3)


def test_constant_base_weights_change_nothing(lalonde):
    w = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATT")
    wq = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATT",
                 base_weights=np.full(len(lalonde), 3.0))
    assert np.allclose(w, wq, rtol=1e-10)


def test_truncation_applies_to_ebal_weights(lalonde):
    w = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATT")
    wt = weights(lalonde, "treat", EXAMPLE, method="ebal", estimand="ATT", truncate=0.9)
    c = lalonde["treat"] == 0
    cap = np.quantile(w[c], 0.9, method="closest_observation")       # WeightIt trim(at = .9), type 3
    assert np.allclose(wt[c], np.minimum(w[c], cap)) and wt[c].max() == cap
    assert (wt[~c] == 1).all()


# ---------------------------------------------------------------------------------------------
# constraints that cannot be met, and other input errors
# ---------------------------------------------------------------------------------------------
def test_target_outside_the_range_of_a_covariate_names_it(lalonde):
    # 184 of 185 treated patients are 'enrolled', no control is: no positive control weights give
    # the controls an enrolled share of 184/185
    d = lalonde.assign(enrolled=lalonde["treat"].where(lalonde.index != "NSW1", 0))
    with pytest.raises(StatsInputError, match=r"covariate 'enrolled': the treated mean 0\.994595 is outside the "
                                              r"range \[0, 0\] of the control patients"):
        weights(d, "treat", ["age", "enrolled"], method="ebal", estimand="ATT")


def test_target_outside_the_convex_hull_is_refused_naming_covariates():
    # each coordinate of the treated mean (0.8, 0.8) is inside the controls' range [0, 1], but the
    # controls all have x + y <= 1: the target is outside their convex hull
    d = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0], "x": [0.8, 0.7, 0.9, 0, 1, 0, 0.5],
                      "y": [0.8, 0.9, 0.7, 0, 0, 1, 0.5]})
    with pytest.raises(StatsInputError, match=r"convex hull of those patients' covariates; worst: 'x'.*'y'"):
        weights(d, "t", ["x", "y"], method="ebal", estimand="ATT")
    # on the edge of the hull (x + y = 1 for the treated mean) only zero weights would do
    edge = d.assign(x=[0.5, 0.4, 0.6, 0, 1, 0, 0.2], y=[0.5, 0.6, 0.4, 0, 0, 1, 0.2])
    with pytest.raises(StatsInputError, match="on the edge of the convex hull .* weights of 0"):
        weights(edge, "t", ["x", "y"], method="ebal", estimand="ATT")
    # strictly inside: fine, and exact
    inside = d.assign(x=[0.4, 0.3, 0.5, 0, 1, 0, 0.5], y=[0.3, 0.4, 0.2, 0, 0, 1, 0.5])
    w = weights(inside, "t", ["x", "y"], method="ebal", estimand="ATT")
    c = inside["t"] == 0
    assert np.allclose(np.average(inside.loc[c, ["x", "y"]], weights=w[c], axis=0), [0.4, 0.3], atol=1e-12)


def test_a_level_absent_from_the_reweighted_group_names_covariate_and_level(lalonde):
    d = lalonde.assign(race=np.where((lalonde["treat"] == 0) & (lalonde["race"] == "hispan"), "white",
                                     lalonde["race"]))
    with pytest.raises(StatsInputError, match=r"covariate 'race' = 'hispan'"):
        weights(d, "treat", ["age", "race"], method="ebal", estimand="ATT")


@pytest.mark.parametrize("kwargs, message", [
    ({"estimand": "ATO"}, r"estimand must be one of \('ATE', 'ATT', 'ATC'\) with method='ebal'"),
    ({"method": "cbps"}, "method must be one of"),
    ({"ps": np.full(614, 0.3)}, "ps belong"),
    ({"stabilize": True}, "stabilize belong"),
    ({"trim": 0.05}, "trim belong"),
    ({"moments": 0}, "moments must be a whole number"),
    ({"moments": 1.5}, "moments must be a whole number"),
    ({"base_weights": np.r_[0.0, np.ones(613)]}, "base_weights must be positive"),
    ({"base_weights": np.ones(3)}, "3 values for 614 rows"),
    ({"base_weights": "nope"}, "not found"),
    ({"covariates": []}, "give the covariates"),
])
def test_ebal_bad_input(lalonde, kwargs, message):
    kw = {"covariates": EXAMPLE, "method": "ebal", "estimand": "ATT"} | kwargs
    with pytest.raises(StatsInputError, match=message):
        weights(lalonde, "treat", **kw)


def test_ebal_degenerate_data_names_the_column(lalonde):
    with pytest.raises(StatsInputError, match="missing values in 'age'"):
        weights(lalonde.assign(age=np.where(lalonde.index == "NSW1", np.nan, lalonde["age"])), "treat",
                ["age", "educ"], method="ebal")
    with pytest.raises(StatsInputError, match="covariate 'k' is constant"):
        weights(lalonde.assign(k=2.0), "treat", ["age", "k"], method="ebal")
    with pytest.raises(StatsInputError, match="collinear"):
        weights(lalonde.assign(age2=2 * lalonde["age"]), "treat", ["age", "age2"], method="ebal")
    with pytest.raises(StatsInputError, match="only the control group"):
        weights(lalonde[lalonde["treat"] == 0], "treat", ["age"], method="ebal")
    with pytest.raises(StatsInputError, match="moments and base_weights belong to method='ebal'"):
        weights(lalonde, "treat", EXAMPLE, moments=2)
