"""Live cross-check of the prognostic statistics with R (``@pytest.mark.r``; skipped without R).

A seeded simulated recurrence cohort — times in whole months (many ties, censorings tied with
recurrences), an ATA-like 3-level risk (tied risk scores), a response variable, administrative
censoring at 60 months so the last time is censored — is written to CSV and R scores it:
  fb <- coxph(Surv(t, e) ~ ata + age, d); fe <- coxph(Surv(t, e) ~ ata + age + response, d)
  concordance(Surv(t, e) ~ lp, reverse = TRUE)                       (Harrell)
  concordance(Surv(t, e) ~ lp, reverse = TRUE, timewt = "n/G2", ymax = 36)   (Uno)
  concordance(fb, fe)                                                 (IJ SE of the difference)
  1 - summary(survfit(fe, newdata = d), times = c(12, 36))$surv       (predicted risk)
  Score(list(ext = risk), formula = Surv(t, e) ~ 1, d, times = c(12, 36), metrics = c("auc", "brier"))
  anova(fb, fe)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _rlive import requires_r, run_r

from latc.stats import brier_score, harrell_c, prognostic, time_dependent_auc, uno_c

pytestmark = pytest.mark.r

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(riskRegression); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
fb <- coxph(Surv(t, e) ~ ata + age, data = d)
fe <- coxph(Surv(t, e) ~ ata + age + response, data = d)
lp <- predict(fe, type = "lp")
h <- concordance(Surv(t, e) ~ lp, data = d, reverse = TRUE)
u <- concordance(Surv(t, e) ~ lp, data = d, reverse = TRUE, timewt = "n/G2", ymax = 36)
cc <- concordance(fb, fe)
risk <- 1 - t(summary(survfit(fe, newdata = d), times = c(12, 36))$surv)
sc <- Score(list(ext = risk), formula = Surv(t, e) ~ 1, data = d, times = c(12, 36),
            metrics = c("auc", "brier"), null.model = FALSE, conf.int = FALSE)
a <- anova(fb, fe)
out <- list(lp = unname(lp), harrell = c(h$concordance, sqrt(h$var)),
            uno = c(u$concordance, sqrt(u$var)),
            delta = c(cc$concordance[2] - cc$concordance[1],
                      sqrt(cc$var[1, 1] + cc$var[2, 2] - 2 * cc$var[1, 2])),
            risk = unname(risk), auc = sc$AUC$score$AUC, brier = sc$Brier$score$Brier,
            lr = c(a$Chisq[2], a[["Pr(>|Chi|)"]][2]))
write_json(out, args[2], digits = NA)
"""



@requires_r("survival", "riskRegression", "jsonlite")
def test_simulated_recurrence_cohort_agrees_with_r(tmp_path):
    rng = np.random.default_rng(20240612)
    n = 500
    df = pd.DataFrame({"ata": rng.integers(0, 3, n), "age": rng.normal(55, 12, n).round(),
                       "response": rng.integers(0, 2, n)})
    lp = 0.7 * df["ata"] - 0.9 * df["response"] + 0.01 * (df["age"] - 55)
    recur = np.ceil(rng.exponential(40 * np.exp(-lp)))
    cens = np.ceil(rng.uniform(6, 90, n))
    df["t"] = np.minimum(np.minimum(recur, cens), 60)
    df["e"] = ((recur <= cens) & (recur < 60)).astype(int)     # administrative censoring at 60
    assert (df.loc[df["t"] == df["t"].max(), "e"] == 0).all()     # the last time is censored
    r = run_r(R_SCRIPT, df, tmp_path)

    res = prognostic(df, "t", "e", ["ata", "age"], ["ata", "age", "response"], horizon=[12, 36], n_boot=0)
    lp_r = np.asarray(r["lp"])
    h = harrell_c(df["t"], df["e"], lp_r)
    u = uno_c(df["t"], df["e"], lp_r, tau=36)
    np.testing.assert_allclose([h.estimate, u.estimate], [r["harrell"][0], r["uno"][0]], atol=1e-6)
    np.testing.assert_allclose([h.se, u.se], [r["harrell"][1], r["uno"][1]], atol=1e-4)
    s = res.summary.set_index(["model", "metric"])
    assert s.loc[("extended", "harrell_c"), "estimate"] == pytest.approx(r["harrell"][0], abs=1e-6)
    delta = s.loc[("extended - baseline", "delta_harrell_c")]
    assert delta["estimate"] == pytest.approx(r["delta"][0], abs=1e-6)
    assert delta["se"] == pytest.approx(r["delta"][1], abs=1e-4)
    risk_r = np.asarray(r["risk"])
    auc = time_dependent_auc(df["t"], df["e"], lp_r, [12, 36])
    np.testing.assert_allclose(auc["auc"], r["auc"], atol=1e-6)
    bs = brier_score(df["t"], df["e"], risk_r, [12, 36])
    np.testing.assert_allclose(bs["brier"], r["brier"], atol=1e-6)
    ext = s.loc["extended"].reset_index().set_index(["metric", "horizon"])
    np.testing.assert_allclose([ext.loc[("brier", h), "estimate"] for h in (12.0, 36.0)],
                               r["brier"], atol=1e-6)
    assert res.lr_test["chisq"] == pytest.approx(r["lr"][0], abs=1e-6)
    # the last time is censored: a horizon there has no estimate, and says why
    late = time_dependent_auc(df["t"], df["e"], lp_r, [60])
    assert np.isnan(late["auc"].iloc[0]) and "censored there" in late["note"].iloc[0]
