"""latc.omics.models: nested patient-grouped CV (leakage guard, planted biomarkers), evaluation
metrics checked against independent implementations, screens with BH-FDR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from latc.omics import OmicsInputError
from latc.omics.models import (auc, auc_ci, bh_fdr, brier, c_index_ci, calibration_slope_intercept, compare_models,
                               cox_score_z, evaluate, nested_cv, nested_cv_cox, permutation_test, permute_by_patient,
                               screen_binary, screen_survival)


def _patients(n):
    return np.array([f"C01-{i:04d}" for i in range(n)])


def _noise_study(seed=0, n=120, p=2000, per_patient=2):
    """Pure noise: a patient-level random vector shared by the patient's samples (so a split by
    sample can memorise patients) + sample noise; balanced labels unrelated to the features."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    P = rng.normal(size=(n, p))
    X = np.repeat(P, per_patient, axis=0) + 0.5 * rng.normal(size=(n * per_patient, p))
    return (pd.DataFrame(X, columns=[f"noise{j}" for j in range(p)]), np.repeat(y, per_patient),
            np.repeat(_patients(n), per_patient))


def _planted_study(seed=1, n=120, p=500, informative=4, shift=1.1):
    """``informative`` features shifted by ``shift`` SD in responders, the rest noise; one row per patient."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    X = rng.normal(size=(n, p))
    X[:, :informative] += shift * y[:, None]
    cols = [f"marker{j}" for j in range(informative)] + [f"noise{j}" for j in range(p - informative)]
    return pd.DataFrame(X, columns=cols, index=pd.Index(_patients(n), name="patient_id")), y


# ----------------------------------------------------------------------------------------------
# leakage guard (issue 7, "Tests")
# ----------------------------------------------------------------------------------------------
def test_leakage_guard_nested_cv_is_null_while_naive_pipeline_is_optimistic():
    X, y, pid = _noise_study()
    res = nested_cv(X, y, groups=pid, seed=0)
    ev = evaluate(res, n_boot=1000, seed=0).iloc[0]
    # naive pipeline: features selected on all rows, then 5-fold CV split by sample
    Z = SelectKBest(f_classif, k=50).fit_transform(X.to_numpy(), y)
    s = cross_val_predict(LogisticRegression(C=1.0, l1_ratio=1.0, solver="liblinear"), Z, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=0), method="decision_function")
    naive = roc_auc_score(y, s)
    # split by sample only (no selection leak): the twin sample of a test row sits in training
    s2 = cross_val_predict(LogisticRegression(C=1.0, l1_ratio=1.0, solver="liblinear"), X.to_numpy(), y,
                           cv=StratifiedKFold(5, shuffle=True, random_state=0), method="decision_function")
    by_sample = roc_auc_score(y, s2)
    msg = (f"nested CV AUC {ev.estimate:.3f} (95% CI {ev.lower:.3f}-{ev.upper:.3f}); naive (select on all, "
           f"split by sample) AUC {naive:.3f}; split by sample only AUC {by_sample:.3f}")
    print("\n" + msg)
    assert ev.lower <= 0.5 <= ev.upper, msg
    assert abs(ev.estimate - 0.5) < 0.12, msg
    assert naive > 0.7, msg
    assert by_sample > 0.7, msg
    # each patient's two samples were predicted in the same outer fold
    assert (res.predictions.groupby("patient_id")["fold"].nunique() == 1).all()
    assert len(res.patient_predictions) == 120


def test_outer_folds_never_share_a_patient_and_cover_every_row():
    X, y, pid = _noise_study(n=40, p=30, per_patient=3)
    res = nested_cv(X, y, groups=pid, outer_folds=4, inner_folds=3, n_features=10, seed=3)
    pred = res.predictions
    assert (pred["fold"] >= 0).all() and pred["score"].notna().all() and pred["probability"].between(0, 1).all()
    assert (pred.groupby("patient_id")["fold"].nunique() == 1).all()
    assert res.folds["n_test_patients"].sum() == 40
    assert (res.folds["n_train_patients"] + res.folds["n_test_patients"] == 40).all()


# ----------------------------------------------------------------------------------------------
# planted biomarkers
# ----------------------------------------------------------------------------------------------
def test_planted_biomarkers_are_selected_predictive_and_fdr_significant():
    X, y = _planted_study()
    res = nested_cv(X, y, seed=0)
    stab = res.stability
    markers = [f"marker{j}" for j in range(4)]
    ev = evaluate(res, n_boot=1000, seed=0).iloc[0]
    msg = f"AUC {ev.estimate:.3f} ({ev.lower:.3f}-{ev.upper:.3f}); stability:\n{stab.head(8)}"
    print("\n" + msg)
    assert (stab.loc[markers, "selected_fraction"] >= 0.8).all(), msg       # selected in ≥ 4 of 5 folds
    assert (stab.loc[markers, "mean_coefficient"] > 0).all(), msg
    # the markers carry the four largest coefficients; few noise features are stably selected
    assert set(stab["mean_coefficient"].abs().nlargest(4).index) == set(markers), msg
    noise_sel = stab.drop(index=markers)["selected_fraction"]
    assert (noise_sel >= 0.8).mean() < 0.02, msg
    assert ev.lower > 0.5, msg
    # calibrated probabilities on held-out patients: slope near 1, calibration-in-the-large near 0
    assert 0.5 < ev.calibration_slope < 2.0 and abs(ev.calibration_intercept) < 0.5, ev.to_dict()
    sc = screen_binary(X, y).set_index("feature")
    assert (sc.loc[markers, "q_value"] <= 0.05).all(), sc.head(8)
    assert (sc.drop(index=markers)["q_value"] > 0.05).all(), sc.head(8)
    assert (sc.loc[markers, "auc"] > 0.7).all() and (sc.loc[markers, "odds_ratio_per_sd"] > 1).all()


def test_null_screen_has_no_fdr_significant_feature():
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(100, 1000)))
    y = rng.integers(0, 2, 100)
    assert (screen_binary(X, y)["q_value"] > 0.05).all()


def test_elastic_net_variant_runs_and_recovers_markers():
    X, y = _planted_study(n=80, p=100, shift=1.5)
    res = nested_cv(X, y, l1_ratio=0.5, n_features=20, seed=2)
    assert (res.stability.loc[["marker0", "marker1"], "selected_fraction"] >= 0.8).all()
    assert auc(res.patient_predictions["y"], res.patient_predictions["score"]) > 0.75


# ----------------------------------------------------------------------------------------------
# permutation test
# ----------------------------------------------------------------------------------------------
def test_permute_by_patient_keeps_patient_outcomes_and_strata():
    g = np.repeat(_patients(10), 2)
    y = np.repeat(np.r_[np.ones(5), np.zeros(5)], 2)
    strata = np.repeat(np.r_[["A"] * 4, ["B"] * 6], 2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        yp = permute_by_patient(y, g, rng, strata)
        assert (pd.Series(yp).groupby(g).nunique() == 1).all()                # constant within patient
        assert yp.sum() == y.sum()
        assert yp[strata == "A"].sum() == y[strata == "A"].sum()             # within-stratum permutation


def test_permutation_test_planted_signal_reaches_the_smallest_p():
    X, y = _planted_study(n=60, p=60, shift=1.5)
    perm = permutation_test(X, y, n_permutations=9, seed=0, n_features=10, outer_folds=3, inner_folds=3)
    assert perm.p_value == pytest.approx(1 / 10)                              # observed beats all 9 nulls
    assert perm.observed > 0.8
    assert 0.3 < np.mean(perm.null) < 0.7, perm.null


@pytest.mark.slow
def test_permutation_p_values_are_not_small_on_noise():
    ps = []
    for seed in range(5):
        X, y = _planted_study(seed=100 + seed, n=60, p=60, informative=0)
        ps.append(permutation_test(X, y, n_permutations=19, seed=seed, n_features=10, outer_folds=3).p_value)
    assert np.median(ps) > 0.1, ps


# ----------------------------------------------------------------------------------------------
# metrics against independent implementations
# ----------------------------------------------------------------------------------------------
def test_auc_matches_sklearn_with_ties_and_bootstrap_is_seeded():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)                                 # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    a, b = auc_ci(y, s, n_boot=500, seed=1), auc_ci(y, s, n_boot=500, seed=1)
    assert a == b and a["lower"] < a["estimate"] < a["upper"]
    # percentile CI of the AUC ≈ the DeLong-width normal interval for n=200 (±0.04 tolerance)
    se_hanley = np.sqrt(a["estimate"] * (1 - a["estimate"]) / (min(y.sum(), 200 - y.sum())))
    assert (a["upper"] - a["lower"]) < 4 * 1.96 * se_hanley


def test_brier_and_calibration_against_known_miscalibration():
    assert brier([1, 0, 1], [0.8, 0.3, 0.5]) == pytest.approx((0.04 + 0.09 + 0.25) / 3)
    rng = np.random.default_rng(5)
    lp = rng.normal(0, 1.5, 40000)
    y = rng.random(40000) < expit(lp)
    good = calibration_slope_intercept(y, expit(lp))
    over = calibration_slope_intercept(y, expit(2 * lp))                      # overconfident: slope ½
    shifted = calibration_slope_intercept(y, expit(lp - 0.7))                 # underestimates risk
    assert good["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert abs(good["calibration_intercept"]) < 0.05
    assert over["calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert shifted["calibration_intercept"] == pytest.approx(0.7, abs=0.05)


def test_cox_score_z_is_the_cox_score_test():
    from latc.stats import cox

    rng = np.random.default_rng(6)
    n = 150
    x = rng.normal(size=(n, 3))
    t = rng.exponential(np.exp(-0.5 * x[:, 0]))
    e = (rng.random(n) < 0.7).astype(int)
    z = cox_score_z(x, t, e)
    for j in range(3):
        chisq = cox(pd.DataFrame({"t": t, "e": e, "x": x[:, j]}), "t", "e", ["x"]).score_test["chisq"]
        assert z[j] ** 2 == pytest.approx(chisq, rel=1e-8)                   # no ties: Breslow = Efron


def test_c_index_ci_estimate_is_latc_stats_harrell_c():
    from latc.stats import harrell_c
    from latc.omics.models._evaluate import _harrell_fast

    rng = np.random.default_rng(7)
    t = np.round(rng.exponential(10, 120))                                    # tied times
    e = rng.integers(0, 2, 120)
    r = np.round(rng.normal(size=120), 1)                                     # tied risks
    ci = c_index_ci(t + 1, e, r, n_boot=200, seed=0)
    ref = harrell_c(t + 1, e, r)
    assert ci["estimate"] == pytest.approx(ref.estimate)
    assert _harrell_fast(t + 1, e, r) == pytest.approx(ref.estimate, abs=1e-12)
    assert ci["lower"] < ci["estimate"] < ci["upper"]


def test_screen_logistic_odds_ratio_and_bh_agree_with_statsmodels():
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests

    X, y = _planted_study(n=90, p=40, seed=8)
    X.iloc[3, 2] = np.nan
    sc = screen_binary(X, y).set_index("feature")
    for col in ("marker0", "marker2", "noise5"):
        v = X[col].to_numpy()
        ok = np.isfinite(v)
        zc = (v[ok] - v[ok].mean()) / v[ok].std()
        fit = sm.Logit(y[ok], sm.add_constant(zc)).fit(disp=0)
        assert sc.loc[col, "odds_ratio_per_sd"] == pytest.approx(np.exp(fit.params[1]), rel=1e-6)
        assert sc.loc[col, "p_logistic"] == pytest.approx(fit.pvalues[1], rel=1e-6)
    p = sc["p_value"].to_numpy()
    assert np.allclose(sc["q_value"], multipletests(p, method="fdr_bh")[1])
    assert np.isnan(bh_fdr([np.nan, 0.01]))[0] and bh_fdr([np.nan, 0.01])[1] == pytest.approx(0.01)


# ----------------------------------------------------------------------------------------------
# survival (RFS)
# ----------------------------------------------------------------------------------------------
def _survival_study(seed=9, n=150, p=200, beta=0.9):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(20 * np.exp(-beta * (X[:, 0] + X[:, 1])))
    c = rng.uniform(5, 40, n)
    cols = ["marker0", "marker1"] + [f"noise{j}" for j in range(p - 2)]
    return (pd.DataFrame(X, columns=cols, index=pd.Index(_patients(n), name="patient_id")),
            np.minimum(t, c), (t <= c).astype(int))


def test_nested_cox_recovers_planted_prognostic_features():
    X, t, e = _survival_study()
    res = nested_cv_cox(X, t, e, n_features=30, seed=0)
    ev = evaluate(res, n_boot=300, seed=0).iloc[0]
    stab = res.stability
    msg = f"C {ev.estimate:.3f} ({ev.lower:.3f}-{ev.upper:.3f}); {stab.head(5)}"
    assert ev.lower > 0.6, msg
    assert (stab.loc[["marker0", "marker1"], "selected_fraction"] == 1.0).all(), msg
    assert (stab.loc[["marker0", "marker1"], "mean_coefficient"] > 0).all(), msg
    sc = screen_survival(X.iloc[:, :40], t, e).set_index("feature")
    assert (sc.loc[["marker0", "marker1"], "q_value"] <= 0.05).all()
    assert (sc.loc[["marker0", "marker1"], "hazard_ratio_per_sd"] > 1.5).all()
    assert (sc.drop(index=["marker0", "marker1"])["q_value"] > 0.05).all()


def test_nested_cox_on_noise_covers_half():
    X, t, e = _survival_study(beta=0.0, p=300, seed=10)
    ev = evaluate(nested_cv_cox(X, t, e, n_features=30, seed=0), n_boot=300, seed=0).iloc[0]
    assert ev.lower <= 0.5 <= ev.upper, ev.to_dict()


# ----------------------------------------------------------------------------------------------
# model comparison (clinical vs clinical + omics)
# ----------------------------------------------------------------------------------------------
def test_paired_comparison_detects_added_omics_value():
    rng = np.random.default_rng(12)
    n = 160
    clin = rng.normal(size=n)
    omic = rng.normal(size=n)
    y = (rng.random(n) < expit(0.8 * clin + 1.8 * omic)).astype(int)
    idx = pd.Index(_patients(n), name="patient_id")
    C = pd.DataFrame({"age_sd": clin}, index=idx)
    O = pd.DataFrame(np.c_[omic, rng.normal(size=(n, 50))], index=idx,
                     columns=["marker"] + [f"noise{j}" for j in range(50)])
    a = nested_cv(C, y, keep=["age_sd"], seed=0)
    b = nested_cv(pd.concat([C, O], axis=1), y, keep=["age_sd"], n_features=10, seed=0)
    comp = compare_models(a, b, names=("clinical", "clinical+omics"), n_boot=500, seed=0).iloc[0]
    assert comp.difference == pytest.approx(comp.estimate_b - comp.estimate_a)
    assert comp.difference > 0 and comp.lower > 0, comp.to_dict()
    same = compare_models(a, a, n_boot=100, seed=0).iloc[0]
    assert same.difference == 0 and same.lower == 0 == same.upper


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
def test_clear_errors_for_bad_inputs():
    X, y = _planted_study(n=30, p=5)
    with pytest.raises(OmicsInputError, match="binary 0/1"):
        nested_cv(X, np.arange(30))
    with pytest.raises(OmicsInputError, match="smaller outcome class"):
        nested_cv(X, np.r_[np.ones(27), np.zeros(3)])
    Xs = pd.concat([X, X])
    with pytest.raises(OmicsInputError, match="different outcomes"):
        nested_cv(Xs, np.r_[y, 1 - y], groups=np.r_[X.index, X.index])
    bad = X.assign(site="x")
    with pytest.raises(OmicsInputError, match="non-numeric feature column"):
        nested_cv(bad, y)
    with pytest.raises(OmicsInputError, match="30 rows"):
        nested_cv(X, y[:10])
    with pytest.raises(OmicsInputError, match="times must be > 0"):
        nested_cv_cox(X, np.zeros(30), np.ones(30))
