"""Live cross-check with R (``@pytest.mark.r``; skipped when Rscript or R's survival is absent).

A seeded simulated cohort with heavy ties, IPTW-like weights, centers (cluster), a stratum and a
categorical covariate is written to CSV; R fits the same models on that file:
  coxph(Surv(t, e) ~ x + arm + histology + strata(stage), data = d, weights = w, cluster = center)
  coxph(Surv(t, e) ~ x + arm + histology, data = d, ties = "breslow")
  cox.zph(<each>, transform = "km"), survfit(Surv(t, e) ~ arm, weights = w, robust = TRUE),
  survdiff(Surv(t, e) ~ arm + strata(stage))
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _rlive import requires_r, run_r

from latc.stats import cox, cox_zph, kaplan_meier, logrank

pytestmark = pytest.mark.r

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$histology <- factor(d$histology, levels = c("PTC", "FTC", "PDTC"))
f1 <- coxph(Surv(t, e) ~ x + arm + histology + strata(stage), data = d, weights = w, cluster = center)
f2 <- coxph(Surv(t, e) ~ x + arm + histology, data = d, ties = "breslow")
km <- summary(survfit(Surv(t, e) ~ arm, data = d, weights = w, robust = TRUE), censored = TRUE)
sd <- survdiff(Surv(t, e) ~ arm + strata(stage), data = d)
out <- list(
  f1 = list(coef = unname(coef(f1)), rse = unname(sqrt(diag(f1$var))), se = unname(sqrt(diag(f1$naive.var))),
            c = unname(f1$concordance["concordance"]), zph = unname(cox.zph(f1)$table[, "chisq"])),
  f2 = list(coef = unname(coef(f2)), se = unname(sqrt(diag(f2$var))), lr = unname(2 * diff(f2$loglik)),
            score = unname(f2$score), zph = unname(cox.zph(f2, transform = "rank")$table[, "chisq"])),
  km = list(surv = km$surv, se = km$std.err, lower = km$lower, upper = km$upper),
  sd = list(chisq = sd$chisq))
write_json(out, args[2], digits = NA, na = "null")
"""



@requires_r("survival", "jsonlite")
def test_simulated_cohort_agrees_with_r(tmp_path):
    rng = np.random.default_rng(20240611)
    n = 600
    df = pd.DataFrame({
        "x": rng.normal(size=n).round(2),
        "arm": rng.integers(0, 2, n),
        "histology": rng.choice(["PTC", "FTC", "PDTC"], n, p=[0.6, 0.25, 0.15]),
        "stage": rng.integers(1, 4, n),
        "center": rng.integers(1, 13, n),
        "w": rng.uniform(0.4, 4.0, n).round(3),
    })
    lp = 0.4 * df["x"] - 0.5 * df["arm"] + df["histology"].map({"PTC": 0, "FTC": 0.3, "PDTC": 1.0})
    df["t"] = np.ceil(rng.exponential(np.exp(-lp)) * 24)            # months → many ties
    df["e"] = (rng.random(n) < 0.75).astype(int)
    df["histology"] = pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"])
    r = run_r(R_SCRIPT, df, tmp_path)

    f1 = cox(df, "t", "e", ["x", "arm", "histology"], strata="stage", weights="w", cluster="center")
    np.testing.assert_allclose(f1.coef, r["f1"]["coef"], rtol=1e-6)
    np.testing.assert_allclose(f1.summary["se"], r["f1"]["se"], rtol=1e-6)
    np.testing.assert_allclose(f1.summary["robust_se"], r["f1"]["rse"], rtol=1e-3)
    np.testing.assert_allclose(f1.concordance, r["f1"]["c"], atol=1e-9)
    np.testing.assert_allclose(cox_zph(f1)["chisq"], r["f1"]["zph"], rtol=1e-6)

    f2 = cox(df, "t", "e", ["x", "arm", "histology"], ties="breslow")
    np.testing.assert_allclose(f2.coef, r["f2"]["coef"], rtol=1e-6)
    np.testing.assert_allclose(f2.summary["se"], r["f2"]["se"], rtol=1e-6)
    np.testing.assert_allclose(f2.lr_test["chisq"], r["f2"]["lr"], rtol=1e-6)
    np.testing.assert_allclose(f2.score_test["chisq"], r["f2"]["score"], rtol=1e-6)
    np.testing.assert_allclose(cox_zph(f2, transform="rank")["chisq"], r["f2"]["zph"], rtol=1e-6)

    km = kaplan_meier(df, "t", "e", group="arm", weights="w")
    np.testing.assert_allclose(km.table["survival"], r["km"]["surv"], rtol=1e-6)
    np.testing.assert_allclose(km.table["std_err"], r["km"]["se"], rtol=1e-3)
    lower = np.array([np.nan if v is None else v for v in r["km"]["lower"]], dtype=float)
    np.testing.assert_allclose(km.table["lower"], lower, rtol=1e-3)

    lr = logrank(df, "t", "e", "arm", strata="stage")
    np.testing.assert_allclose(lr.statistic, r["sd"]["chisq"], rtol=1e-6)
