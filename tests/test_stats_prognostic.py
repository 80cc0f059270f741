"""Prognostic-model statistics against R goldens (survival 3.5-3, riskRegression 2022.11.28).

Goldens: tests/r_prognostic/prognostic_goldens.R → tests/data/r_golden_prognostic/{lung,pbc,rossi}.json
on survival::lung (complete cases of age, sex, ph.ecog), survival::pbc (312 randomised; death the
event, transplant censored) and lifelines' rossi. The CSVs carry R's Cox linear predictors
(``lp_base``, ``lp_ext``) and R's predicted risks ``1 - summary(survfit(fit, newdata), times)$surv``
(``risk_base_<t>``, ``risk_ext_<t>``), so Python scores exactly what R scored. R calls:

* ``concordance(Surv(time, event) ~ lp, reverse = TRUE)`` (Harrell; se = sqrt(var));
* ``concordance(..., timewt = "n/G2")`` and ``concordance(..., timewt = "n/G2", ymax = tau)`` (Uno);
* ``concordance(fit_base, fit_ext)`` (IJ covariance → SE of the difference);
* ``Score(list(base = risk_base, ext = risk_ext), formula = Surv(time, event) ~ 1, data, times,
  metrics = c("auc", "brier"), null.model = FALSE)``;
* calibration: ``cut(p, quantile(p, seq(0, 1, length = 11)), include.lowest = TRUE)``, per-group
  ``summary(survfit(Surv(time, event) ~ g), times)``, ``coxph(Surv(time, event) ~ lp_ext)``;
* ``anova(fit_base, fit_ext)`` (likelihood-ratio test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import (StatsInputError, brier_score, calibration, cox, harrell_c, prognostic,
                        time_dependent_auc, uno_c)
from latc.stats._cox import design_matrix
from latc.stats._prognostic import cox_predicted_risk

GOLD = Path(__file__).parent / "data" / "r_golden_prognostic"
DATASETS = ["lung", "pbc", "rossi"]


def load(name: str) -> tuple[pd.DataFrame, dict]:
    return pd.read_csv(GOLD / f"{name}.csv"), json.loads((GOLD / f"{name}.json").read_text())


# ----------------------------------------------------------------------------------------------
# concordance
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", ["base", "ext"])
def test_harrell_c_and_se_match_r(name, model):
    d, g = load(name)
    r = g[model]["harrell"]
    res = harrell_c(d["time"], d["event"], d[f"lp_{model}"])
    assert res.estimate == pytest.approx(r["c"], abs=1e-6)
    assert res.se == pytest.approx(r["se"], abs=1e-4)
    assert res.se == pytest.approx(r["se"], rel=1e-8)          # in fact to rounding
    # reverse = TRUE swaps R's concordant/discordant
    assert res.concordant == pytest.approx(r["counts"]["concordant"])
    assert res.discordant == pytest.approx(r["counts"]["discordant"])
    assert res.tied_risk == pytest.approx(r["counts"]["tied.x"])
    assert res.tied_time == pytest.approx(r["counts"]["tied.y"] + r["counts"]["tied.xy"])


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", ["base", "ext"])
def test_uno_c_and_se_match_r(name, model):
    d, g = load(name)
    full = uno_c(d["time"], d["event"], d[f"lp_{model}"])
    assert full.estimate == pytest.approx(g[model]["uno"]["c"], abs=1e-6)
    assert full.se == pytest.approx(g[model]["uno"]["se"], abs=1e-4)
    trunc = uno_c(d["time"], d["event"], d[f"lp_{model}"], tau=g["tau"])
    assert trunc.estimate == pytest.approx(g[model]["uno_tau"]["c"], abs=1e-6)
    assert trunc.se == pytest.approx(g[model]["uno_tau"]["se"], abs=1e-4)


def test_harrell_c_by_brute_force_pairs_with_ties():
    # tied event times (not comparable), a censored time tied with an event (longer), tied risks (½)
    t = np.array([1, 2, 2, 3, 3, 4, 5, 5, 6])
    e = np.array([1, 1, 1, 1, 0, 0, 1, 0, 1])
    x = np.array([5, 4, 4, 3, 3, 2, 2, 2, 0.5])
    num = den = 0.0
    for i in range(len(t)):
        for j in range(len(t)):
            if e[i] and (t[j] > t[i] or (t[j] == t[i] and not e[j])):
                den += 1
                num += 1.0 if x[i] > x[j] else 0.5 if x[i] == x[j] else 0.0
    assert harrell_c(t, e, x).estimate == pytest.approx(num / den, abs=1e-12)


def test_uno_c_weights_events_by_censoring_survival_just_before():
    # hand case: censoring KM with R's tie rule (deaths leave the risk set before censorings)
    t = np.array([1, 2, 2, 3, 4, 4, 5, 6])
    e = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    x = np.array([3.0, 1.0, 2.5, 2.0, 0.0, 1.0, 1.5, 0.2])
    # G: at t=2, n(T>=2)=7, one death, one censoring -> (7-1-1)/(7-1) = 5/6;
    #    at t=4, n(T>=4)=4, one death, one censoring -> (4-1-1)/(4-1) = 2/3; at 6 -> 0
    g_minus = {1: 1.0, 2: 1.0, 3: 5 / 6, 4: 5 / 6, 5: 5 / 6 * 2 / 3}
    num = den = 0.0
    for i in range(len(t)):
        if not e[i]:
            continue
        w = 1 / g_minus[int(t[i])] ** 2
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                den += w
                num += w * (1.0 if x[i] > x[j] else 0.5 if x[i] == x[j] else 0.0)
    assert uno_c(t, e, x).estimate == pytest.approx(num / den, abs=1e-12)


def test_uno_c_g_minus_vs_scikit_survival_g():
    """DESIGN.md pitfall: sksurv's concordance_index_ipcw weights events by 1/G(T)², R by 1/G(T−)².

    On lung (censorings tied with event times) the two differ; a brute-force Uno's C with G(T)
    reproduces sksurv and one with G(T−) reproduces R and :func:`uno_c`.
    """
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    from latc.stats._discrimination import _g_at, censoring_survival
    d, g = load("lung")
    t, e, x = d["time"].to_numpy(float), d["event"].to_numpy(bool), d["lp_ext"].to_numpy()
    tau = g["tau"]
    assert not (e & (t == tau)).any()          # no event exactly at tau: tau conventions agree
    y = Surv.from_arrays(e, t)
    sk = sksurv_metrics.concordance_index_ipcw(y, y, x, tau=tau)[0]
    ours = uno_c(t, e, x, tau=tau).estimate
    assert ours == pytest.approx(g["ext"]["uno_tau"]["c"], abs=1e-6)
    assert abs(sk - ours) > 1e-4               # the documented disagreement

    ut, gs = censoring_survival(t, e)
    comp = e[:, None] & ((t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & ~e[None, :]))
    comp &= (t < tau)[:, None]
    score = (x[:, None] > x[None, :]) + 0.5 * (x[:, None] == x[None, :])

    def brute(left: bool) -> float:
        g2 = np.broadcast_to(_g_at(ut, gs, t, left=left)[:, None] ** 2, comp.shape)
        w = np.divide(comp, g2, out=np.zeros(comp.shape), where=comp)   # G > 0 wherever comparable
        return float((w * score).sum() / w.sum())

    assert brute(left=False) == pytest.approx(sk, abs=1e-10)
    assert brute(left=True) == pytest.approx(ours, abs=1e-10)


@pytest.mark.parametrize("name", DATASETS)
def test_delta_c_ij_se_matches_r_concordance_of_two_fits(name):
    d, g = load(name)
    res = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=g["times"],
                     tau=g["tau"], n_boot=0)
    s = res.summary.set_index(["model", "metric"])
    for metric, key in (("delta_harrell_c", "delta_harrell"), ("delta_uno_c", "delta_uno_tau")):
        row = s.loc[("extended - baseline", metric)]
        assert row["estimate"] == pytest.approx(g[key]["delta"], abs=1e-6)
        assert row["se"] == pytest.approx(g[key]["se"], abs=1e-4)


# ----------------------------------------------------------------------------------------------
# time-dependent AUC and Brier
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", ["base", "ext"])
def test_time_dependent_auc_and_brier_match_risk_regression(name, model):
    d, g = load(name)
    times = g["times"]
    r_auc = pd.DataFrame(g["score"]["auc"]).query("model == @model")
    r_bs = pd.DataFrame(g["score"]["brier"]).query("model == @model")
    risk = d[[f"risk_{model}_{t}" for t in times]].to_numpy()
    auc = time_dependent_auc(d["time"], d["event"], d[f"lp_{model}"], times)
    np.testing.assert_allclose(auc["auc"], r_auc["auc"], atol=1e-6)
    # the AUC uses ranks only: the predicted risk at each time gives the same value
    for k, t in enumerate(times):
        assert time_dependent_auc(d["time"], d["event"], risk[:, k], [t])["auc"].iloc[0] == \
            pytest.approx(r_auc["auc"].iloc[k], abs=1e-6)
    bs = brier_score(d["time"], d["event"], risk, times)
    np.testing.assert_allclose(bs["brier"], r_bs["brier"], atol=1e-6)
    assert (auc["note"] == "").all() and (bs["note"] == "").all()


def test_horizon_after_last_follow_up_is_na_with_reason():
    # rossi: everyone still free at week 52 is censored there (the last time is censored)
    d, _ = load("rossi")
    auc = time_dependent_auc(d["time"], d["event"], d["lp_ext"], [40, 52, 60])
    assert auc["auc"].iloc[0] > 0.5
    assert auc["auc"].iloc[1:].isna().all()
    assert auc["note"].iloc[1].startswith("no patient followed beyond t = 52")
    assert "censored" in auc["note"].iloc[1]
    bs = brier_score(d["time"], d["event"], np.column_stack([d["risk_ext_40"]] * 3), [40, 52, 60])
    assert np.isfinite(bs["brier"].iloc[0]) and bs["brier"].iloc[1:].isna().all()
    assert (bs["note"].iloc[1:] != "").all()


def test_auc_before_first_event_is_na_with_reason():
    d, _ = load("lung")
    first = d.loc[d["event"] == 1, "time"].min()
    auc = time_dependent_auc(d["time"], d["event"], d["lp_ext"], [first - 1])
    assert np.isnan(auc["auc"].iloc[0]) and "no event" in auc["note"].iloc[0]


def test_auc_hand_case():
    # no censoring before t: G = 1, AUC = Mann-Whitney of cases (T <= 2) vs controls (T > 2)
    t = np.array([1, 2, 3, 4, 5])
    e = np.array([1, 1, 1, 0, 1])
    x = np.array([0.9, 0.3, 0.5, 0.1, 0.3])
    # cases 0.9, 0.3 ; controls 0.5, 0.1, 0.3 -> (3 + (0 + 1 + 0.5)) / 6
    assert time_dependent_auc(t, e, x, [2])["auc"].iloc[0] == pytest.approx(4.5 / 6)


# ----------------------------------------------------------------------------------------------
# Cox predicted risk, calibration, LR test
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
def test_cox_predicted_risk_matches_survfit_coxph(name):
    d, g = load(name)
    for model, covs in (("base", g["covariates_base"]), ("ext", g["covariates_ext"])):
        fit = cox(d, "time", "event", covs)
        np.testing.assert_allclose(fit.coef, g[model]["coef"], atol=1e-6)
        X = design_matrix(d, covs)[0]
        risk = cox_predicted_risk(fit, X, X, g["times"])
        expected = d[[f"risk_{model}_{t}" for t in g["times"]]].to_numpy()
        np.testing.assert_allclose(risk, expected, atol=1e-6)


@pytest.mark.parametrize("name", DATASETS)
def test_calibration_matches_r(name):
    d, g = load(name)
    r = g["calibration"]
    at = r["time"]
    res = calibration(d["time"], d["event"], d[f"risk_ext_{at}"], at, groups=10,
                      linear_predictor=d["lp_ext"])
    rg = pd.DataFrame(r["groups"])
    tab = res.table.set_index("group").loc[rg["group"]]
    np.testing.assert_array_equal(tab["n"], rg["n"])
    for col in ("mean_predicted", "observed", "observed_lower", "observed_upper"):
        np.testing.assert_allclose(tab[col], rg[col], atol=1e-6, err_msg=col)
    s = res.summary.set_index("metric")
    assert s.loc["calibration_slope", "estimate"] == pytest.approx(r["slope"], abs=1e-6)
    assert s.loc["calibration_slope", "se"] == pytest.approx(r["slope_se"], abs=1e-6)
    oe = s.loc["observed_expected_ratio"]
    assert oe["estimate"] == pytest.approx(r["observed"] / r["expected"], abs=1e-6)
    assert oe["se"] == pytest.approx(r["observed_se"] / r["observed"], abs=1e-6)
    assert s.loc["observed_minus_expected", "estimate"] == pytest.approx(
        r["observed"] - r["expected"], abs=1e-6)


def test_calibration_slope_on_cloglog_equals_slope_on_linear_predictor():
    d, g = load("lung")
    a = calibration(d["time"], d["event"], d["risk_ext_365"], 365)
    b = calibration(d["time"], d["event"], d["risk_ext_365"], 365, linear_predictor=d["lp_ext"])
    sa, sb = (x.summary.set_index("metric").loc["calibration_slope"] for x in (a, b))
    assert sa["estimate"] == pytest.approx(sb["estimate"], abs=1e-8)
    assert sa["estimate"] == pytest.approx(g["calibration"]["slope"], abs=1e-6)


def test_calibration_detects_overprediction():
    # predicted risks doubled: O/E ≈ 1/2 and slope on the cloglog scale stays ≈ 1 (a shift)
    d, _ = load("lung")
    p = np.clip(d["risk_ext_180"] * 2, 0, 0.999)
    s = calibration(d["time"], d["event"], p, 180).summary.set_index("metric")
    assert s.loc["observed_expected_ratio", "upper"] < 1
    assert s.loc["observed_minus_expected", "estimate"] < 0


@pytest.mark.parametrize("name", DATASETS)
def test_prognostic_summary_agrees_with_r(name):
    d, g = load(name)
    res = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=g["times"],
                     tau=g["tau"], n_boot=0)
    s = res.summary
    for model, key in (("baseline", "base"), ("extended", "ext")):
        m = s[s["model"] == model].set_index(["metric", "horizon"])
        assert m.loc[("harrell_c", np.nan), "estimate"] == pytest.approx(g[key]["harrell"]["c"], abs=1e-6)
        assert m.loc[("uno_c", g["tau"]), "estimate"] == pytest.approx(g[key]["uno_tau"]["c"], abs=1e-6)
        r_auc = pd.DataFrame(g["score"]["auc"]).query("model == @key")
        r_bs = pd.DataFrame(g["score"]["brier"]).query("model == @key")
        for t, a, b in zip(r_auc["time"], r_auc["auc"], r_bs["brier"]):
            assert m.loc[("auc", float(t)), "estimate"] == pytest.approx(a, abs=1e-6)
            assert m.loc[("brier", float(t)), "estimate"] == pytest.approx(b, abs=1e-6)
    assert res.lr_test["chisq"] == pytest.approx(g["lr"]["chisq"], abs=1e-6)
    assert res.lr_test["df"] == g["lr"]["df"]
    assert res.lr_test["p"] == pytest.approx(g["lr"]["p"], rel=1e-6)
    assert res.extended_fit.loglik[1] == pytest.approx(g["ext"]["loglik"][1], abs=1e-6)
    cal = res.calibration
    assert set(cal["model"]) == {"baseline", "extended"}
    assert set(cal["horizon"]) == {float(t) for t in g["times"]}
    assert {"group", "mean_predicted", "observed", "observed_lower", "observed_upper"} <= set(cal.columns)


# ----------------------------------------------------------------------------------------------
# bootstrap, optimism, cross-validation
# ----------------------------------------------------------------------------------------------
def test_bootstrap_is_seeded_and_brackets_the_difference():
    d, g = load("lung")
    a = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365], n_boot=40, seed=7)
    b = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365], n_boot=40, seed=7)
    c = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365], n_boot=40, seed=8)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert not a.bootstrap.equals(c.bootstrap)
    s = a.summary.set_index(["model", "metric"])
    row = s.loc[("extended - baseline", "delta_harrell_c_bootstrap")]
    assert row["lower"] < row["estimate"] < row["upper"]
    assert row["estimate"] == pytest.approx(g["delta_harrell"]["delta"], abs=1e-6)
    # Harrell's optimism: the apparent C of a fitted model is optimistic on average
    for model in ("baseline", "extended"):
        corrected = s.loc[(model, "harrell_c_optimism_corrected"), "estimate"]
        apparent = s.loc[(model, "harrell_c"), "estimate"]
        assert corrected < apparent
        assert s.loc[(model, "calibration_slope_optimism_corrected"), "estimate"] < 1
    assert len(a.bootstrap) == 40 and a.settings["n_boot_failed"] == 0


def test_bootstrap_replicates_missing_a_category_are_skipped_and_counted():
    d, g = load("lung")
    d = d.copy()
    d["ecog"] = d["ph.ecog"].map({0: "0", 1: "1", 2: "2+", 3: "2+"})
    d.loc[d.index[:2], "ecog"] = "rare"       # a level with 2 patients: absent from many resamples
    res = prognostic(d, "time", "event", ["age", "sex"], ["age", "sex", "ecog"], horizon=[365],
                     n_boot=30, seed=3)
    failed = res.settings["n_boot_failed"]
    assert failed > 0 and len(res.bootstrap) == 30 - failed
    note = res.summary.set_index(["model", "metric"]).loc[
        ("extended - baseline", "delta_harrell_c_bootstrap"), "note"]
    assert f"{failed} skipped" in note


def test_cross_validated_c_is_seeded_and_lower_than_apparent():
    d, g = load("pbc")
    args = (d, "time", "event", g["covariates_base"], g["covariates_ext"])
    a = prognostic(*args, horizon=g["times"], n_boot=0, cv=5, seed=1)
    b = prognostic(*args, horizon=g["times"], n_boot=0, cv=5, seed=1)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    s = a.summary.set_index(["model", "metric"])
    for model in ("baseline", "extended"):
        cv = s.loc[(model, "harrell_c_cv"), "estimate"]
        assert 0.5 < cv < s.loc[(model, "harrell_c"), "estimate"]


def test_non_nested_models_have_no_lr_test_but_a_reason():
    d, _ = load("lung")
    res = prognostic(d, "time", "event", ["age"], ["sex", "ph.ecog"], horizon=[365], n_boot=0)
    assert np.isnan(res.lr_test["chisq"]) and "not nested" in res.lr_test["note"]
    row = res.summary.set_index("metric").loc["likelihood_ratio_chisq"]
    assert "not nested" in row["note"]


# ----------------------------------------------------------------------------------------------
# degenerate input: a clear StatsInputError, never a silent NaN
# ----------------------------------------------------------------------------------------------
def test_no_events_is_refused():
    t, e, x = np.arange(1, 6), np.zeros(5), np.arange(5.0)
    for f in (harrell_c, uno_c):
        with pytest.raises(StatsInputError, match="no events"):
            f(t, e, x)
    with pytest.raises(StatsInputError, match="no events"):
        time_dependent_auc(t, e, x, [2])


def test_constant_risk_is_refused():
    d, _ = load("lung")
    with pytest.raises(StatsInputError, match="constant"):
        harrell_c(d["time"], d["event"], np.ones(len(d)))
    with pytest.raises(StatsInputError, match="constant"):
        uno_c(d["time"], d["event"], np.ones(len(d)))
    with pytest.raises(StatsInputError, match="constant"):
        calibration(d["time"], d["event"], np.full(len(d), 0.3), 365)


def test_bad_inputs_name_the_problem():
    with pytest.raises(StatsInputError, match="missing"):
        harrell_c([1, 2, 3], [1, 0, 1], [0.1, np.nan, 0.3])
    with pytest.raises(StatsInputError, match="differ in length"):
        harrell_c([1, 2, 3], [1, 0, 1], [0.1, 0.2])
    with pytest.raises(StatsInputError, match="0/1"):
        harrell_c([1, 2, 3], [1, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(StatsInputError, match="tau"):
        uno_c([1, 2, 3, 4], [0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], tau=1.5)
    with pytest.raises(StatsInputError, match="probabilities"):
        brier_score([1, 2, 3], [1, 0, 1], [0.1, 1.2, 0.3], [2])
    with pytest.raises(StatsInputError, match="one column"):
        brier_score([1, 2, 3], [1, 0, 1], [0.1, 0.2, 0.3], [1, 2])


def test_prognostic_horizon_beyond_follow_up_is_refused():
    d, g = load("rossi")
    base, ext = g["covariates_base"], g["covariates_ext"]
    with pytest.raises(StatsInputError, match="beyond the last follow-up"):
        prognostic(d, "time", "event", base, ext, horizon=[40, 52], n_boot=0)
    with pytest.raises(StatsInputError, match="no event"):
        prognostic(d, "time", "event", base, ext, horizon=[0.5], n_boot=0)


def test_prognostic_missing_values_and_no_events():
    d, g = load("lung")
    d = d.copy()
    d.loc[d.index[3], "ph.ecog"] = np.nan
    with pytest.raises(StatsInputError, match="ph.ecog"):
        prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365], n_boot=0)
    with pytest.warns(UserWarning, match="1 row"):
        res = prognostic(d, "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365],
                         n_boot=0, missing="drop")
    assert res.n == len(d) - 1 == res.baseline_fit.n    # both models on the same patients
    d["event"] = 0
    with pytest.raises(StatsInputError, match="no events"):
        prognostic(d.dropna(), "time", "event", g["covariates_base"], g["covariates_ext"], horizon=[365], n_boot=0)


def test_prognostic_on_20000_patients():
    # 20,000 synthetic patients: the apparent metrics are vectorised (no O(n²) pairs); timing is
    # measured in benchmarks/, not asserted here
    rng = np.random.default_rng(11)
    n = 20_000
    df = pd.DataFrame({"ata": rng.integers(0, 3, n), "resp": rng.integers(0, 2, n),
                       "age": rng.normal(50, 10, n).round()})
    lp = 0.6 * df["ata"] - 0.8 * df["resp"]
    df["t"] = np.ceil(rng.exponential(np.exp(-lp)) * 24)
    df["e"] = (rng.random(n) < 0.7).astype(int)
    res = prognostic(df, "t", "e", ["ata", "age"], ["ata", "age", "resp"], horizon=[12, 24], n_boot=0)
    s = res.summary.set_index(["model", "metric"])
    assert s.loc[("extended - baseline", "delta_harrell_c"), "lower"] > 0
    assert res.lr_test["p"] < 1e-10
