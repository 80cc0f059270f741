"""Time latc.stats ``cox`` and ``kaplan_meier`` against R's ``coxph`` / ``survfit`` on the same data.

    .venv/bin/python benchmarks/bench_stats_survival.py            # 10,000 rows
    .venv/bin/python benchmarks/bench_stats_survival.py --sizes 10000 100000 --repeats 5

A seeded simulated cohort (integer-day times → many ties, a categorical histology, a stratum,
centers as clusters, IPTW-like weights) is written to CSV; Python and Rscript read the same file.
Each call is timed end to end (R: ``system.time`` around the call, formula parsing included; Python:
``time.perf_counter`` around the call, input checks included); the best of ``--repeats`` runs is
reported with the ratio Python / R (< 1 = faster than R) and the largest coefficient difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _rbench import best, main, rows, run_r

from latc.stats import cox, kaplan_meier

R_CODE = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[3])
d <- read.csv(args[1]); d$histology <- factor(d$histology, levels = c("PTC", "FTC", "PDTC"))
best <- function(expr) { e <- substitute(expr); env <- parent.frame()
  min(replicate(reps, system.time(eval(e, env))[["elapsed"]])) }
res <- list()
res$cox_efron <- best(coxph(Surv(t, e) ~ x1 + x2 + arm + histology, data = d))
res$cox_breslow_strata <- best(coxph(Surv(t, e) ~ x1 + x2 + arm + histology + strata(stage), data = d, ties = "breslow"))
res$cox_weighted_cluster <- best(coxph(Surv(t, e) ~ arm + x1, data = d, weights = w, cluster = center))
res$km_by_arm <- best(survfit(Surv(t, e) ~ arm, data = d))
res$km_weighted_robust <- best(survfit(Surv(t, e) ~ arm, data = d, weights = w, robust = TRUE))
res$coef_efron <- unname(coef(coxph(Surv(t, e) ~ x1 + x2 + arm + histology, data = d)))
res$coef_weighted <- unname(coef(coxph(Surv(t, e) ~ arm + x1, data = d, weights = w, cluster = center)))
write_json(res, args[2], digits = NA)
"""


def simulate(n: int, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x1": rng.normal(size=n).round(3), "x2": rng.uniform(20, 80, n).round(1),
        "arm": rng.integers(0, 2, n),
        "histology": rng.choice(["PTC", "FTC", "PDTC"], n, p=[0.6, 0.25, 0.15]),
        "stage": rng.integers(1, 5, n), "center": rng.integers(1, 41, n),
        "w": rng.uniform(0.3, 5, n).round(4)})
    lp = 0.3 * df["x1"] + 0.01 * df["x2"] - 0.4 * df["arm"] + df["histology"].map({"PTC": 0, "FTC": .3, "PDTC": 1})
    df["t"] = np.ceil(rng.exponential(365 * np.exp(-lp)))
    df["e"] = (rng.random(n) < 0.7).astype(int)
    return df


def run(n: int, reps: int) -> list[dict]:
    df = simulate(n)
    py_df = df.assign(histology=pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"]))
    covs = ["x1", "x2", "arm", "histology"]
    calls = {
        "cox_efron": lambda: cox(py_df, "t", "e", covs),
        "cox_breslow_strata": lambda: cox(py_df, "t", "e", covs, strata="stage", ties="breslow"),
        "cox_weighted_cluster": lambda: cox(py_df, "t", "e", ["arm", "x1"], weights="w", cluster="center"),
        "km_by_arm": lambda: kaplan_meier(py_df, "t", "e", group="arm"),
        "km_weighted_robust": lambda: kaplan_meier(py_df, "t", "e", group="arm", weights="w"),
    }
    py = {k: best(f, reps) for k, f in calls.items()}
    r = run_r(R_CODE, df, reps)
    diff = {}
    if r is not None:  # the largest coefficient difference, shown on every row
        d_coef = max(np.max(np.abs(cox(py_df, "t", "e", covs).coef - r["coef_efron"])),
                     np.max(np.abs(cox(py_df, "t", "e", ["arm", "x1"], weights="w", cluster="center").coef
                                   - r["coef_weighted"])))
        diff = dict.fromkeys(py, d_coef)
    return rows(n, py, r, diff, "max_abs_coef_diff")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], default_repeats=5)
