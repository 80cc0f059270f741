"""Time latc.stats competing-risks functions against R's cmprsk on the same data.

    .venv/bin/python benchmarks/bench_stats_competing.py            # 10,000 rows
    .venv/bin/python benchmarks/bench_stats_competing.py --sizes 1000 10000 --repeats 3

A seeded simulated cohort (weekly visit times → ties of both causes; recurrence depending on a
continuous covariate, the arm and histology; death without recurrence as the competing event;
uniform censoring; centers as strata) is written to CSV; Python and Rscript read the same file.
Each call is timed end to end (R: ``system.time`` around the call; Python: ``time.perf_counter``
around the call, input checks included); the best of ``--repeats`` runs is reported with the ratio
Python / R (< 1 = faster than R) and the largest difference from R in the estimates.

Calls compared:

* ``cuminc``      — ``cuminc(t, cause, histology)`` (curves + Gray's test) vs
  ``cumulative_incidence(df, "t", "cause", group="histology")``;
* ``gray_strata`` — ``cuminc(t, cause, histology, strata = center)`` vs
  ``gray_test(df, ..., strata="center")`` (R also recomputes the curves);
* ``crr``         — ``crr(t, cause, model.matrix(~ x + arm + histology)[, -1])`` (with crr's
  robust variance) vs ``fine_gray(df, "t", "cause", ["x", "arm", "histology"])``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _rbench import best, main, rows, run_r

from latc.stats import cumulative_incidence, fine_gray, gray_test

R_CODE = r"""
suppressPackageStartupMessages({library(cmprsk); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[3])
d <- read.csv(args[1]); d$histology <- factor(d$histology, levels = c("PTC", "FTC", "PDTC"))
X <- model.matrix(~ x + arm + histology, d)[, -1]
best <- function(expr) { e <- substitute(expr); env <- parent.frame()
  min(replicate(reps, system.time(eval(e, env))[["elapsed"]])) }
res <- list()
res$cuminc <- best(cuminc(d$t, d$cause, d$histology))
res$gray_strata <- best(cuminc(d$t, d$cause, d$histology, strata = d$center))
res$crr <- best(crr(d$t, d$cause, X, failcode = 1, cencode = 0))
ci <- cuminc(d$t, d$cause, d$histology)
res$cif_last <- unname(sapply(ci[names(ci) != "Tests"], function(cv) cv$est[length(cv$est)]))
res$tests <- unname(ci$Tests[, "stat"])
res$strat <- unname(cuminc(d$t, d$cause, d$histology, strata = d$center)$Tests[, "stat"])
f <- crr(d$t, d$cause, X, failcode = 1, cencode = 0)
res$coef <- unname(f$coef); res$se <- unname(sqrt(diag(f$var)))
write_json(res, args[2], digits = NA)
"""


def simulate(n: int, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n).round(3), "arm": rng.integers(0, 2, n),
        "histology": rng.choice(["PTC", "FTC", "PDTC"], n, p=[0.6, 0.25, 0.15]),
        "center": rng.integers(1, 21, n)})
    lp = 0.3 * df["x"] - 0.4 * df["arm"] + df["histology"].map({"PTC": 0, "FTC": .3, "PDTC": 1})
    t_rec = rng.exponential(1200 * np.exp(-lp))
    t_death = rng.exponential(2500, n)
    t_cens = rng.uniform(100, 2000, n)
    t = np.minimum.reduce([t_rec, t_death, t_cens])
    df["t"] = np.ceil(t / 7) * 7
    df["cause"] = np.select([t == t_rec, t == t_death], [1, 2], 0)
    return df


def run(n: int, reps: int) -> list[dict]:
    df = simulate(n)
    py_df = df.assign(histology=pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"]))
    covs = ["x", "arm", "histology"]
    calls = {
        "cuminc": lambda: cumulative_incidence(py_df, "t", "cause", group="histology"),
        "gray_strata": lambda: gray_test(py_df, "t", "cause", "histology", strata="center"),
        "crr": lambda: fine_gray(py_df, "t", "cause", covs, cause=1),
    }
    py = {k: best(f, reps) for k, f in calls.items()}
    r = run_r(R_CODE, df, reps)
    diff = {}
    if r is not None:
        ci = cumulative_incidence(py_df, "t", "cause", group="histology")
        last = ci.table.groupby(["cause", "group"], sort=False, observed=True)["cif"].last()
        # R orders curves cause-major, groups within; reorder ours the same way
        last = last.reindex(pd.MultiIndex.from_product([ci.causes, ci.groups])).to_numpy()
        diff["cuminc"] = max(np.max(np.abs(last - r["cif_last"])),
                             np.max(np.abs(ci.tests["stat"].to_numpy() - r["tests"])))
        strat = gray_test(py_df, "t", "cause", "histology", strata="center")
        diff["gray_strata"] = float(np.max(np.abs(strat["stat"].to_numpy() - r["strat"])))
        fg = fine_gray(py_df, "t", "cause", covs, cause=1)
        diff["crr"] = max(np.max(np.abs(fg.coef - r["coef"])),
                          np.max(np.abs(fg.summary["se"].to_numpy() - r["se"])))
    return rows(n, py, r, diff, "max_abs_diff_vs_r")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], default_repeats=3)
