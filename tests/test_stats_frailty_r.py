"""Live cross-check of frailty_cox and finegray_data + cox with R (``@pytest.mark.r``; skipped when
Rscript or survival is absent).

A seeded simulated multicenter cohort (integer-month times → ties; 30 centers of unequal size with a
gamma center effect; recurrence with death competing) is written to CSV; R fits on the same file:
  coxph(Surv(time, event) ~ arm + age + histology + frailty(center), ties = "efron" / "breslow")
  coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology, weights = fgwt, cluster = pid,
        data = finegray(Surv(time, ev) ~ ., etype = "recurrence"))
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from _rlive import requires_r, run_r

from latc.stats import cox, finegray_data, frailty_cox

pytestmark = pytest.mark.r

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$histology <- factor(d$histology, levels = c("PTC", "FTC", "PDTC"))
one <- function(ties) {
  f <- coxph(Surv(time, event) ~ arm + age + histology + frailty(center), data = d, ties = ties)
  h <- f$history[[1]]$history
  list(coef = unname(coef(f)), se = unname(sqrt(diag(f$var))), se2 = unname(sqrt(diag(f$var2))),
       theta = h[nrow(h), 1], frail = f$frail, fvar = f$fvar, iter = f$iter)
}
d$ev <- factor(d$etype, 0:2, c("censored", "recurrence", "death"))
fg <- finegray(Surv(time2, ev) ~ ., data = d, etype = "recurrence")
g <- coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology, weights = fgwt, cluster = pid, data = fg)
write_json(list(efron = one("efron"), breslow = one("breslow"), nrow = nrow(fg), sumwt = sum(fg$fgwt),
                fg = list(coef = unname(coef(g)), se = unname(sqrt(diag(g$naive.var))),
                          robust = unname(sqrt(diag(g$var))))),
           args[2], digits = NA)
"""


@requires_r("survival", "jsonlite")
def test_simulated_cohort_agrees_with_r(tmp_path):
    rng = np.random.default_rng(20260417)
    n = 900
    center = rng.choice(30, n, p=np.repeat([3, 2, 1], 10) / 60)
    frail = rng.gamma(1 / 0.3, 0.3, 30)
    df = pd.DataFrame({"pid": np.arange(1, n + 1), "center": [f"C{c:02d}" for c in center],
                       "arm": rng.integers(0, 2, n), "age": rng.normal(58, 11, n).round(),
                       "histology": rng.choice(["PTC", "FTC", "PDTC"], n, p=[0.6, 0.25, 0.15])})
    lp = 0.4 * df["arm"] + 0.02 * (df["age"] - 58) + df["histology"].map({"PTC": 0, "FTC": .3, "PDTC": 1.0})
    t1 = rng.exponential(60 / (frail[center] * np.exp(lp)))
    t2 = rng.exponential(150, n)
    c = rng.uniform(6, 84, n)
    df["time"] = np.ceil(np.minimum(t1, c))
    df["event"] = (t1 <= c).astype(int)
    df["time2"] = np.ceil(np.minimum.reduce([t1, t2, c]))
    df["etype"] = np.select([c <= np.minimum(t1, t2), t1 <= t2], [0, 1], 2)
    r = run_r(R_SCRIPT, df, tmp_path)
    assert isinstance(r, dict)

    py = df.assign(histology=pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"]))
    for ties in ("efron", "breslow"):
        g = r[ties]
        with warnings.catch_warnings():   # θ's search may stop at R's outer.max (latc warns, R does not)
            warnings.simplefilter("ignore", UserWarning)
            fit = frailty_cox(py, "time", "event", ["arm", "age", "histology"], "center", ties=ties)
        assert list(fit.iterations) == g["iter"]
        np.testing.assert_allclose(fit.coef, g["coef"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.summary["se"], g["se"], rtol=1e-8)
        np.testing.assert_allclose(fit.summary["se2"], g["se2"], rtol=1e-8)
        assert fit.theta == pytest.approx(g["theta"][0] if isinstance(g["theta"], list) else g["theta"], rel=1e-8)
        np.testing.assert_allclose(fit.frailty["frailty"], g["frail"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.frailty["se"] ** 2, g["fvar"], rtol=1e-8)

    fg = finegray_data(py, "time2", "etype", cause=1, id="pid")
    assert len(fg) == r["nrow"][0] and fg["fgwt"].sum() == pytest.approx(r["sumwt"][0], rel=1e-12)
    fit = cox(fg, "fgstop", "fgstatus", ["arm", "age", "histology"], start="fgstart", weights="fgwt", cluster="pid")
    np.testing.assert_allclose(fit.coef, r["fg"]["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.summary["se"], r["fg"]["se"], rtol=1e-8)
    np.testing.assert_allclose(fit.summary["robust_se"], r["fg"]["robust"], rtol=1e-8)

