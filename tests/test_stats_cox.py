"""cox against R survival 3.5-3 ``coxph`` goldens (tests/r/survival_goldens.R → tests/data/r_golden/).

Each case states its R call (also stored in the golden's "call" field). Tolerances: 1e-6 for
coefficients, SEs, tests and concordance; 1e-3 relative for robust SEs (issue 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox

GOLD = Path(__file__).parent / "data" / "r_golden"
ROSSI7 = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def golden(name: str) -> dict:
    return json.loads((GOLD / f"cox_{name}.json").read_text())


def data(name: str) -> pd.DataFrame:
    df = pd.read_csv(GOLD / f"{name}.csv")
    if name == "veteran":  # R's factor level order (reference = squamous)
        df["celltype"] = pd.Categorical(df["celltype"], ["squamous", "smallcell", "adeno", "large"])
    return df


# name → (R call as in the golden, python call)
CASES = {
    "lung_efron": ('coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "efron")',
                   lambda: cox(data("lung"), "time", "event", ["age", "sex", "ph.ecog"], missing="drop")),
    "lung_breslow": ('coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "breslow")',
                     lambda: cox(data("lung"), "time", "event", ["age", "sex", "ph.ecog"], ties="breslow",
                                 missing="drop")),
    "rossi_efron": ("coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)",
                    lambda: cox(data("rossi"), "week", "arrest", ROSSI7)),
    "rossi_breslow": ('coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi, '
                      'ties = "breslow")',
                      lambda: cox(data("rossi"), "week", "arrest", ROSSI7, ties="breslow")),
    "veteran_celltype": ("coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran)",
                         lambda: cox(data("veteran"), "time", "status", ["trt", "celltype", "karno"])),
    "veteran_strata": ("coxph(Surv(time, status) ~ trt + karno + age + strata(celltype), data = veteran)",
                       lambda: cox(data("veteran"), "time", "status", ["trt", "karno", "age"], strata="celltype")),
    "rossi_strata2": ('coxph(Surv(week, arrest) ~ fin + age + prio + strata(race, wexp), data = rossi, '
                      'ties = "breslow")',
                      lambda: cox(data("rossi"), "week", "arrest", ["fin", "age", "prio"], strata=["race", "wexp"],
                                  ties="breslow")),
    "rossi_iptw_robust": ("coxph(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE)",
                          lambda: cox(data("rossi_iptw"), "week", "arrest", ["fin"], weights="iptw", robust=True)),
    "rossi_iptw_robust_adj": ('coxph(Surv(week, arrest) ~ fin + age + prio, data = rossi, weights = iptw, '
                              'robust = TRUE, ties = "breslow")',
                              lambda: cox(data("rossi_iptw"), "week", "arrest", ["fin", "age", "prio"],
                                          weights="iptw", robust=True, ties="breslow")),
    "lung_cluster_inst": ("coxph(Surv(time, event) ~ age + sex, data = lung, cluster = inst)",
                          lambda: cox(data("lung"), "time", "event", ["age", "sex"], cluster="inst",
                                      missing="drop")),
    "lung_robust": ("coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, robust = TRUE)",
                    lambda: cox(data("lung"), "time", "event", ["age", "sex", "ph.ecog"], robust=True,
                                missing="drop")),
    "ovarian": ("coxph(Surv(futime, fustat) ~ age + rx, data = ovarian)",
                lambda: cox(data("ovarian"), "futime", "fustat", ["age", "rx"])),
}


@pytest.mark.filterwarnings("ignore:cox. .* row")
@pytest.mark.parametrize("name", list(CASES))
def test_cox_matches_coxph(name):
    r_call, fit_fn = CASES[name]
    g = golden(name)
    assert g["call"] == r_call
    fit = fit_fn()
    rs = pd.DataFrame(g["summary"])
    s = fit.summary
    assert len(s) == len(rs)
    for col in ("coef", "exp_coef", "se", "z", "p", "lower", "upper"):
        np.testing.assert_allclose(s[col], rs[col], rtol=1e-6, atol=1e-8, err_msg=col)
    if rs["robust_se"].notna().all():
        assert fit.robust
        np.testing.assert_allclose(s["robust_se"], rs["robust_se"], rtol=1e-3)
    else:
        assert "robust_se" not in s
    np.testing.assert_allclose(fit.loglik, g["loglik"], rtol=1e-9)
    for test in ("lr_test", "wald_test", "score_test"):
        mine, ref = getattr(fit, test), g[test]
        np.testing.assert_allclose(mine["chisq"], ref["chisq"], rtol=1e-6, err_msg=test)
        assert mine["df"] == ref["df"]
        np.testing.assert_allclose(mine["p"], ref["p"], rtol=1e-6, atol=1e-12, err_msg=test)
    c = g["concordance"]
    np.testing.assert_allclose(fit.concordance, c["concordance"], atol=1e-9)
    for mine, ref in (("concordant", "concordant"), ("discordant", "discordant"), ("tied_x", "tied.x")):
        np.testing.assert_allclose(fit.concordance_counts[mine], c[ref], rtol=1e-9)
    assert fit.n == g["n"] and fit.events == g["events"]
    np.testing.assert_allclose(fit.var, np.array(g["var"]).reshape(fit.var.shape), rtol=1e-3)


def test_categorical_covariate_treatment_contrasts():
    # R: coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran) — squamous is the reference
    fit = cox(data("veteran"), "time", "status", ["trt", "celltype", "karno"])
    assert list(fit.summary.index) == ["trt", "celltype[smallcell]", "celltype[adeno]", "celltype[large]", "karno"]
    assert fit.terms["celltype"] == [1, 2, 3]
    # strings (no categorical dtype) get sorted levels: adeno becomes the reference, same fit
    vet = data("veteran").astype({"celltype": str})
    fit2 = cox(vet, "time", "status", ["trt", "celltype", "karno"])
    assert "celltype[adeno]" not in fit2.summary.index
    assert fit2.loglik[1] == pytest.approx(fit.loglik[1], rel=1e-12)


def test_weighted_robust_is_r_default_and_wider_than_naive():
    # R turns robust on for non-integer weights: coxph(Surv(week, arrest) ~ fin, data = rossi, weights = iptw)
    fit = cox(data("rossi_iptw"), "week", "arrest", ["fin"], weights="iptw")
    g = golden("rossi_iptw_robust")
    assert fit.robust
    np.testing.assert_allclose(fit.summary["robust_se"], pd.DataFrame(g["summary"])["robust_se"], rtol=1e-3)
    assert fit.summary["robust_se"].iloc[0] > fit.summary["se"].iloc[0]


def test_row_order_does_not_matter():
    rossi = data("rossi")
    a = cox(rossi, "week", "arrest", ROSSI7)
    b = cox(rossi.sample(frac=1, random_state=7), "week", "arrest", ROSSI7)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    assert a.concordance == pytest.approx(b.concordance, abs=1e-12)


# ---- degenerate input --------------------------------------------------------------------------
def test_no_events():
    with pytest.raises(StatsInputError, match="no events in 'arrest'"):
        cox(data("rossi").assign(arrest=0), "week", "arrest", ["fin"])


def test_constant_and_single_level_covariates():
    rossi = data("rossi")
    with pytest.raises(StatsInputError, match="'fin' is constant"):
        cox(rossi.assign(fin=1), "week", "arrest", ["fin", "age"])
    with pytest.raises(StatsInputError, match="'site' has a single level"):
        cox(rossi.assign(site="A"), "week", "arrest", ["site", "age"])


def test_collinear_covariates():
    rossi = data("rossi")
    with pytest.raises(StatsInputError, match="'age2' is a linear combination"):
        cox(rossi.assign(age2=2 * rossi["age"] + 1), "week", "arrest", ["age", "age2"])


def test_perfect_separation_infinite_coefficient():
    # every event in group 1, none in group 0: R warns "Loglik converged before variable 1;
    # coefficient may be infinite"; here a clear error naming the coefficient.
    df = pd.DataFrame({"t": np.arange(1, 21, dtype=float), "e": [1] * 10 + [0] * 10,
                       "g": [1] * 10 + [0] * 10})
    with pytest.raises(StatsInputError, match=r"\['g'\].*infinite"):
        cox(df, "t", "e", ["g"])


def test_missing_values_named_or_dropped():
    lung = data("lung")
    with pytest.raises(StatsInputError, match="'ph.ecog' \\(1 rows\\)"):
        cox(lung, "time", "event", ["age", "ph.ecog"])
    with pytest.warns(UserWarning, match="1 row"):
        fit = cox(lung, "time", "event", ["age", "ph.ecog"], missing="drop")
    assert fit.n == 227 and fit.n_dropped == 1


def test_bad_options():
    rossi = data("rossi")
    with pytest.raises(StatsInputError, match="ties"):
        cox(rossi, "week", "arrest", ["fin"], ties="exact")
    with pytest.raises(StatsInputError, match="not found"):
        cox(rossi, "week", "arrest", ["treatment"])
    with pytest.raises(StatsInputError, match="weights column 'w'"):
        cox(rossi.assign(w=-1.0), "week", "arrest", ["fin"], weights="w")


def test_cox_vectorised_at_scale():
    rng = np.random.default_rng(3)
    n = 100_000
    x = rng.normal(size=n)
    t = np.ceil(rng.exponential(np.exp(-0.5 * x)) * 50)        # many ties; true log-HR 0.5
    df = pd.DataFrame({"t": t, "e": rng.random(n) < 0.8, "x": x, "center": rng.integers(0, 30, n)})
    fit = cox(df, "t", "e", ["x"], cluster="center")
    assert abs(fit.coef[0] - 0.5) < 0.03
    assert 0.5 < fit.concordance < 1


def test_a_coefficient_beyond_float_range_of_its_hazard_ratio_gives_inf_quietly():
    """A finite coefficient > 709 (a covariate on a tiny scale: the bootstrap calibration slope on a
    near-constant linear predictor did this in `latc run`) has exp(coef) = inf; no numpy warning
    reaches the user's console, and the coefficient is the unscaled one times the scale."""
    import warnings

    rng = np.random.default_rng(7)
    x = rng.normal(size=300)
    t = rng.exponential(np.exp(-0.8 * x))
    df = pd.DataFrame({"t": t, "e": (rng.uniform(size=300) < 0.8).astype(int), "x": x, "tiny": x * 1e-3})
    ref = cox(df, "t", "e", ["x"]).summary.loc["x", "coef"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = cox(df, "t", "e", ["tiny"])
    s = fit.summary.loc["tiny"]
    assert s["coef"] == pytest.approx(ref * 1e3, rel=1e-6) and s["coef"] > 709
    assert np.isinf(s["exp_coef"]) and np.isinf(s["upper"]) and np.isfinite(s["p"])
