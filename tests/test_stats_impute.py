"""Multiple imputation (latc.stats.impute) and Rubin's rules (latc.stats.pool).

Pooling is golden-tested exactly: R imputed the data once (``mice(nhanes2, m = 5, seed =
20240521)``; lung with ``nelsonaalen`` and the event as predictors, ``seed = 20240522``) and
exported ``complete(imp, "long")``; both R and Python fit the same model on those m data sets
and pool (tests/r_desc/desc_goldens.R):
  pool(with(imp, lm(chl ~ age + bmi)))
  pool(with(imp, glm(hyp ~ bmi + chl, family = binomial)))
  pool(with(impl, coxph(Surv(time, event) ~ age + sex + ph.ecog + wt.loss)))
Imputation draws cannot match mice draw for draw, so :func:`impute` is tested for its statistical
properties on data with values deleted (seeded) from a known complete data set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from latc.stats import ImputedData, StatsInputError, cox, impute, pool
from latc.stats._impute import nelson_aalen

GOLD = Path(__file__).parent / "data" / "r_golden_desc"
POOLED = ["estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi"]


def _golden(name):
    g = json.loads((GOLD / f"{name}.json").read_text())
    return pd.DataFrame(g["pooled"]), pd.DataFrame(g["summary"])


def _check(res: pd.DataFrame, name: str):
    pooled, summ = _golden(name)
    assert len(res) == len(pooled)
    for col in POOLED:
        np.testing.assert_allclose(res[col].to_numpy(), pooled[col].to_numpy(), rtol=1e-6, atol=1e-10,
                                   err_msg=col)
    np.testing.assert_allclose(res["std_error"], summ["std.error"], rtol=1e-6)
    np.testing.assert_allclose(res["p"], summ["p.value"], rtol=1e-6)
    np.testing.assert_allclose(res["lower"], summ["lower"], rtol=1e-6)
    np.testing.assert_allclose(res["upper"], summ["upper"], rtol=1e-6)


def _nhanes2_long():
    d = pd.read_csv(GOLD / "nhanes2_imputed_long.csv")
    return [g.reset_index(drop=True) for _, g in d.groupby(".imp")]


def test_pool_lm_agrees_with_mice():
    fits = []
    for d in _nhanes2_long():
        X = np.column_stack([np.ones(len(d)), d["age"] == "40-59", d["age"] == "60-99", d["bmi"]]).astype(float)
        fits.append(sm.OLS(d["chl"].to_numpy(float), X).fit())
    res = pool(fits)
    assert (res["dfcom"] == 21).all()          # 25 rows − 4 coefficients, mice's get.dfcom
    _check(res, "pool_nhanes2_lm")


def test_pool_glm_agrees_with_mice():
    fits = []
    for d in _nhanes2_long():
        X = np.column_stack([np.ones(len(d)), d["bmi"], d["chl"]]).astype(float)
        y = (d["hyp"] == "yes").to_numpy(float)
        fits.append(sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12))
    _check(pool(fits), "pool_nhanes2_glm")


def test_pool_cox_agrees_with_mice():
    d = pd.read_csv(GOLD / "lung_imputed_long.csv")
    fits = []
    for _, g in d.groupby(".imp"):
        g = g.assign(**{"ph.ecog": pd.Categorical(g["ph.ecog"].astype(int), categories=[0, 1, 2, 3])})
        fits.append(cox(g, "time", "event", ["age", "sex", "ph.ecog", "wt.loss"]))
    res = pool(fits)
    assert (res["dfcom"] == 165 - 6).all()     # mice: events − coefficients for coxph
    _check(res, "pool_lung_cox")


def test_pool_hand_computed_rubin_rules():
    # two fits, one term: Q = (1, 3), U = (0.5, 0.7): Q̄ = 2, Ū = 0.6, B = 2, T = 0.6 + 1.5·2 = 3.6
    fits = [{"estimate": {"x": 1.0}, "std_error": {"x": np.sqrt(0.5)}},
            {"estimate": {"x": 3.0}, "std_error": {"x": np.sqrt(0.7)}}]
    res = pool(fits).loc["x"]
    assert res["estimate"] == pytest.approx(2.0)
    assert res["ubar"] == pytest.approx(0.6) and res["b"] == pytest.approx(2.0)
    assert res["t"] == pytest.approx(3.6)
    lam = 3.0 / 3.6
    assert res["lambda"] == pytest.approx(lam)
    assert res["df"] == pytest.approx(1 / lam ** 2)        # dfcom = ∞: Rubin's (m − 1)/λ²
    assert res["riv"] == pytest.approx(3.0 / 0.6)


def test_pool_refuses_mismatched_or_single_fit():
    a = {"estimate": {"x": 1.0}, "std_error": {"x": 1.0}}
    b = {"estimate": {"z": 1.0}, "std_error": {"z": 1.0}}
    with pytest.raises(StatsInputError, match="at least 2"):
        pool([a])
    with pytest.raises(StatsInputError, match="same model terms"):
        pool([a, b])
    with pytest.raises(StatsInputError, match="cannot read"):
        pool([1, 2])


def test_nelson_aalen_agrees_with_mice():
    # mice::nelsonaalen(lung, time, event) was stored by R in column H
    lu = pd.read_csv(GOLD / "lung_mi.csv")
    np.testing.assert_allclose(nelson_aalen(lu["time"], lu["event"]), lu["H"], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# statistical properties of impute
# ---------------------------------------------------------------------------------------------
def _complete_data(n=600, seed=11):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(50, 10, n)
    x2 = rng.binomial(1, 0.4, n)
    stage = rng.choice(["I", "II", "III"], n, p=[0.5, 0.3, 0.2])
    y = 2 + 0.3 * x1 + 4 * x2 + np.select([stage == "II", stage == "III"], [2.0, 5.0], 0.0) + rng.normal(0, 4, n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": pd.Categorical(np.where(x2 == 1, "yes", "no")),
                         "stage": pd.Categorical(stage, categories=["I", "II", "III"])})


def _amputate(full, seed=12):
    """Delete values MAR (the chance of a missing x1 depends on the observed y)."""
    rng = np.random.default_rng(seed)
    d = full.copy()
    n = len(d)
    z = (d["y"] - d["y"].mean()) / d["y"].std()
    d.loc[rng.uniform(size=n) < 0.8 / (1 + np.exp(-3 * z)), "x1"] = np.nan    # higher y → more often missing
    d.loc[rng.uniform(size=n) < 0.15, "x2"] = np.nan
    d.loc[rng.uniform(size=n) < 0.15, "stage"] = np.nan
    return d


def _ols(d):
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"] == "yes", d["stage"] == "II",
                         d["stage"] == "III"]).astype(float)
    return sm.OLS(d["y"].to_numpy(float), X).fit()


@pytest.fixture(scope="module")
def mar_imputation():
    full = _complete_data()
    miss = _amputate(full)
    return full, miss, impute(miss, m=10, seed=2024, maxit=8)


def test_pooled_estimate_covers_complete_data_estimate(mar_imputation):
    full, miss, imp = mar_imputation
    truth = _ols(full).params
    res = pool(imp.fit(_ols))
    covered = (res["lower"].to_numpy() <= truth) & (truth <= res["upper"].to_numpy())
    assert covered.all(), res[["estimate", "lower", "upper"]].assign(truth=truth)
    # the missingness is informative: some information is lost (fmi > 0) but not all
    assert (res["fmi"] > 0).all() and (res["fmi"] < 0.8).all()


def test_complete_case_analysis_is_biased_where_mi_is_not(mar_imputation):
    full, miss, imp = mar_imputation
    truth = _ols(full).params[1]
    cc = _ols(miss.dropna()).params[1]
    mi = pool(imp.fit(_ols))["estimate"].iloc[1]
    assert abs(mi - truth) < abs(cc - truth)


def test_pmm_imputes_observed_values_only_and_levels_are_kept(mar_imputation):
    full, miss, imp = mar_imputation
    assert isinstance(imp, ImputedData) and len(imp.datasets) == 10
    assert imp.method == {"y": "", "x1": "pmm", "x2": "logreg", "stage": "polyreg"}
    observed_x1 = set(miss["x1"].dropna())
    for d in imp.datasets:
        assert d.notna().all().all()
        # observed cells untouched
        pd.testing.assert_frame_equal(d[~imp.where["x1"]][["x1"]], miss[~imp.where["x1"]][["x1"]])
        assert set(d.loc[imp.where["x1"], "x1"]) <= observed_x1
        assert set(d["x2"]) <= {"no", "yes"} and d["x2"].dtype == miss["x2"].dtype
        assert d["stage"].dtype == miss["stage"].dtype        # same categories, same order
    # the m data sets differ (between-imputation variation)
    assert not imp.datasets[0]["x1"].equals(imp.datasets[1]["x1"])


def test_seed_reproducible_and_seed_matters():
    miss = _amputate(_complete_data(n=200))
    a = impute(miss, m=2, seed=7, maxit=3)
    b = impute(miss, m=2, seed=7, maxit=3)
    c = impute(miss, m=2, seed=8, maxit=3)
    for x, y in zip(a.datasets, b.datasets):
        pd.testing.assert_frame_equal(x, y)
    assert not a.datasets[0].equals(c.datasets[0])


def test_string_boolean_categories_and_long_format():
    d = pd.DataFrame({"histology": ["PTC", "FTC", None, "PDTC", "PTC", "FTC", "PTC", None] * 5,
                      "braf": pd.array([True, False, None, True, False] * 8, dtype="boolean"),
                      "age": np.arange(40.0)})
    d.loc[[3, 9], "age"] = np.nan
    imp = impute(d, m=2, seed=1, maxit=2)
    for x in imp.datasets:
        assert set(x["histology"]) <= {"PTC", "FTC", "PDTC"}
        assert x["histology"].dtype == d["histology"].dtype
        assert x["braf"].dtype == d["braf"].dtype and x["braf"].notna().all()
    assert imp.method["braf"] == "logreg"
    long = imp.long()
    assert list(long.columns[:2]) == [".imp", ".id"] and len(long) == 2 * len(d)


def test_survival_imputation_uses_event_and_cumulative_hazard():
    rng = np.random.default_rng(5)
    n = 500
    x = rng.normal(0, 1, n)
    t_event = rng.exponential(1 / np.exp(0.7 * x))
    cens = rng.exponential(1.5, n)
    d = pd.DataFrame({"time": np.minimum(t_event, cens), "event": (t_event <= cens).astype(int), "x": x})
    full_fit = cox(d, "time", "event", ["x"])
    miss = d.copy()
    # MAR on the outcome: the covariate is more often missing after an event
    miss.loc[rng.uniform(size=n) < np.where(d["event"] == 1, 0.45, 0.1), "x"] = np.nan
    imp = impute(miss, m=10, seed=3, maxit=5, survival=("time", "event"))
    assert imp.predictors["x"] == ["event", "nelson_aalen"]      # time itself is not a predictor
    res = pool(imp.fit(lambda g: cox(g, "time", "event", ["x"])))
    assert res["lower"].iloc[0] <= full_fit.coef[0] <= res["upper"].iloc[0]


@pytest.mark.parametrize("kwargs,match", [
    ({"m": 1}, "m must be"),
    ({"maxit": 0}, "maxit"),
    ({"method": {"nope": "pmm"}}, "unknown column"),
    ({"method": {"b": "pmm"}}, "categorical"),
    ({"survival": ("t", "b")}, "not found"),
])
def test_invalid_arguments_raise(kwargs, match):
    d = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": ["x", "y", None, "x"]})
    with pytest.raises(StatsInputError, match=match):
        impute(d, **kwargs)


def test_degenerate_columns_named():
    with pytest.raises(StatsInputError, match="'a' has no observed value"):
        impute(pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 2.0]}))
    with pytest.raises(StatsInputError, match="'b' has a single observed level"):
        impute(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", None, "x"]}))
    with pytest.raises(StatsInputError, match="outcome itself is not imputed"):
        impute(pd.DataFrame({"t": [1.0, np.nan, 2.0], "e": [1, 0, 1], "x": [1.0, np.nan, 0.0]}),
               survival=("t", "e"))
