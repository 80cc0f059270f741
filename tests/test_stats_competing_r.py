"""Live cross-check of the competing-risks functions with R (``@pytest.mark.r``; skipped when
Rscript or cmprsk is absent).

A seeded simulated cohort (integer-day times → ties of both causes and censoring at event times,
three histologies, centers as strata, a categorical covariate) is written to CSV; R analyses the
same file:
  cuminc(t, cause, histology); timepoints(fit, c(30, 180, 365, 730))
  cuminc(t, cause, histology, strata = center)$Tests
  crr(t, cause, model.matrix(~ x + arm + histology)[, -1], failcode = 1 / 2, cencode = 0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _rlive import requires_r, run_r

from latc.stats import cumulative_incidence, fine_gray, gray_test

pytestmark = pytest.mark.r

R_SCRIPT = r"""
suppressPackageStartupMessages({library(cmprsk); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$histology <- factor(d$histology, levels = c("PTC", "FTC", "PDTC"))
ci <- cuminc(d$t, d$cause, d$histology)
tp <- timepoints(ci, c(30, 180, 365, 730))
st <- cuminc(d$t, d$cause, d$histology, strata = d$center)$Tests
X <- model.matrix(~ x + arm + histology, d)[, -1]
f1 <- crr(d$t, d$cause, X, failcode = 1, cencode = 0)
f2 <- crr(d$t, d$cause, X, failcode = 2, cencode = 0)
curves <- ci[names(ci) != "Tests"]
out <- list(
  curves = lapply(curves, function(cv) { k <- length(cv$time); j <- seq(3, k - 1, by = 2)
                                         list(time = cv$time[j], est = cv$est[j], var = cv$var[j]) }),
  names = names(curves), tests = unname(ci$Tests[, "stat"]), strat = unname(st[, "stat"]),
  tp_est = tp$est, tp_var = tp$var, tp_rows = rownames(tp$est),
  f1 = list(coef = unname(f1$coef), se = unname(sqrt(diag(f1$var))), loglik = f1$loglik),
  f2 = list(coef = unname(f2$coef), se = unname(sqrt(diag(f2$var))), loglik = f2$loglik))
write_json(out, args[2], digits = NA, na = "null")
"""



@requires_r("cmprsk", "jsonlite")
def test_simulated_cohort_agrees_with_r(tmp_path):
    rng = np.random.default_rng(20240612)
    n = 800
    df = pd.DataFrame({
        "x": rng.normal(size=n).round(2),
        "arm": rng.integers(0, 2, n),
        "histology": rng.choice(["PTC", "FTC", "PDTC"], n, p=[0.6, 0.25, 0.15]),
        "center": rng.integers(1, 5, n)})
    lp = 0.4 * df["x"] - 0.5 * df["arm"] + df["histology"].map({"PTC": 0, "FTC": .4, "PDTC": 1.0})
    t1 = rng.exponential(900 * np.exp(-lp))
    t2 = rng.exponential(1500, n)
    c = rng.uniform(30, 1500, n)
    t = np.minimum.reduce([t1, t2, c])
    df["t"] = np.ceil(t / 7) * 7                          # weekly visits: many ties
    df["cause"] = np.select([t == t1, t == t2], [1, 2], 0)
    r = run_r(R_SCRIPT, df, tmp_path)

    py = df.assign(histology=pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"]))
    fit = cumulative_incidence(py, "t", "cause", group="histology")
    for name in r["names"]:
        cv = r["curves"][name]
        grp, cause = name.split(" ")
        tab = fit.table[(fit.table["group"] == grp) & (fit.table["cause"] == int(cause))]
        np.testing.assert_allclose(tab["time"], cv["time"], atol=1e-6)
        np.testing.assert_allclose(tab["cif"], cv["est"], atol=1e-6)
        np.testing.assert_allclose(tab["var"], cv["var"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(fit.tests["chisq"], r["tests"], rtol=1e-6, atol=1e-6)
    at = fit.at([30, 180, 365, 730]).set_index(["group", "cause"])
    for row, est, var in zip(r["tp_rows"], r["tp_est"], r["tp_var"]):
        grp, cause = row.split(" ")
        mine = at.loc[(grp, int(cause))]
        np.testing.assert_allclose(mine["cif"], np.array(est, dtype=float), atol=1e-6)
        np.testing.assert_allclose(mine["var"], np.array(var, dtype=float), atol=1e-4)

    strat = gray_test(py, "t", "cause", "histology", strata="center")
    np.testing.assert_allclose(strat["chisq"], r["strat"], rtol=1e-6, atol=1e-6)

    for cause, key in ((1, "f1"), (2, "f2")):
        fg = fine_gray(py, "t", "cause", ["x", "arm", "histology"], cause=cause)
        np.testing.assert_allclose(fg.coef, r[key]["coef"], atol=1e-6)
        np.testing.assert_allclose(fg.summary["se"], r[key]["se"], rtol=1e-4, atol=1e-4)
        assert fg.loglik == pytest.approx(r[key]["loglik"][0], abs=1e-6)
