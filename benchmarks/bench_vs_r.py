"""The analysis plan's Cox, KM and matching calls in Python (latc.stats) and R on the same data.

    .venv/bin/python benchmarks/bench_vs_r.py [--patients 10000] [--repeats 3]

Synthesizes a cohort (seed 1), derives the datasets, builds the neoadjuvant-vs-upfront analysis
frame and propensity score exactly as ``latc analyze`` does, writes it to one CSV, then times the
same calls in-process in Python and in one ``Rscript`` run (``system.time``, best of ``repeats``;
the CSV read is not timed on either side):

* Cox adjusted: ``coxph(Surv(rec_time, rec_event) ~ neoadjuvant + confounders + strata(center))``
* Cox IPTW: ``coxph(Surv(rec_time, rec_event) ~ neoadjuvant + strata(center), weights = w_ate, robust = TRUE)``
* KM by cohort, and IPTW-weighted KM (robust variance): ``survfit(...)``
* matching: ``matchit(neoadjuvant ~ ., distance = ps, method = "nearest", caliper = 0.2, exact = ~center)``
  (MatchIt's ``distance`` given as the same propensity vector; Debian's MatchIt 4.5.1 has a caliper bug —
  docs/stats/causal.md — so only the timing and the number matched are reported for it)

Prints a Markdown table with both times, the ratio Python / R and the largest coefficient difference.
"""

from __future__ import annotations

import argparse
import json
import os

# like for like: R's reference BLAS is single-threaded; a multi-threaded OpenBLAS on a busy 2-core
# machine spin-waits (a 10,000 x 18 information matrix took 0.01-0.4 s per call)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

R_SCRIPT = r"""
suppressMessages({library(survival); library(MatchIt); library(jsonlite)})
args <- commandArgs(TRUE); d <- read.csv(args[1]); reps <- as.integer(args[2])
for (v in c("sex", "ecog", "histology_group", "resectability", "center", "cohort")) d[[v]] <- factor(d[[v]])
d$sex <- relevel(d$sex, "female"); d$ecog <- relevel(d$ecog, "0"); d$histology_group <- relevel(d$histology_group, "DTC")
d$resectability <- relevel(d$resectability, "resectable")
f_adj <- as.formula(paste("Surv(rec_time, rec_event) ~ neoadjuvant +", args[3], "+ strata(center)"))
best <- function(expr) { t <- Inf; for (i in seq_len(reps)) t <- min(t, system.time(eval.parent(substitute(expr)))[["elapsed"]]); t }
out <- list()
out$cox_adjusted <- best(fit1 <- coxph(f_adj, data = d, ties = "efron"))
out$cox_adjusted_coef <- unname(coef(fit1)["neoadjuvant"])
out$cox_iptw <- best(fit2 <- coxph(Surv(rec_time, rec_event) ~ neoadjuvant + strata(center), data = d, weights = w_ate, robust = TRUE))
out$cox_iptw_coef <- unname(coef(fit2)); out$cox_iptw_robust_se <- unname(sqrt(diag(fit2$var)))
out$km <- best(km1 <- survfit(Surv(rec_time, rec_event) ~ cohort, data = d))
out$km_median <- unname(summary(km1)$table[, "median"])
out$km_weighted <- best(km2 <- survfit(Surv(rec_time, rec_event) ~ cohort, data = d, weights = w_ate, robust = TRUE))
out$km_weighted_s24 <- summary(km2, times = 24)$surv; out$km_weighted_se24 <- summary(km2, times = 24)$std.err
f_ps <- as.formula(paste("neoadjuvant ~", args[3]))
out$matching <- best(m <- matchit(f_ps, data = d, method = "nearest", distance = d$ps, caliper = 0.2, std.caliper = TRUE, exact = ~center))
out$matched_pairs <- unname(sum(m$treat == 1 & m$weights > 0))
out$matchit_version <- as.character(packageVersion("MatchIt")); out$survival_version <- as.character(packageVersion("survival"))
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _frame(n: int) -> pd.DataFrame:
    from latc.analysis._comparative import comparison
    from latc.analysis._context import Context
    from latc.analysis._data import load_derived
    from latc.derive.datasets import derive_datasets
    from latc.synth import synthesize

    s = synthesize(n_patients=n, n_centers=max(8, n // 2000), seed=1)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)
    cmp = comparison(Context(load_derived(ds)))
    return cmp["frame"], cmp["covariates"]


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare(patients: int, repeats: int) -> dict:
    """Time the five calls in Python and in one Rscript run on the same CSV; returns
    ``{"python": {call: s}, "r": {call: s, …}, "diffs": {call: …}, "n": rows compared}``."""
    from latc.stats import cox, kaplan_meier, match

    df, covs = _frame(patients)
    cols = ["rec_time", "rec_event", "neoadjuvant", "cohort", "center", "ps", "ps_logit", "w_ate"] + covs
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "frame.csv"
        df[cols].to_csv(csv, index=False)
        d = pd.read_csv(csv)  # Python reads the same file R reads
        for v, ref in (("sex", "female"), ("ecog", "0"), ("histology_group", "DTC"), ("resectability", "resectable")):
            lv = sorted(d[v].astype(str).unique())
            d[v] = pd.Categorical(d[v].astype(str), categories=[ref] + [x for x in lv if x != ref])
        d["center"] = d["center"].astype(str)
        py = {}
        py["cox_adjusted"], f1 = _best(lambda: cox(d, "rec_time", "rec_event", ["neoadjuvant"] + covs, strata="center"), repeats)
        py["cox_iptw"], f2 = _best(lambda: cox(d, "rec_time", "rec_event", ["neoadjuvant"], strata="center", weights="w_ate",
                                               robust=True), repeats)
        py["km"], k1 = _best(lambda: kaplan_meier(d, "rec_time", "rec_event", group="cohort"), repeats)
        py["km_weighted"], k2 = _best(lambda: kaplan_meier(d, "rec_time", "rec_event", group="cohort", weights="w_ate",
                                                           landmarks=[24]), repeats)
        py["matching"], m = _best(lambda: match(d, "neoadjuvant", ps=d["ps"], caliper=0.2, exact="center"), repeats)
        r = subprocess.run(["Rscript", "-e", R_SCRIPT, str(csv), str(repeats), " + ".join(covs)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(r.stderr[-2000:])
        rr = json.loads(r.stdout.strip().splitlines()[-1])
    diffs = {
        "cox_adjusted": abs(f1.summary.loc["neoadjuvant", "coef"] - rr["cox_adjusted_coef"]),
        "cox_iptw": max(abs(f2.summary.loc["neoadjuvant", "coef"] - rr["cox_iptw_coef"]),
                        abs(f2.summary.loc["neoadjuvant", "robust_se"] - rr["cox_iptw_robust_se"])),
        "km": float(np.nanmax(np.abs(k1.medians["median"].to_numpy(float) - pd.to_numeric(pd.Series(rr["km_median"]), errors="coerce").to_numpy(float)))),
        "km_weighted": float(np.nanmax(np.abs(np.r_[k2.landmarks["survival"].to_numpy(float) - np.asarray(rr["km_weighted_s24"]),
                                                      k2.landmarks["std_err"].to_numpy(float) - np.asarray(rr["km_weighted_se24"])]))),
        "matching": f"pairs: Python {int((m.weights[d['neoadjuvant'] == 1] > 0).sum())}, R {rr['matched_pairs']} (MatchIt {rr['matchit_version']})",
    }
    return {"python": py, "r": rr, "diffs": diffs, "n": len(d)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    c = compare(args.patients, args.repeats)
    py, rr, diffs = c["python"], c["r"], c["diffs"]
    print(f"n = {args.patients:,} patients ({c['n']:,} in the comparison), best of {args.repeats}; "
          f"R survival {rr['survival_version']}, MatchIt {rr['matchit_version']}")
    print("| call | Python (s) | R (s) | Python / R | agreement |\n|---|---|---|---|---|")
    for k in ("cox_adjusted", "cox_iptw", "km", "km_weighted", "matching"):
        ratio = py[k] / rr[k] if rr[k] > 0 else float("inf")
        agree = diffs[k] if isinstance(diffs[k], str) else f"max |diff| {diffs[k]:.1e}"
        print(f"| {k} | {py[k]:.4f} | {rr[k]:.4f} | {ratio:.2f} | {agree} |")
    tot_py, tot_r = sum(py.values()), sum(rr[k] for k in py)
    print(f"| **total** | {tot_py:.4f} | {tot_r:.4f} | {tot_py / tot_r:.2f} | |")


if __name__ == "__main__":
    main()
